/**
 * The libSQL store: a local SQLite file, or Turso over HTTP/WebSockets
 * (`libsql://...` with an auth token; no native code, runs on Deno Deploy).
 * The table is the Zoho SDKs' `oauthtoken`.
 *
 *     deno run -A examples/libsql_store.ts [file:./tokens.db | libsql://db.turso.io]
 *
 * `LIBSQL_AUTH_TOKEN` is sent to remote databases.
 *
 * @module
 */

import { LibsqlTokenStore, OAuthToken } from "../mod.ts";

const url = Deno.args[0] ??
  `file:${await Deno.makeTempDir({ prefix: "tokenstore-libsql-" })}/tokens.db`;
const store = await LibsqlTokenStore.open({
  url,
  authToken: Deno.env.get("LIBSQL_AUTH_TOKEN"),
});
try {
  const saved = await store.saveToken(
    new OAuthToken({
      userName: "ada@example.com",
      grantToken: "1000.libsql-example-grant",
      expiresAt: Date.now() + 3_600_000,
    }),
  );
  console.log(`libSQL database: ${url.split("?")[0]}, table "${store.table}"`);
  console.log("By id:", await store.findTokenById(saved.id!));
  console.log(`Tokens stored: ${(await store.getTokens()).length}`);
} finally {
  await store.close();
}
