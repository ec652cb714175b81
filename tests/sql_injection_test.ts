/**
 * Hostile input to the MySQL and PostgreSQL stores: SQL injection attempts
 * and placeholder look-alikes in every value are stored literally and never
 * touch another row; values wider than a Zoho table's columns are refused
 * (MySQL here, PostgreSQL in `postgres_interop_test.ts`).
 */

import { assertRefusesTooWide } from "./fixtures/wide_columns.ts";
import { assertEquals, assertRejects } from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { MYSQL, SQL_SERVERS } from "./fixtures/sql_server.ts";
import { createZohoMysqlTable } from "./fixtures/zoho_tables.ts";

/** Sorts as the bytes of UTF-8 do. */
function byBytes(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

for (const server of SQL_SERVERS) {
  Deno.test({
    name:
      `${server.storeName} stores injection attempts and placeholder look-alikes literally and never touches another row`,
    ignore: server.url === undefined,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () =>
      server.withStore(async (store, table) => {
        const hostile = [
          "x' OR '1'='1",
          "'; DROP TABLE oauthtoken; --",
          `'; DROP TABLE ${table}; --`,
          `'; DROP TABLE "${table}"; --`,
          "\\",
          "\\'",
          "x\\' OR 1=1 -- ",
          '" OR ""="',
          "`id`",
          "?",
          "$1",
          "a ? b $2 ?",
          "$$; DROP TABLE x; $$",
          "E'\\x41'",
        ];
        const neighbour = await store.saveToken(
          new OAuthToken({
            userName: "neighbour@example.com",
            clientId: "1000.N",
            refreshToken: "1000.neighbour",
            accessToken: "1000.neighbour-a",
          }),
        );
        const saved = [];
        for (const value of hostile) {
          saved.push(
            await store.saveToken(
              new OAuthToken({
                userName: value,
                clientId: value,
                refreshToken: value,
                accessToken: `a${value}`,
                grantToken: `g${value}`,
                apiDomain: value,
              }),
            ),
          );
        }
        assertEquals((await store.getTokens()).length, hostile.length + 1);
        for (const [i, value] of hostile.entries()) {
          for (
            const query of [
              { userName: value },
              { userName: value, clientId: value },
              { refreshToken: value },
              { accessToken: `a${value}` },
              { grantToken: `g${value}`, clientId: value },
            ]
          ) {
            assertEquals(
              (await store.findToken(query))?.toRecord(),
              saved[i].toRecord(),
              JSON.stringify(query),
            );
          }
          // updating by a hostile user name replaces that row only
          await store.saveToken(
            new OAuthToken({ userName: value, refreshToken: `${value}!` }),
          );
        }
        assertEquals(await store.findToken({ userName: "x' OR '1'='2" }), null);
        assertEquals(
          await store.findToken({ refreshToken: "x' OR 1=1" }),
          null,
        );
        if (server.kind === "postgres") {
          // lookups are exact: another case is another user
          assertEquals(
            await store.findToken({ userName: "NEIGHBOUR@example.com" }),
            null,
          );
        }
        const error = await assertRejects(
          () => store.deleteToken("1' OR '1'='1"),
          TokenStoreError,
        );
        assertEquals(error.code, "INVALID_QUERY");
        assertEquals(
          (await store.findTokenById(neighbour.id!))?.toRecord(),
          neighbour.toRecord(),
        );
        const rows = await server.query(
          `SELECT user_name, refresh_token, client_id FROM ${
            server.quote(table)
          } WHERE id <> ${server.param(1)}`,
          [neighbour.id],
        );
        assertEquals(
          rows.sort((a, b) =>
            byBytes(String(a.user_name), String(b.user_name))
          ),
          [...hostile].sort(byBytes).map((value) => ({
            user_name: value,
            refresh_token: `${value}!`,
            client_id: null,
          })),
        );
      }),
  });
}

MYSQL.test("MysqlTokenStore rejects a value wider than its Zoho column and stores nothing", () =>
  MYSQL.withTable(async (table) => {
    await createZohoMysqlTable(table);
    const store = await MYSQL.open({ table });
    try {
      const kept = await store.saveToken(
        new OAuthToken({ userName: "w@example.com", refreshToken: "1000.r" }),
      );
      await assertRefusesTooWide(store, kept, [
        [
          kept.with({ apiDomain: `https://${"a".repeat(250)}` }),
          "apiDomain",
        ],
      ]);
      assertEquals(
        (await store.getTokens()).map((t) => t.toRecord()),
        [kept.toRecord()],
      );
      const fits = "1000." + "y".repeat(250);
      const saved = await store.saveToken(
        new OAuthToken({ userName: "fit", refreshToken: fits }),
      );
      assertEquals(
        (await store.findTokenById(saved.id!))?.refreshToken,
        fits,
      );
    } finally {
      await store.close();
    }
  }));
