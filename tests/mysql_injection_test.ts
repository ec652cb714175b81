/**
 * Hostile input to the MySQL store: SQL injection attempts in every value
 * and values wider than the Zoho columns.
 */

import { createZohoMysqlTable } from "./fixtures/zoho_tables.ts";
import {
  assertEquals,
  assertFalse,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { MysqlTokenStore } from "../stores/mysql.ts";
import {
  MYSQL_URL,
  notice,
  select,
  withAdmin,
  withTable,
} from "./fixtures/mysql_helpers.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

if (MYSQL_URL === undefined) {
  notice("tests/mysql_injection_test.ts");
} else {
  const url = MYSQL_URL;

  test("MysqlTokenStore rejects a value wider than its Zoho column and stores nothing", () =>
    withTable(async (table) => {
      await createZohoMysqlTable(table);
      const store = await MysqlTokenStore.open({ url, table });
      try {
        const kept = await store.saveToken(
          new OAuthToken({ userName: "w@example.com", refreshToken: "1000.r" }),
        );
        const wide = "1000." + "x".repeat(251);
        for (
          const [token, field] of [
            [
              new OAuthToken({ userName: "n", accessToken: wide }),
              "accessToken",
            ],
            [kept.with({ refreshToken: wide }), "refreshToken"],
            [kept.with({ clientId: "c".repeat(256) }), "clientId"],
            [
              kept.with({ apiDomain: `https://${"a".repeat(250)}` }),
              "apiDomain",
            ],
          ] as const
        ) {
          const error = await assertRejects(
            () => store.saveToken(token),
            TokenStoreError,
          );
          assertEquals(error.code, "INVALID_TOKEN");
          assertStringIncludes(error.message, `"${field}"`);
          assertFalse(error.message.includes(wide));
        }
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

  test("MysqlTokenStore stores injection attempts literally and never touches another row", () =>
    withTable(async (table) => {
      const store = await MysqlTokenStore.open({ url, table });
      try {
        const hostile = [
          "x' OR '1'='1",
          "'; DROP TABLE oauthtoken; --",
          `'; DROP TABLE ${table}; --`,
          "\\",
          "\\'",
          "x\\' OR 1=1 -- ",
          '" OR ""="',
          "`id`",
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
        const error = await assertRejects(
          () => store.deleteToken("1' OR '1'='1"),
          TokenStoreError,
        );
        assertEquals(error.code, "INVALID_QUERY");
        assertEquals(
          (await store.findTokenById(neighbour.id!))?.toRecord(),
          neighbour.toRecord(),
        );
        const rows = await withAdmin((admin) =>
          select(
            admin,
            `SELECT user_name, refresh_token, client_id FROM \`${table}\` ` +
              `WHERE id <> ? ORDER BY user_name`,
            [neighbour.id],
          )
        );
        assertEquals(
          rows,
          [...hostile].sort(byBytes).map((value) => ({
            user_name: value,
            refresh_token: `${value}!`,
            client_id: null,
          })),
        );
      } finally {
        await store.close();
      }
    }));
}

function byBytes(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}
