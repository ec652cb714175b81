import {
  assert,
  assertEquals,
  assertFalse,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import mysql from "mysql2/promise";
import { TokenStoreError } from "../core/errors.ts";
import { MAX_EXPIRES_AT, OAuthToken } from "../core/token.ts";
import { MysqlTokenStore } from "../stores/mysql.ts";
import { testTokenStore } from "./conformance.ts";
import {
  assertWideColumns,
  wide,
  ZOHO_COLUMNS,
} from "./fixtures/wide_columns.ts";
import { MYSQL } from "./fixtures/sql_server.ts";

/** Zoho's columns as the store creates them: `text` holds 4,096 characters of any kind. */
const CREATED_COLUMNS = [
  ["id", "varchar(10)", "NO", "PRI"],
  ["user_name", "text", "YES", "MUL"],
  ["client_id", "text", "YES", ""],
  ["client_secret", "text", "YES", ""],
  ["refresh_token", "text", "YES", "MUL"],
  ["access_token", "text", "YES", "MUL"],
  ["grant_token", "text", "YES", "MUL"],
  ["expiry_time", "varchar(24)", "YES", ""],
  ["redirect_url", "text", "YES", ""],
  ["api_domain", "text", "YES", ""],
];

if (MYSQL.url === undefined) {
  MYSQL.notice("tests/mysql_store_test.ts");
} else {
  const url = MYSQL.url;
  const parts = MYSQL.urlParts(url);

  testTokenStore("MysqlTokenStore", async () => {
    const table = MYSQL.freshTable("conf");
    const store = await MysqlTokenStore.open({ url, table });
    const close = store.close.bind(store);
    return Object.assign(store, {
      async close(): Promise<void> {
        await close();
        await MYSQL.dropTables(table, `${table}_lock`, `${table}_status`);
      },
    });
  });

  MYSQL.test("MysqlTokenStore creates Zoho's table with text columns, the lookup indexes, the lease table and the status table, lazily and once", () =>
    MYSQL.withTable(async (table) => {
      const pool = mysql.createPool(url);
      try {
        const store = new MysqlTokenStore({ pool, table });
        assertEquals(store.lockTable, `${table}_lock`);
        await MYSQL.withAdmin(async (admin) => {
          const tables = () =>
            MYSQL.select(
              admin,
              "SELECT TABLE_NAME AS t FROM information_schema.TABLES " +
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ? ORDER BY t",
              [`${table}%`],
            );
          assertEquals(await tables(), []); // nothing before the first use
          assertEquals(await store.getTokens(), []);
          assertEquals((await tables()).map((r) => r.t), [
            table,
            `${table}_lock`,
            `${table}_status`,
          ]);
          const columns = await MYSQL.select(
            admin,
            "SELECT COLUMN_NAME AS n, COLUMN_TYPE AS t, IS_NULLABLE AS nul, " +
              "COLUMN_KEY AS k FROM information_schema.COLUMNS WHERE " +
              "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            [table],
          );
          assertEquals(
            columns.map((r) => [r.n, r.t, r.nul, r.k]),
            CREATED_COLUMNS,
          );
          const indexes = () =>
            MYSQL.select(
              admin,
              "SELECT INDEX_NAME AS i, COLUMN_NAME AS c, SUB_PART AS p FROM information_schema.STATISTICS " +
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY c",
              [table],
            );
          // text columns are indexed by a prefix
          assertEquals(
            (await indexes()).map((
              r,
            ) => [r.c, r.i, r.p === null ? null : Number(r.p)]),
            [
              ["access_token", "idx_access_token", 255],
              ["grant_token", "idx_grant_token", 255],
              ["id", "PRIMARY", null],
              ["refresh_token", "idx_refresh_token", 255],
              ["user_name", "idx_user_name", 255],
            ],
          );
          const lock = await MYSQL.select(
            admin,
            "SELECT COLUMN_NAME AS n, COLUMN_TYPE AS t, COLUMN_KEY AS k " +
              "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() " +
              "AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            [`${table}_lock`],
          );
          assertEquals(lock.map((r) => [r.n, String(r.t), r.k]), [
            ["lock_key", "varchar(255)", "PRI"],
            ["owner", "varchar(64)", ""],
            ["expires_at", "bigint(20)", ""],
          ]);
          const status = await MYSQL.select(
            admin,
            "SELECT COLUMN_NAME AS n, COLUMN_TYPE AS t, IS_NULLABLE AS nul, " +
              "COLUMN_KEY AS k, COLLATION_NAME AS c FROM information_schema.COLUMNS " +
              "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            [`${table}_status`],
          );
          // ids compare exactly (utf8mb4_bin), as in the tables the store creates
          assertEquals(
            status.map((r) => [r.n, String(r.t), r.nul, r.k, r.c]),
            [
              ["id", "varchar(10)", "NO", "PRI", "utf8mb4_bin"],
              ["state", "varchar(16)", "NO", "", "utf8mb4_bin"],
              ["last_refresh_at", "bigint(20)", "YES", "", null],
              ["last_failure_at", "bigint(20)", "YES", "", null],
              ["last_error", "text", "YES", "", "utf8mb4_bin"],
              ["failures", "int(11)", "NO", "", null],
              ["refresh_token_expires_at", "bigint(20)", "YES", "", null],
            ],
          );
          // a second store on the same table adds nothing
          const again = new MysqlTokenStore({ pool, table });
          await again.getTokens();
          assertEquals((await indexes()).length, 5);
          // a store that lost its indexes gets them back
          await admin.query(`DROP INDEX idx_grant_token ON \`${table}\``);
          await new MysqlTokenStore({ pool, table }).getTokens();
          assertEquals((await indexes()).length, 5);
        });
        // close() leaves an injected pool open
        await store.close();
        const [rows] = await pool.query("SELECT 1 AS one");
        assertEquals(rows as unknown, [{ one: 1 }]);
      } finally {
        await pool.end();
      }
    }));

  MYSQL.test("MysqlTokenStore stores expiry_time as text of epoch milliseconds and absent fields as NULL", () =>
    MYSQL.withStore(async (store, table) => {
      const saved = await store.saveToken(
        new OAuthToken({
          userName: "exp@example.com",
          refreshToken: "1000.r",
          expiresAt: 1_800_000_000_123,
        }),
      );
      const rows = await MYSQL.withAdmin((admin) =>
        MYSQL.select(
          admin,
          `SELECT id, expiry_time, access_token, ` +
            `expiry_time = '1800000000123' AS is_text FROM \`${table}\``,
        )
      );
      assertEquals(rows, [{
        id: saved.id!,
        expiry_time: "1800000000123",
        access_token: null,
        is_text: 1,
      }]);
    }));

  MYSQL.test("MysqlTokenStore holds 4096 characters of any kind in every column of a table it creates", () =>
    MYSQL.withStore((store, table) =>
      // three bytes each in utf8mb4: 12,288 bytes per column, 98,304 per row
      assertWideColumns(
        store,
        {
          select: (userName, clientId) =>
            MYSQL.withAdmin(async (admin) => {
              const [rows] = await admin.execute(
                `select * from \`${table}\` where user_name=? and client_id=?`,
                [userName, clientId],
              );
              return rows as Record<string, unknown>[];
            }),
          insert: async (values) => {
            await MYSQL.withAdmin((admin) =>
              admin.execute(
                `insert into \`${table}\`(${ZOHO_COLUMNS}) values(?,?,?,?,?,?,?,?,?,?)`,
                values,
              )
            );
          },
        },
        async (saved) => {
          // values that share the indexed 255-character prefix stay apart
          const twin = await store.saveToken(
            new OAuthToken({
              userName: `${wide("u").slice(0, -1)}b`,
              accessToken: `${wide("a").slice(0, -1)}b`,
              expiresAt: MAX_EXPIRES_AT,
            }),
          );
          assertNotEquals(twin.id, saved.id);
          assertEquals(
            (await store.findToken({ accessToken: wide("a") }))?.id,
            saved.id,
          );
          assertEquals(
            (await store.findTokenById(twin.id!))?.expiresAt,
            MAX_EXPIRES_AT,
          );
        },
      )
    ));

  MYSQL.test("MysqlTokenStore uses a custom table and lease table", () =>
    MYSQL.withTable(async (table) => {
      const leases = MYSQL.freshTable("leases");
      const store = await MysqlTokenStore.open({
        url,
        table,
        lockTable: leases,
      });
      try {
        assertEquals([store.table, store.lockTable], [table, leases]);
        const saved = await store.saveToken(
          new OAuthToken({ userName: "t@example.com", refreshToken: "1000.r" }),
        );
        const lease = await store.lock.acquire("refresh:x", { ttlMs: 10_000 });
        assert(lease);
        await MYSQL.withAdmin(async (admin) => {
          assertEquals(
            await MYSQL.select(admin, `SELECT id FROM \`${table}\``),
            [{ id: saved.id! }],
          );
          assertEquals(
            await MYSQL.select(admin, `SELECT lock_key FROM \`${leases}\``),
            [{ lock_key: "refresh:x" }],
          );
          await lease.release();
          assertEquals(
            await MYSQL.select(admin, `SELECT * FROM \`${leases}\``),
            [],
          );
          assertEquals(
            await MYSQL.select(
              admin,
              "SELECT TABLE_NAME FROM information_schema.TABLES WHERE " +
                "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
              [`${table}_lock`],
            ),
            [],
          );
        });
      } finally {
        await store.close();
        await MYSQL.dropTables(leases);
      }
    }));

  MYSQL.test("MysqlTokenStore rejects table names that are not identifiers", async () => {
    const pool = mysql.createPool(url);
    try {
      for (
        const table of [
          "x; DROP TABLE oauthtoken",
          "oauthtoken--",
          "1abc",
          "",
          "a.b",
          "`x`",
          "t".repeat(65),
        ]
      ) {
        const error = assertThrows(
          () => new MysqlTokenStore({ pool, table }),
          TypeError,
        );
        assertStringIncludes(error.message, "Invalid table name");
        await assertRejects(
          () => MysqlTokenStore.open({ url, table }),
          TypeError,
        );
      }
      assertThrows(
        () => new MysqlTokenStore({ pool, lockTable: "x; drop" }),
        TypeError,
      );
      for (const bad of [null, undefined, {}, "mysql://root@127.0.0.1/test"]) {
        const error = assertThrows(
          () => new MysqlTokenStore({ pool: bad as never }),
          TypeError,
        );
        assertStringIncludes(error.message, '"pool"');
      }
      await assertRejects(
        () => MysqlTokenStore.open({ url, lockTable: "x y" }),
        TypeError,
      );
    } finally {
      await pool.end();
    }
  });

  MYSQL.test("MysqlTokenStore reports an unreachable server as BACKEND without the password", async () => {
    const password = "s3cret-pw";
    const attempts: (() => Promise<MysqlTokenStore>)[] = [
      () =>
        MysqlTokenStore.open({
          url: `mysql://root:${password}@127.0.0.1:1/test`,
        }),
      () =>
        MysqlTokenStore.open({
          host: "127.0.0.1",
          port: 1,
          user: "root",
          password,
          database: "test",
        }),
    ];
    for (const attempt of attempts) {
      MYSQL.assertConnectionRefused(
        await assertRejects(attempt, TokenStoreError),
        password,
      );
    }
    // a wrong password is refused by the server: BACKEND, password not echoed
    const error = await assertRejects(
      () =>
        MysqlTokenStore.open({
          ...parts,
          user: "tokenstore_nobody",
          password: "wr0ng-s3cret",
        }),
      TokenStoreError,
    );
    assertEquals(error.code, "BACKEND");
    assertFalse(Deno.inspect(error, { depth: 10 }).includes("wr0ng-s3cret"));
  });

  MYSQL.test("MysqlTokenStore.open accepts a URL or separate fields, fields winning", async () => {
    const table = MYSQL.freshTable("open");
    try {
      const byUrl = await MysqlTokenStore.open({ url, table });
      const saved = await byUrl.saveToken(
        new OAuthToken({ userName: "o@example.com", refreshToken: "1000.r" }),
      );
      await byUrl.close();
      await assertRejects(() => byUrl.getTokens(), TokenStoreError);
      const byFields = await MysqlTokenStore.open({ ...parts, table });
      try {
        assertEquals(
          (await byFields.findToken({ userName: "o@example.com" }))?.id,
          saved.id,
        );
      } finally {
        await byFields.close();
      }
      // ?table= in the URL; a field given overrides the URL's port
      const sep = url.includes("?") ? "&" : "?";
      const mixed = await MysqlTokenStore.open({
        url:
          `mysql://${parts.user}@127.0.0.1:1/${parts.database}${sep}table=${table}`,
        port: parts.port,
        host: parts.host,
        password: parts.password || undefined,
        connectionLimit: 2,
      });
      try {
        assertEquals(mixed.table, table);
        assertEquals((await mixed.getTokens()).length, 1);
      } finally {
        await mixed.close();
      }
      for (
        const bad of [
          { url: "postgres://u:s3cret@h/db" },
          { url: "file:tokens.json" },
          { port: 0 },
          { connectionLimit: 1.5 },
        ]
      ) {
        const error = await assertRejects(
          () => MysqlTokenStore.open(bad),
          TypeError,
        );
        assertFalse(error.message.includes("s3cret"));
      }
    } finally {
      await MYSQL.dropTables(table, `${table}_lock`, `${table}_status`);
    }
  });
}
