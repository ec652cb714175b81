/**
 * The memory store: tokens live in this process only. Good for tests and
 * one-off scripts.
 *
 *     deno run examples/memory_store.ts
 *
 * @module
 */

import { MemoryTokenStore, OAuthToken } from "../mod.ts";

const store = new MemoryTokenStore();
const saved = await store.saveToken(
  new OAuthToken({
    userName: "ada@example.com",
    refreshToken: "1000.memory-example-refresh",
  }),
);
const again = await store.saveToken(
  saved.with({ accessToken: "1000.memory-example-access" }),
);
console.log(`Updated in place: ${again.id === saved.id}`);
console.log(
  "By refresh token:",
  await store.findToken({ refreshToken: "1000.memory-example-refresh" }),
);
console.log(`Deleted: ${await store.deleteToken(saved.id!)}`);
