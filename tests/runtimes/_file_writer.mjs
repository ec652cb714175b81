/**
 * Child of the file store's cross-process check: saves `<count>` users
 * `<name>-<i>@example.com`, one at a time, into the file store at `<path>`.
 *
 * Usage: `node _file_writer.mjs <path> <name> <count>` (from the build folder).
 *
 * @module
 */

import process from "node:process";
import { FileTokenStore } from "@tokenstore/tokenstore/file";
import { OAuthToken } from "@tokenstore/tokenstore/core";
import { REFRESH_TOKEN } from "./_constants.mjs";

const [path, name, count] = process.argv.slice(2);
const store = new FileTokenStore({ path, lockTimeoutMs: 30_000 });
for (let i = 0; i < Number(count); i++) {
  await store.saveToken(
    new OAuthToken({
      userName: `${name}-${i}@example.com`,
      refreshToken: `${REFRESH_TOKEN}-${name}-${i}`,
    }),
  );
}
await store.close();
