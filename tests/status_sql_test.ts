/**
 * Token statuses of the SQL stores (libSQL file, MySQL, PostgreSQL): the
 * `<table>_status` table, round trips and upserts, statuses checked on the
 * way in (`INVALID_TOKEN`, nothing written) and out (`CORRUPT`), a status
 * deleted with its token in the same transaction, the table added beside an
 * existing Zoho table, and statuses shared by two stores on one database
 * (two processes' view) and kept across a reopen.
 *
 * @module
 */

import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { join } from "@std/path";
import { createClient } from "@libsql/client";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import type { TokenStatus } from "../core/token_status.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { MysqlTokenStore } from "../stores/mysql.ts";
import { PostgresTokenStore } from "../stores/postgres.ts";
import type { SqlTableOptions, SqlTokenStore } from "../stores/_sql/store.ts";
import { MYSQL, POSTGRES } from "./fixtures/sql_server.ts";
import { zohoTableDdl } from "./fixtures/zoho_tables.ts";

type Row = Record<string, unknown>;

/** One database with a fresh token table, as a test sees it. */
interface Db {
  /** The token table. */
  readonly table: string;
  /** Opens a store on it (another "process" each time). */
  open(options?: SqlTableOptions): Promise<SqlTokenStore>;
  /** Runs plain SQL with `?` placeholders; identifiers go through `quote`. */
  exec(sql: string, params?: (string | number | null)[]): Promise<Row[]>;
  /** An identifier, quoted for this database. */
  quote(name: string): string;
  /** The column names of a table, in order (none when it does not exist). */
  columns(table: string): Promise<string[]>;
  /** Makes every delete of a row of `table` fail (a trigger). */
  refuseDeletes(table: string): Promise<void>;
  /** Drops what the test made. */
  cleanup(): Promise<void>;
}

/** A database kind the tests run on. */
interface Target {
  readonly name: string;
  readonly ignore: boolean;
  readonly sanitize: boolean;
  fresh(): Promise<Db>;
}

const LIBSQL: Target = {
  name: "LibsqlTokenStore",
  ignore: false,
  sanitize: true,
  async fresh() {
    const dir = await Deno.makeTempDir({ prefix: "status_sql_test_" });
    const url = `file:${join(dir, "tokens.db")}`;
    const raw = createClient({ url });
    const exec = async (sql: string, args: (string | number | null)[] = []) =>
      (await raw.execute({ sql, args })).rows.map((row) => ({ ...row }));
    return {
      table: "oauthtoken",
      open: (options) => LibsqlTokenStore.open({ url, ...options }),
      exec,
      quote: (name) => name,
      columns: async (table) =>
        (await exec("SELECT name FROM pragma_table_info(?) ORDER BY cid", [
          table,
        ])).map((row) => String(row.name)),
      refuseDeletes: async (table) => {
        await exec(
          `CREATE TRIGGER ${table}_refuse BEFORE DELETE ON ${table} ` +
            "BEGIN SELECT RAISE(ABORT, 'deletes refused'); END",
        );
      },
      cleanup: async () => {
        raw.close();
        await Deno.remove(dir, { recursive: true });
      },
    };
  },
};

const SERVER_TARGETS: Target[] = [MYSQL, POSTGRES].map((server) => ({
  name: server.storeName,
  ignore: server.url === undefined,
  sanitize: false,
  fresh(): Promise<Db> {
    const table = server.freshTable("st");
    const made = [table, `${table}_lock`, `${table}_status`];
    const functions: string[] = [];
    const exec = (sql: string, params: (string | number | null)[] = []) => {
      let n = 0;
      const text = server.kind === "postgres"
        ? sql.replace(/\?/g, () => `$${++n}`)
        : sql;
      return server.query(text, params);
    };
    return Promise.resolve({
      table,
      open: (options) => {
        for (const name of [options?.statusTable, options?.lockTable]) {
          if (name !== undefined) made.push(name);
        }
        return server.kind === "mysql"
          ? MysqlTokenStore.open({ url: server.url, table, ...options })
          : PostgresTokenStore.open({ url: server.url!, table, ...options });
      },
      exec,
      quote: server.quote,
      columns: async (name) =>
        (server.kind === "mysql"
          ? await exec(
            "SELECT COLUMN_NAME AS n FROM information_schema.COLUMNS WHERE " +
              "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            [name],
          )
          : await exec(
            "SELECT attname AS n FROM pg_attribute WHERE attrelid = " +
              "to_regclass(?) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [`"${name}"`],
          )).map((row) => String(row.n)),
      refuseDeletes: async (name) => {
        if (server.kind === "mysql") {
          await exec(
            `CREATE TRIGGER \`${name}_refuse\` BEFORE DELETE ON \`${name}\` ` +
              "FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'deletes refused'",
          );
          return;
        }
        const fn = `${name}_refuse`;
        functions.push(fn);
        await exec(
          `CREATE FUNCTION "${fn}"() RETURNS trigger LANGUAGE plpgsql AS ` +
            "$$ BEGIN RAISE EXCEPTION 'deletes refused'; END $$",
        );
        await exec(
          `CREATE TRIGGER "${fn}" BEFORE DELETE ON "${name}" ` +
            `FOR EACH ROW EXECUTE FUNCTION "${fn}"()`,
        );
      },
      cleanup: async () => {
        await server.dropTables(...made);
        for (const fn of functions) {
          await exec(`DROP FUNCTION IF EXISTS "${fn}"()`);
        }
      },
    });
  },
}));

const TARGETS: Target[] = [LIBSQL, ...SERVER_TARGETS];
for (const server of [MYSQL, POSTGRES]) {
  if (server.url === undefined) server.notice("tests/status_sql_test.ts");
}

/** Registers `fn` for every target, with a fresh database and a store on it. */
function statusTest(
  name: string,
  fn: (db: Db, store: SqlTokenStore) => Promise<void>,
): void {
  for (const target of TARGETS) {
    Deno.test({
      name: `${target.name} ${name}`,
      ignore: target.ignore,
      sanitizeOps: target.sanitize,
      sanitizeResources: target.sanitize,
      async fn() {
        const db = await target.fresh();
        try {
          const store = await db.open();
          try {
            await fn(db, store);
          } finally {
            await store.close();
          }
        } finally {
          await db.cleanup();
        }
      },
    });
  }
}

/** Registers `fn` for every target with a fresh database and no store. */
function dbTest(name: string, fn: (db: Db) => Promise<void>): void {
  for (const target of TARGETS) {
    Deno.test({
      name: `${target.name} ${name}`,
      ignore: target.ignore,
      sanitizeOps: target.sanitize,
      sanitizeResources: target.sanitize,
      async fn() {
        const db = await target.fresh();
        try {
          await fn(db);
        } finally {
          await db.cleanup();
        }
      },
    });
  }
}

const byId = (statuses: TokenStatus[]) =>
  [...statuses].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Every field set, the times past 2^31 and up to the latest `Date`. */
const FULL: TokenStatus = {
  id: "aFull_1-Z9",
  state: "failing",
  lastRefreshAt: 1_800_000_000_123,
  lastFailureAt: 8_640_000_000_000_000,
  lastError: "invalid_grant",
  failures: 2_147_483_647,
  refreshTokenExpiresAt: 0,
};

const statusRows = (db: Db) =>
  db.exec(`SELECT id FROM ${db.quote(`${db.table}_status`)} ORDER BY id`);

statusTest(
  "keeps statuses in <table>_status: put, get, list, delete, upsert",
  async (db, store) => {
    assertEquals(store.statusTable, `${db.table}_status`);
    assertEquals(await db.columns(`${db.table}_status`), [
      "id",
      "state",
      "last_refresh_at",
      "last_failure_at",
      "last_error",
      "failures",
      "refresh_token_expires_at",
    ]);
    assertEquals(await store.status.get("a1"), null);
    assertEquals(await store.status.list(), []);

    await store.status.put(FULL);
    assertEquals(await store.status.get(FULL.id), FULL);
    // absent fields are NULL, and read back absent (not null, not 0)
    const bare: TokenStatus = { id: "b2", state: "ok", failures: 0 };
    await store.status.put({ ...bare, extra: "dropped" } as TokenStatus);
    assertEquals(await store.status.get("b2"), bare);
    const [raw] = await db.exec(
      `SELECT last_refresh_at, last_error FROM ${
        db.quote(`${db.table}_status`)
      } WHERE id = ?`,
      ["b2"],
    );
    assertEquals([raw.last_refresh_at, raw.last_error], [null, null]);
    assertEquals(byId(await store.status.list()), [FULL, bare]);

    // put replaces the status of its id: fields left out are cleared
    const revoked: TokenStatus = {
      id: FULL.id,
      state: "revoked",
      failures: 3,
      lastFailureAt: 1_800_000_001_000,
      lastError: "invalid_grant",
    };
    await store.status.put(revoked);
    assertEquals(await store.status.get(FULL.id), revoked);
    assertEquals(byId(await store.status.list()), [revoked, bare]);
    assertEquals((await statusRows(db)).length, 2);

    // ids are exact: another case is another token
    await store.status.put({ id: "B2", state: "failing", failures: 1 });
    assertEquals((await store.status.get("b2"))?.state, "ok");
    assertEquals((await store.status.get("B2"))?.state, "failing");
    await store.status.delete("B2");
    assertEquals((await store.status.get("b2"))?.state, "ok");

    await store.status.delete(FULL.id);
    assertEquals(await store.status.get(FULL.id), null);
    await store.status.delete(FULL.id); // nothing to delete: no error
    assertEquals(await store.status.list(), [bare]);
    // statuses live beside the tokens, never in the token table
    assertEquals(await store.getTokens(), []);
    // a malformed id is refused, not looked up
    for (const bad of ["", "x; drop", "a".repeat(11)]) {
      await assertRejects(() => store.status.get(bad), TokenStoreError);
      await assertRejects(() => store.status.delete(bad), TokenStoreError);
    }
  },
);

statusTest(
  "refuses an invalid status with INVALID_TOKEN and writes nothing",
  async (db, store) => {
    const bad: unknown[] = [
      null,
      "ok",
      { id: "a1", state: "fine", failures: 0 },
      { id: "a1", state: "ok" },
      { id: "a1", state: "ok", failures: -1 },
      { id: "a1", state: "ok", failures: 1.5 },
      { id: "a1", state: "ok", failures: 0, lastRefreshAt: "yesterday" },
      { id: "a1", state: "ok", failures: 0, lastFailureAt: 2 ** 53 },
      { id: "a1", state: "ok", failures: 0, refreshTokenExpiresAt: -1 },
      { id: "a1", state: "ok", failures: 0, lastError: "1000.secret token" },
      { id: "a1", state: "ok", failures: 0, lastError: "x".repeat(101) },
      { id: "", state: "ok", failures: 0 },
      { id: "x'; DROP", state: "ok", failures: 0 },
      // a token id is at most 10 characters (Zoho's varchar(10))
      { id: "a".repeat(11), state: "ok", failures: 0 },
    ];
    for (const status of bad) {
      const error = await assertRejects(
        () => store.status.put(status as TokenStatus),
        TokenStoreError,
      );
      assertEquals(error.code, "INVALID_TOKEN", error.message);
      assert(!error.message.includes("1000.secret"), error.message);
    }
    assertEquals(await statusRows(db), []);
    assertEquals(await store.status.list(), []);
  },
);

statusTest(
  "reads a corrupt status row as CORRUPT, naming the token and the table",
  async (db, store) => {
    const table = db.quote(`${db.table}_status`);
    const insert = (values: (string | number | null)[]) =>
      db.exec(
        `INSERT INTO ${table} (id, state, last_refresh_at, last_error, failures) ` +
          "VALUES (?, ?, ?, ?, ?)",
        values,
      );
    const corrupt: (string | number | null)[][] = [
      ["c1", "fine", null, null, 0], // no such state
      ["c2", "ok", null, null, -1], // negative failures
      ["c3", "ok", null, "not a code", 0], // not an error code
      ["c4", "ok", -5, null, 0], // a time before 1970
      ["c5", "ok", "9007199254740993", null, 0], // past 2^53: not exact
    ];
    for (const row of corrupt) {
      await insert(row);
      const id = String(row[0]);
      const error = await assertRejects(
        () => store.status.get(id),
        TokenStoreError,
      );
      assertEquals(error.code, "CORRUPT", error.message);
      assertStringIncludes(error.message, `"${id}"`);
      assertStringIncludes(error.message, `${db.table}_status`);
      const listed = await assertRejects(
        () => store.status.list(),
        TokenStoreError,
      );
      assertEquals(listed.code, "CORRUPT", listed.message);
      await store.status.delete(id); // a corrupt status can be removed
      assertEquals(await store.status.list(), []);
    }
  },
);

statusTest(
  "deletes a token's status with the token, and every status with deleteTokens",
  async (db, store) => {
    const a = await store.saveToken(
      new OAuthToken({ userName: "a@example.com", refreshToken: "1000.a" }),
    );
    const b = await store.saveToken(
      new OAuthToken({ userName: "b@example.com", refreshToken: "1000.b" }),
    );
    await store.status.put({ id: a.id!, state: "ok", failures: 0 });
    await store.status.put({ id: b.id!, state: "failing", failures: 1 });
    // a status whose token is gone already (written by a late refresh)
    await store.status.put({ id: "orphan1", state: "ok", failures: 0 });

    assertEquals(await store.deleteToken(a.id!), true);
    assertEquals(await store.status.get(a.id!), null);
    assertEquals((await store.status.get(b.id!))?.state, "failing");
    // no token, but its status goes
    assertEquals(await store.deleteToken("orphan1"), false);
    assertEquals(await store.status.get("orphan1"), null);
    assertEquals((await statusRows(db)).map((row) => row.id), [b.id]);

    const c = await store.saveToken(
      new OAuthToken({ userName: "c@example.com", refreshToken: "1000.c" }),
    );
    await store.status.put({ id: c.id!, state: "revoked", failures: 4 });
    await store.status.put({ id: "orphan2", state: "ok", failures: 0 });
    await store.deleteTokens();
    assertEquals(await store.getTokens(), []);
    assertEquals(await store.status.list(), []);
    assertEquals(await statusRows(db), []);
  },
);

statusTest(
  "deletes a token and its status in one transaction: a delete that fails keeps both",
  async (db, store) => {
    const a = await store.saveToken(
      new OAuthToken({ userName: "a@example.com", refreshToken: "1000.a" }),
    );
    const status: TokenStatus = { id: a.id!, state: "ok", failures: 0 };
    await store.status.put(status);
    await db.refuseDeletes(db.table);
    const removes = [
      () => store.deleteToken(a.id!),
      () => store.deleteTokens(),
    ];
    for (const remove of removes) {
      const error = await assertRejects(remove, TokenStoreError);
      assertEquals(error.code, "BACKEND", error.message);
      assertStringIncludes(error.message, "deletes refused");
      assertEquals((await store.findTokenById(a.id!))?.refreshToken, "1000.a");
      assertEquals(await store.status.get(a.id!), status);
    }
  },
);

dbTest(
  "creates the status table beside an existing Zoho table, which it leaves as it is",
  async (db) => {
    await db.exec(zohoTableDdl(db.table));
    const zoho = await db.columns(db.table);
    assertEquals(await db.columns(`${db.table}_status`), []);
    const store = await db.open();
    try {
      assertEquals((await db.columns(`${db.table}_status`)).length, 7);
      assertEquals(await db.columns(db.table), zoho);
      const saved = await store.saveToken(
        new OAuthToken({ userName: "z@example.com", refreshToken: "1000.z" }),
      );
      const status: TokenStatus = {
        id: saved.id!,
        state: "ok",
        failures: 0,
        lastRefreshAt: 1_800_000_000_000,
      };
      await store.status.put(status);
      assertEquals(await store.status.get(saved.id!), status);
      assertEquals(await store.deleteToken(saved.id!), true);
      assertEquals(await store.status.list(), []);
    } finally {
      await store.close();
    }
  },
);

dbTest(
  "shares statuses between stores on one database, and keeps them across close and reopen",
  async (db) => {
    const one = await db.open();
    const two = await db.open();
    const status: TokenStatus = {
      id: "s1",
      state: "failing",
      failures: 1,
      lastFailureAt: 1_800_000_000_000,
      lastError: "temporarily_unavailable",
    };
    try {
      await one.status.put(status);
      assertEquals(await two.status.get("s1"), status);
      await two.status.put({ ...status, state: "ok", failures: 0 });
      assertEquals((await one.status.get("s1"))?.state, "ok");
      await two.status.put({ id: "s2", state: "revoked", failures: 5 });
      assertEquals((await one.status.list()).length, 2);
      await one.status.delete("s2");
      assertEquals(await two.status.get("s2"), null);
    } finally {
      await one.close();
      await two.close();
    }
    const again = await db.open();
    try {
      assertEquals(await again.status.list(), [
        { ...status, state: "ok", failures: 0 },
      ]);
    } finally {
      await again.close();
    }
  },
);

dbTest(
  "keeps statuses in the status table named by the statusTable option",
  async (db) => {
    const statusTable = `${db.table}_health`;
    const store = await db.open({ statusTable });
    try {
      assertEquals(store.statusTable, statusTable);
      await store.status.put({ id: "h1", state: "ok", failures: 0 });
      assertEquals(
        (await db.exec(`SELECT id FROM ${db.quote(statusTable)}`)).map((row) =>
          row.id
        ),
        ["h1"],
      );
      assertEquals(await db.columns(`${db.table}_status`), []);
    } finally {
      await store.close();
    }
  },
);

dbTest("refuses to open on a status table that lacks a column", async (db) => {
  await db.exec(
    `CREATE TABLE ${
      db.quote(`${db.table}_status`)
    } (id varchar(10) NOT NULL PRIMARY KEY, state varchar(16) NOT NULL)`,
  );
  const error = await assertRejects(() => db.open(), TokenStoreError);
  assertEquals(error.code, "BACKEND");
  assertStringIncludes(error.message, `${db.table}_status`);
  assertStringIncludes(error.message, '"last_refresh_at"');
});
