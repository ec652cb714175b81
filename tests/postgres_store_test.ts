import { assert, assertEquals } from "@std/assert";
import { OAuthToken } from "../core/token.ts";
import { openStore } from "../stores/open_store.ts";
import { PostgresTokenStore } from "../stores/postgres.ts";
import { testTokenStore } from "./conformance.ts";
import type postgres from "postgres";
import { POSTGRES, postgresAdmin } from "./fixtures/sql_server.ts";

/** Zoho's columns as the store creates them. */
const CREATED_COLUMNS = [
  ["id", "character varying(10)", false],
  ["user_name", "character varying(4096)", true],
  ["client_id", "character varying(4096)", true],
  ["client_secret", "character varying(4096)", true],
  ["refresh_token", "character varying(4096)", true],
  ["access_token", "character varying(4096)", true],
  ["grant_token", "character varying(4096)", true],
  ["expiry_time", "character varying(24)", true],
  ["redirect_url", "character varying(4096)", true],
  ["api_domain", "character varying(4096)", true],
];

const columnsOf = (sql: postgres.Sql, table: string) =>
  POSTGRES.select(
    sql,
    "SELECT attname AS n, format_type(atttypid, atttypmod) AS t, NOT attnotnull AS nul " +
      "FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 " +
      "AND NOT attisdropped ORDER BY attnum",
    [`"${table}"`],
  );

const indexesOf = (sql: postgres.Sql, table: string) =>
  POSTGRES.select(
    sql,
    "SELECT indexname AS i, indexdef AS d FROM pg_indexes WHERE tablename = $1 ORDER BY i",
    [table],
  );

if (POSTGRES.url === undefined) {
  POSTGRES.notice("tests/postgres_store_test.ts");
} else {
  const url = POSTGRES.url;

  testTokenStore("PostgresTokenStore", async () => {
    const table = POSTGRES.freshTable("conf");
    const store = await PostgresTokenStore.open({ url, table });
    const close = store.close.bind(store);
    return Object.assign(store, {
      async close(): Promise<void> {
        await close();
        await POSTGRES.dropTables(table, `${table}_lock`, `${table}_status`);
      },
    });
  });

  POSTGRES.test("PostgresTokenStore creates Zoho's table with 4,096-character columns, hash indexes on the lookup columns, the lease table and the status table, lazily and once", () =>
    POSTGRES.withTable(async (table) => {
      const sql = postgresAdmin(POSTGRES.url!);
      try {
        const store = new PostgresTokenStore({ sql, table });
        assertEquals(store.lockTable, `${table}_lock`);
        assertEquals(await columnsOf(sql, table), []); // nothing before first use
        assertEquals(await store.getTokens(), []);
        assertEquals(
          (await columnsOf(sql, table)).map((r) => [r.n, r.t, r.nul]),
          CREATED_COLUMNS,
        );
        assertEquals(
          (await indexesOf(sql, table)).map((r) => [
            r.i,
            /USING (\w+) \((\w+)\)/.exec(String(r.d))!.slice(1).join(" "),
          ]),
          [
            [`${table}_access_token_idx`, "hash access_token"],
            [`${table}_grant_token_idx`, "hash grant_token"],
            [`${table}_pkey`, "btree id"],
            [`${table}_refresh_token_idx`, "hash refresh_token"],
            [`${table}_user_name_idx`, "hash user_name"],
          ],
        );
        assertEquals(
          (await columnsOf(sql, `${table}_lock`)).map((r) => [r.n, r.t]),
          [
            ["lock_key", "character varying(255)"],
            ["owner", "character varying(64)"],
            ["expires_at", "bigint"],
          ],
        );
        assertEquals(
          (await columnsOf(sql, `${table}_status`)).map((
            r,
          ) => [r.n, r.t, r.nul]),
          [
            ["id", "character varying(10)", false],
            ["state", "character varying(16)", false],
            ["last_refresh_at", "bigint", true],
            ["last_failure_at", "bigint", true],
            ["last_error", "text", true],
            ["failures", "integer", false],
            ["refresh_token_expires_at", "bigint", true],
          ],
        );
        // incompressible 4,096-character tokens: beyond a B-tree entry (2,704 bytes)
        const random = (n: number) =>
          Array.from(
            crypto.getRandomValues(new Uint8Array(n)),
            (b) =>
              "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-."[
                b % 64
              ],
          ).join("");
        const long = new OAuthToken({
          userName: random(4096),
          refreshToken: random(4096),
          accessToken: random(4096),
          grantToken: random(4096),
        });
        const stored = await store.saveToken(long);
        assertEquals(
          (await store.findToken({ accessToken: long.accessToken }))
            ?.toRecord(),
          stored.toRecord(),
        );
        // a second store on the same table adds nothing
        await new PostgresTokenStore({ sql, table }).getTokens();
        assertEquals((await indexesOf(sql, table)).length, 5);
        // a store that lost an index gets it back
        await sql.unsafe(`DROP INDEX "${table}_grant_token_idx"`);
        await new PostgresTokenStore({ sql, table }).getTokens();
        assertEquals((await indexesOf(sql, table)).length, 5);
        // close() leaves an injected client open
        await store.close();
        assertEquals(await POSTGRES.select(sql, "SELECT 1 AS one"), [{
          one: 1,
        }]);
      } finally {
        await sql.end();
      }
    }));

  POSTGRES.test("PostgresTokenStore: 8 stores opening one new table at once create it once and agree on it", () =>
    POSTGRES.withTable(async (table) => {
      const stores = await Promise.all(
        Array.from(
          { length: 8 },
          () => PostgresTokenStore.open({ url, table, connectionLimit: 2 }),
        ),
      );
      try {
        const saved = await Promise.all(
          stores.map((store, i) =>
            store.saveToken(
              new OAuthToken({
                userName: "race@example.com",
                refreshToken: `1000.r${i}`,
              }),
            )
          ),
        );
        assertEquals(new Set(saved.map((t) => t.id)).size, 1);
        assertEquals((await stores[0].getTokens()).length, 1);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    }));

  POSTGRES.test("PostgresTokenStore with prepare: false (behind a transaction pooler) keeps one row per user under concurrent saves from 4 stores", () =>
    POSTGRES.withTable(async (table) => {
      const stores = await Promise.all(
        Array.from(
          { length: 4 },
          () =>
            PostgresTokenStore.open({
              url,
              table,
              prepare: false,
              connectionLimit: 2,
            }),
        ),
      );
      try {
        for (let round = 0; round < 3; round++) {
          await Promise.all(
            stores.flatMap((store, i) =>
              ["a", "b"].map((user) =>
                store.saveToken(
                  new OAuthToken({
                    userName: `${user}@example.com`,
                    clientId: "1000.P",
                    refreshToken: `1000.r${round}-${i}`,
                  }),
                )
              )
            ),
          );
        }
        const tokens = await stores[0].getTokens();
        assertEquals(tokens.map((t) => t.userName).sort(), [
          "a@example.com",
          "b@example.com",
        ]);
        assertEquals(
          (await stores[3].findToken({ userName: "a@example.com" }))?.id,
          tokens.find((t) => t.userName === "a@example.com")?.id,
        );
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    }));

  POSTGRES.test("PostgresTokenStore stores expiry_time as text of epoch milliseconds and absent fields as NULL", () =>
    POSTGRES.withStore(async (store, table) => {
      const saved = await store.saveToken(
        new OAuthToken({
          userName: "exp@example.com",
          refreshToken: "1000.r",
          expiresAt: 1_800_000_000_123.5,
        }),
      );
      const rows = await POSTGRES.withAdmin((sql) =>
        POSTGRES.select(sql, `SELECT * FROM "${table}"`)
      );
      assertEquals(rows, [{
        id: saved.id,
        user_name: "exp@example.com",
        client_id: null,
        client_secret: null,
        refresh_token: "1000.r",
        access_token: null,
        grant_token: null,
        expiry_time: "1800000000123.5",
        redirect_url: null,
        api_domain: null,
      }]);
    }));

  POSTGRES.test("PostgresTokenStore uses the schema the URL's search_path names", async () => {
    const schema = POSTGRES.freshTable("ts_schema");
    const table = POSTGRES.freshTable("sp");
    await POSTGRES.withAdmin((sql) => sql.unsafe(`CREATE SCHEMA "${schema}"`));
    try {
      const store = await PostgresTokenStore.open({
        url: `${url}?search_path=${schema}&table=${table}`,
      });
      try {
        await store.saveToken(
          new OAuthToken({
            userName: "sp@example.com",
            refreshToken: "1000.sp",
          }),
        );
      } finally {
        await store.close();
      }
      await POSTGRES.withAdmin(async (sql) => {
        const tables = await POSTGRES.select(
          sql,
          "SELECT table_schema AS s, table_name AS t FROM information_schema.tables " +
            "WHERE table_name LIKE $1 ORDER BY t",
          [`${table}%`],
        );
        assertEquals(tables, [
          { s: schema, t: table },
          { s: schema, t: `${table}_lock` },
          { s: schema, t: `${table}_status` },
        ]);
        assertEquals(
          (await POSTGRES.select(
            sql,
            `SELECT user_name FROM "${schema}"."${table}"`,
          ))
            .map((row) => row.user_name),
          ["sp@example.com"],
        );
      });
    } finally {
      await POSTGRES.withAdmin((sql) =>
        sql.unsafe(`DROP SCHEMA "${schema}" CASCADE`)
      );
    }
  });

  POSTGRES.test("openStore(postgres://…?table=) opens a PostgresTokenStore on that table; postgresql:// too", () =>
    POSTGRES.withTable(async (table) => {
      for (const scheme of ["postgres", "postgresql"]) {
        const store = await openStore(
          `${url.replace(/^postgres(ql)?:/, `${scheme}:`)}?table=${table}`,
        );
        try {
          assert(store instanceof PostgresTokenStore);
          assertEquals(store.table, table);
          await store.saveToken(
            new OAuthToken({
              userName: `${scheme}@example.com`,
              refreshToken: "1000.o",
            }),
          );
        } finally {
          await store.close?.();
        }
      }
      const rows = await POSTGRES.withAdmin((sql) =>
        POSTGRES.select(
          sql,
          `SELECT user_name FROM "${table}" ORDER BY user_name`,
        )
      );
      assertEquals(rows.map((r) => r.user_name), [
        "postgres@example.com",
        "postgresql@example.com",
      ]);
    }));
}
