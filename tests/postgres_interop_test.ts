/**
 * The PostgreSQL store on tables it did not create (a Zoho-style table with
 * `varchar(255)` columns, the Python SDK's `redirect_uri`, an integer
 * `expiry_time`) and values wider than those columns. (Hostile input:
 * `sql_injection_test.ts`.)
 */

import { assertRefusesTooWide } from "./fixtures/wide_columns.ts";
import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { PostgresTokenStore } from "../stores/postgres.ts";
import { zohoTableDdl } from "./fixtures/zoho_tables.ts";
import { POSTGRES } from "./fixtures/sql_server.ts";

if (POSTGRES.url === undefined) {
  POSTGRES.notice("tests/postgres_interop_test.ts");
} else {
  const url = POSTGRES.url;

  POSTGRES.test("PostgresTokenStore uses an existing Zoho table as it is: reads what plain SQL wrote, writes what plain SQL reads, refuses what varchar(255) cannot hold", () =>
    POSTGRES.withTable(async (table) => {
      await POSTGRES.withAdmin(async (sql) => {
        await sql.unsafe(
          zohoTableDdl(table).replace("redirect_url", "redirect_uri"),
        );
        await sql.unsafe(
          `INSERT INTO ${table} (id, user_name, client_id, refresh_token, expiry_time, redirect_uri) ` +
            `VALUES ('1', 'zoho@example.com', '1000.Z', '1000.zoho-r', '1800000000000', 'https://app.example.com/cb')`,
        );
      });
      const store = await PostgresTokenStore.open({ url, table });
      try {
        const found = await store.findToken({ userName: "zoho@example.com" });
        assertEquals(found?.toRecord(), {
          id: "1",
          userName: "zoho@example.com",
          clientId: "1000.Z",
          refreshToken: "1000.zoho-r",
          expiresAt: 1_800_000_000_000,
          redirectUrl: "https://app.example.com/cb",
        });
        const kept = await store.saveToken(
          found!.with({
            accessToken: "1000.zoho-a",
            expiresAt: 1_900_000_000_000,
          }),
        );
        assertEquals(kept.id, "1");
        await assertRefusesTooWide(store, kept, [
          [kept.with({ expiresAt: 0.0000012345678901234567 }), "expiresAt"],
        ]);
        const fits = "1000." + "y".repeat(250);
        await store.saveToken(
          new OAuthToken({ userName: "fit", refreshToken: fits }),
        );
        const rows = await POSTGRES.withAdmin((sql) =>
          POSTGRES.select(
            sql,
            `SELECT id, user_name, access_token, refresh_token, expiry_time, redirect_uri ` +
              `FROM ${table} ORDER BY user_name`,
          )
        );
        assertEquals(rows.map((r) => [r.user_name, r.refresh_token]), [
          ["fit", fits],
          ["zoho@example.com", "1000.zoho-r"],
        ]);
        assertEquals(rows[1], {
          id: "1",
          user_name: "zoho@example.com",
          access_token: "1000.zoho-a",
          refresh_token: "1000.zoho-r",
          expiry_time: "1900000000000",
          redirect_uri: "https://app.example.com/cb",
        });
        // the store added its indexes to the existing table, nothing else
        const indexes = await POSTGRES.withAdmin((sql) =>
          POSTGRES.select(
            sql,
            "SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = $1",
            [table],
          )
        );
        assertEquals(indexes, [{ n: 5 }]);
      } finally {
        await store.close();
      }
    }));

  POSTGRES.test("PostgresTokenStore on a table whose expiry_time is an integer column refuses a fraction before writing", () =>
    POSTGRES.withTable(async (table) => {
      await POSTGRES.withAdmin((sql) =>
        sql.unsafe(
          zohoTableDdl(table).replace(
            "expiry_time varchar(20)",
            "expiry_time bigint",
          ),
        )
      );
      const store = await PostgresTokenStore.open({ url, table });
      try {
        const saved = await store.saveToken(
          new OAuthToken({
            userName: "int@example.com",
            refreshToken: "1000.i",
            expiresAt: 1_800_000_000_000,
          }),
        );
        assertEquals(
          (await store.findTokenById(saved.id!))?.expiresAt,
          1_800_000_000_000,
        );
        const error = await assertRejects(
          () => store.saveToken(saved.with({ expiresAt: 1.5 })),
          TokenStoreError,
        );
        assertEquals(error.code, "INVALID_TOKEN");
        assertStringIncludes(error.message, '"expiresAt"');
      } finally {
        await store.close();
      }
    }));
}
