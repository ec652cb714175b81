/**
 * The PostgreSQL store's refusals and failures: bad clients, table names,
 * URLs and options (TypeErrors), an unreachable server or refused login
 * (BACKEND), never showing the password; and no driver loaded on import.
 */

import {
  assertEquals,
  assertFalse,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { openStore } from "../stores/open_store.ts";
import { PostgresTokenStore } from "../stores/postgres.ts";
import { POSTGRES, postgresAdmin } from "./fixtures/sql_server.ts";

if (POSTGRES.url === undefined) {
  POSTGRES.notice("tests/postgres_errors_test.ts");
} else {
  const url = POSTGRES.url;
  const parts = POSTGRES.urlParts(url);

  POSTGRES.test("PostgresTokenStore refuses bad clients, table names, URLs and options with a TypeError that shows no password", async () => {
    const sql = postgresAdmin(POSTGRES.url!);
    try {
      for (const bad of ["x; drop", "1abc", "a".repeat(64), "a-b", ""]) {
        assertThrows(
          () => new PostgresTokenStore({ sql, table: bad }),
          TypeError,
        );
      }
      // PostgreSQL keeps 63 characters: a longer lease table name is refused
      assertThrows(
        () => new PostgresTokenStore({ sql, table: "a".repeat(59) }),
        TypeError,
        "at most 63 characters",
      );
      for (const bad of [null, undefined, {}, url]) {
        const error = assertThrows(
          () => new PostgresTokenStore({ sql: bad as never }),
          TypeError,
        );
        assertStringIncludes(error.message, '"sql"');
      }
    } finally {
      await sql.end();
    }
    const password = "pg-open-s3cret-pw";
    for (
      const bad of [
        `postgres://root:${password}@/test`,
        `postgres://root:${password}@127.0.0.1:5432/a/b`,
        `postgres://root:${password}@127.0.0.1:5432/test?sslmode=sometimes`,
        `postgres://root:${password}@127.0.0.1:5432/test?channel_binding=require`,
        `postgres://root:${password}@127.0.0.1:99999/test`,
        `mysql://root:${password}@127.0.0.1/test`,
      ]
    ) {
      const error = await assertRejects(
        () => PostgresTokenStore.open({ url: bad }),
        TypeError,
      );
      assertFalse(Deno.inspect(error).includes(password), error.message);
    }
    await assertRejects(
      () => PostgresTokenStore.open({ url, connectionLimit: 0 }),
      TypeError,
    );
    await assertRejects(
      () => PostgresTokenStore.open({ url, table: "x y" }),
      TypeError,
    );
  });

  POSTGRES.test("PostgresTokenStore reports an unreachable server or a refused login as BACKEND without the password", async () => {
    const password = "pg-s3cret-pw-0123";
    for (
      const attempt of [
        () =>
          PostgresTokenStore.open({
            url: `postgres://root:${password}@127.0.0.1:1/test`,
          }),
        () =>
          PostgresTokenStore.open({
            url: `postgres://root@127.0.0.1:1/test`,
            password,
          }),
        () =>
          openStore(
            `postgres://root:${encodeURIComponent(password)}@127.0.0.1:1/test`,
          ),
      ]
    ) {
      POSTGRES.assertConnectionRefused(
        await assertRejects(attempt, TokenStoreError),
        password,
      );
    }
    // a database that does not exist: the server refuses, no password shown
    const error = await assertRejects(
      () =>
        PostgresTokenStore.open({
          url:
            `postgres://${parts.user}:${password}@${parts.host}:${parts.port}/tokenstore_nodb`,
        }),
      TokenStoreError,
    );
    assertEquals(error.code, "BACKEND");
    assertStringIncludes(error.message, "tokenstore_nodb");
    assertFalse(Deno.inspect(error, { depth: 10 }).includes(password));
  });
}
