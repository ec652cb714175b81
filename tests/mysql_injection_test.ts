/**
 * Hostile input to the MySQL store: values wider than the Zoho columns.
 * (SQL injection attempts: `sql_injection_test.ts`.)
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
  test,
  withTable,
} from "./fixtures/mysql_helpers.ts";

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
}
