/**
 * The file store: a JSON file, or the Zoho SDKs' own `sdk_tokens.txt`
 * (`format: "zoho-csv"`), written atomically and shared safely between
 * processes through a lock file.
 *
 *     deno run -A examples/file_store.ts [directory]
 *
 * @module
 */

import { FileTokenStore, OAuthToken } from "../mod.ts";

const dir = Deno.args[0] ??
  await Deno.makeTempDir({ prefix: "tokenstore-file-" });
for (
  const [format, name] of [["json", "tokens.json"], [
    "zoho-csv",
    "sdk_tokens.txt",
  ]] as const
) {
  const store = new FileTokenStore({ path: `${dir}/${name}`, format });
  await store.saveToken(
    new OAuthToken({
      userName: "ada@example.com",
      clientId: "1000.FILEEXAMPLE",
      refreshToken: "1000.file-example-refresh",
      expiresAt: 1_800_000_000_000,
    }),
  );
  const found = await store.findToken({
    refreshToken: "1000.file-example-refresh",
  });
  console.log(
    `${format} file ${dir}/${name} holds token "${found?.id}" for ${found?.userName}`,
  );
  await store.close?.();
}
console.log(
  "sdk_tokens.txt, as the Zoho SDKs read it (secrets shown only as columns present):",
);
const [header, ...rows] = (await Deno.readTextFile(`${dir}/sdk_tokens.txt`))
  .trim().split("\n");
console.log(header);
for (const row of rows) {
  console.log(
    row.split(",").map((v, i) => (i >= 3 && i <= 6 && v ? "<secret>" : v)).join(
      ",",
    ),
  );
}
