/**
 * The MySQL store: the Zoho SDKs' `oauthtoken` table, used in place, with
 * parameterised statements and race-free upserts.
 *
 *     MYSQL_URL=mysql://root@127.0.0.1:3306/zohooauth deno run -A examples/mysql_store.ts
 *
 * `MYSQL_TABLE` picks the table (default `oauthtoken`).
 *
 * @module
 */

import { MysqlTokenStore, OAuthToken } from "../mod.ts";

const url = Deno.env.get("MYSQL_URL");
if (!url) {
  console.error("Set MYSQL_URL, e.g. mysql://root@127.0.0.1:3306/zohooauth");
  Deno.exit(2);
}
const store = await MysqlTokenStore.open({
  url,
  table: Deno.env.get("MYSQL_TABLE"),
});
try {
  const saved = await store.saveToken(
    new OAuthToken({
      userName: "ada@example.com",
      clientId: "1000.MYSQLEXAMPLE",
      refreshToken: "1000.mysql-example-refresh",
    }),
  );
  console.log("Saved:", saved);
  console.log(
    `Found by user: "${
      (await store.findToken({
        userName: "ada@example.com",
        clientId: "1000.MYSQLEXAMPLE",
      }))?.id
    }"`,
  );
  console.log(`Deleted: ${await store.deleteToken(saved.id!)}`);
} finally {
  await store.close();
}
