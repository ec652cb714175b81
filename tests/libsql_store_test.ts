import {
  assert,
  assertEquals,
  assertFalse,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { join } from "@std/path";
import { createClient } from "@libsql/client";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { clientKindFor } from "../stores/_libsql/client.ts";
import { assertStaleLeaseTakenOver, testTokenStore } from "./conformance.ts";
import { assertWideColumns, ZOHO_COLUMNS } from "./fixtures/wide_columns.ts";

/** Zoho's columns, declared as wide as the token model allows. */
const CREATED_COLUMNS = [
  ["id", "varchar(10)", 1, 1],
  ["user_name", "varchar(4096)", 0, 0],
  ["client_id", "varchar(4096)", 0, 0],
  ["client_secret", "varchar(4096)", 0, 0],
  ["refresh_token", "varchar(4096)", 0, 0],
  ["access_token", "varchar(4096)", 0, 0],
  ["grant_token", "varchar(4096)", 0, 0],
  ["expiry_time", "varchar(24)", 0, 0],
  ["redirect_url", "varchar(4096)", 0, 0],
  ["api_domain", "varchar(4096)", 0, 0],
];

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "libsql_store_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

testTokenStore(
  "LibsqlTokenStore (:memory:)",
  () => LibsqlTokenStore.open({ url: ":memory:" }),
);

testTokenStore("LibsqlTokenStore (file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "libsql_conformance_" });
  const store = await LibsqlTokenStore.open({
    url: `file:${join(dir, "tokens.db")}`,
  });
  const close = store.close.bind(store);
  return Object.assign(store, {
    async close(): Promise<void> {
      await close();
      await Deno.remove(dir, { recursive: true });
    },
  });
});

Deno.test("LibsqlTokenStore creates Zoho's table with 4096-character columns, the indexes, the lease table and the status table", async () => {
  const client = createClient({ url: ":memory:" });
  try {
    const store = new LibsqlTokenStore({ client });
    assertEquals(store.table, "oauthtoken");
    assertEquals(store.lockTable, "oauthtoken_lock");
    // lazily: nothing exists before the first use
    const before = await client.execute(
      "SELECT name FROM sqlite_master WHERE type = 'table'",
    );
    assertEquals(before.rows.length, 0);
    assertEquals(await store.getTokens(), []);
    // local databases wait for other processes' locks
    assertEquals(
      (await client.execute("PRAGMA busy_timeout")).rows[0][0],
      5000,
    );
    const info = await client.execute(
      "SELECT name, type, \"notnull\", pk FROM pragma_table_info('oauthtoken') ORDER BY cid",
    );
    assertEquals(
      info.rows.map((r) => [r.name, r.type, r.notnull, r.pk]),
      CREATED_COLUMNS,
    );
    const indexes = await client.execute(
      "SELECT ii.name AS col FROM pragma_index_list('oauthtoken') AS il, " +
        "pragma_index_info(il.name) AS ii ORDER BY ii.name",
    );
    assertEquals(indexes.rows.map((r) => r.col), [
      "access_token",
      "grant_token",
      "id",
      "refresh_token",
      "user_name",
    ]);
    const lock = await client.execute(
      "SELECT name, type, pk FROM pragma_table_info('oauthtoken_lock') ORDER BY cid",
    );
    assertEquals(lock.rows.map((r) => [r.name, r.type, r.pk]), [
      ["lock_key", "TEXT", 1],
      ["owner", "TEXT", 0],
      ["expires_at", "INTEGER", 0],
    ]);
    assertEquals(store.statusTable, "oauthtoken_status");
    const status = await client.execute(
      "SELECT name, type, \"notnull\", pk FROM pragma_table_info('oauthtoken_status') ORDER BY cid",
    );
    assertEquals(status.rows.map((r) => [r.name, r.type, r.notnull, r.pk]), [
      ["id", "varchar(10)", 1, 1],
      ["state", "varchar(16)", 1, 0],
      ["last_refresh_at", "bigint", 0, 0],
      ["last_failure_at", "bigint", 0, 0],
      ["last_error", "TEXT", 0, 0],
      ["failures", "INTEGER", 1, 0],
      ["refresh_token_expires_at", "bigint", 0, 0],
    ]);
    // a second store on the same database adds nothing
    const again = new LibsqlTokenStore({ client });
    await again.getTokens();
    const count = await client.execute(
      "SELECT count(*) AS n FROM sqlite_master",
    );
    assertEquals(count.rows[0].n, 3 + 4 + 3); // 3 tables, 4 indexes, 3 pk autoindexes
  } finally {
    client.close();
  }
});

Deno.test("LibsqlTokenStore stores expiry_time as text of epoch milliseconds and absent fields as NULL", async () => {
  const client = createClient({ url: ":memory:" });
  try {
    const store = new LibsqlTokenStore({ client });
    const saved = await store.saveToken(
      new OAuthToken({
        userName: "exp@example.com",
        refreshToken: "1000.r",
        expiresAt: 1_800_000_000_123,
      }),
    );
    const row = await client.execute({
      sql: "SELECT typeof(expiry_time) AS t, expiry_time, access_token, " +
        "typeof(id) AS idt, id FROM oauthtoken",
      args: [],
    });
    assertEquals(row.rows.length, 1);
    assertEquals(row.rows[0].t, "text");
    assertEquals(row.rows[0].expiry_time, "1800000000123");
    assertEquals(row.rows[0].access_token, null);
    assertEquals(row.rows[0].idt, "text");
    assertEquals(row.rows[0].id, saved.id);
  } finally {
    client.close();
  }
});

Deno.test("LibsqlTokenStore uses a custom table, lease table and status table", async () => {
  const client = createClient({ url: ":memory:" });
  try {
    const store = new LibsqlTokenStore({ client, table: "crm_tokens" });
    assertEquals(store.lockTable, "crm_tokens_lock");
    const saved = await store.saveToken(
      new OAuthToken({ userName: "t@example.com", refreshToken: "1000.r" }),
    );
    const lease = await store.lock.acquire("refresh:x", { ttlMs: 10_000 });
    assert(lease);
    const tables = await client.execute(
      "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    );
    assertEquals(tables.rows.map((r) => r.name), [
      "crm_tokens",
      "crm_tokens_lock",
      "crm_tokens_status",
    ]);
    const rows = await client.execute("SELECT id FROM crm_tokens");
    assertEquals(rows.rows.map((r) => r.id), [saved.id!]);
    const held = await client.execute("SELECT lock_key FROM crm_tokens_lock");
    assertEquals(held.rows.map((r) => r.lock_key), ["refresh:x"]);
    await lease.release();
    assertEquals(
      (await client.execute("SELECT * FROM crm_tokens_lock")).rows.length,
      0,
    );

    const other = new LibsqlTokenStore({
      client,
      table: "other_tokens",
      lockTable: "shared_leases",
      statusTable: "shared_health",
    });
    assertEquals(other.statusTable, "shared_health");
    assertEquals(await other.getTokens(), []);
    assert(await other.lock.acquire("refresh:x", { ttlMs: 10_000 }));
    assertEquals(
      (await client.execute("SELECT lock_key FROM shared_leases")).rows.length,
      1,
    );
    await other.status.put({ id: "o1", state: "ok", failures: 0 });
    assertEquals(
      (await client.execute("SELECT id FROM shared_health")).rows.map((r) =>
        r.id
      ),
      ["o1"],
    );
    assertEquals(await store.status.list(), []);
    // the two tables do not share tokens
    assertEquals((await store.getTokens()).length, 1);
  } finally {
    client.close();
  }
});

Deno.test("LibsqlTokenStore rejects table names that are not identifiers", async () => {
  const client = createClient({ url: ":memory:" });
  try {
    for (const table of ["x; drop", "oauthtoken--", "1abc", "", "a.b"]) {
      const error = assertThrows(
        () => new LibsqlTokenStore({ client, table }),
        TypeError,
      );
      assertStringIncludes(error.message, "Invalid table name");
    }
    assertThrows(
      () => new LibsqlTokenStore({ client, statusTable: "x; drop" }),
      TypeError,
      "Invalid table name",
    );
    assertThrows(
      () => new LibsqlTokenStore({ client, statusTable: "OAuthToken" }),
      TypeError,
      "must differ",
    );
    assertThrows(
      () => new LibsqlTokenStore({ client, lockTable: "x; drop" }),
      TypeError,
    );
    await assertRejects(
      () => LibsqlTokenStore.open({ url: ":memory:", table: "x; drop" }),
      TypeError,
    );
    const tables = await client.execute("SELECT name FROM sqlite_master");
    assertEquals(tables.rows.length, 0);
  } finally {
    client.close();
  }
});

Deno.test("LibsqlTokenStore holds 4096 characters in every column of a table it creates", async () => {
  const client = createClient({ url: ":memory:" });
  try {
    await assertWideColumns(new LibsqlTokenStore({ client }), {
      select: async (userName, clientId) =>
        (await client.execute({
          sql: "select * from oauthtoken where user_name=? and client_id=?",
          args: [userName, clientId],
        })).rows,
      insert: async (values) => {
        await client.execute({
          sql:
            `insert into oauthtoken (${ZOHO_COLUMNS}) values (?,?,?,?,?,?,?,?,?,?)`,
          args: values,
        });
      },
    });
  } finally {
    client.close();
  }
});

Deno.test("LibsqlTokenStore.open with a file: URL persists tokens across opens", async () => {
  await withTempDir(async (dir) => {
    const url = `file:${join(dir, "tokens.db")}`;
    const first = await LibsqlTokenStore.open({ url });
    const saved = await first.saveToken(
      new OAuthToken({
        userName: "file@example.com",
        clientId: "1000.C",
        refreshToken: "1000.r",
        expiresAt: 123,
      }),
    );
    await first.close();
    await assertRejects(() => first.getTokens(), TokenStoreError);
    const second = await LibsqlTokenStore.open({ url });
    try {
      assertEquals(
        (await second.findToken({ userName: "file@example.com" }))?.toRecord(),
        saved.toRecord(),
      );
    } finally {
      await second.close();
    }
    assert((await Deno.stat(join(dir, "tokens.db"))).size > 0);
  });
});

Deno.test("LibsqlTokenStore.open(':memory:') gives each store its own database", async () => {
  const a = await LibsqlTokenStore.open({ url: ":memory:" });
  const b = await LibsqlTokenStore.open({ url: ":memory:" });
  try {
    await a.saveToken(
      new OAuthToken({ userName: "m", refreshToken: "1000.r" }),
    );
    assertEquals((await a.getTokens()).length, 1);
    assertEquals(await b.getTokens(), []);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("LibsqlTokenStore.close leaves an injected client open", async () => {
  const client = createClient({ url: ":memory:" });
  try {
    const store = new LibsqlTokenStore({ client });
    await store.saveToken(
      new OAuthToken({ userName: "i", refreshToken: "1000.r" }),
    );
    await store.close();
    assertFalse(client.closed);
    assertEquals((await store.getTokens()).length, 1);
  } finally {
    client.close();
  }
});

Deno.test("LibsqlTokenStore picks the Web client for remote URLs and the native one for local ones", () => {
  for (
    const url of [
      "libsql://db-org.turso.io",
      "http://127.0.0.1:8080",
      "https://db.example.com",
      "ws://127.0.0.1:8080",
      "WSS://db.example.com",
    ]
  ) {
    assertEquals(clientKindFor(url), "web", url);
  }
  for (const url of [":memory:", "file:tokens.db", "file:///tmp/t.db"]) {
    assertEquals(clientKindFor(url), "native", url);
  }
  for (const url of ["postgres://u:pw@h/db", "tokens.db", "mysql://x"]) {
    const error = assertThrows(() => clientKindFor(url), TypeError);
    assertFalse(error.message.includes("pw@"));
  }
});

Deno.test("LibsqlTokenStore.open over HTTP loads no native code and reports an unreachable server as BACKEND without the auth token", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const secret = "eyJhbGciOiJFZERTQSJ9.turso-auth-5ecret";
  // without --allow-sys/--allow-ffi the native driver cannot load: remote URLs must not need it
  const script = `
    import { LibsqlTokenStore } from ${
    JSON.stringify(new URL("../stores/libsql.ts", import.meta.url).href)
  };
    const results = [];
    for (const options of [
      { url: "http://127.0.0.1:${port}", authToken: ${JSON.stringify(secret)} },
      { url: "http://127.0.0.1:${port}/?authToken=${secret}" },
      { url: "ws://127.0.0.1:${port}", authToken: ${JSON.stringify(secret)} },
      { url: ":memory:" },
    ]) {
      try {
        await LibsqlTokenStore.open(options);
        results.push({ ok: true });
      } catch (error) {
        results.push({ name: error.name, code: error.code, message: error.message, inspected: Deno.inspect(error) });
      }
    }
    console.log(JSON.stringify(results));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", "--allow-env", "--no-prompt", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { JSR_URL: Deno.env.get("JSR_URL") ?? "" },
  }).spawn();
  const writer = output.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await output.output();
  assertEquals(code, 0, new TextDecoder().decode(stderr));
  const results = JSON.parse(new TextDecoder().decode(stdout));
  for (const remote of results.slice(0, 3)) {
    assertEquals(remote.name, "TokenStoreError");
    assertEquals(remote.code, "BACKEND");
    assertStringIncludes(remote.message, "Cannot prepare libSQL table");
    assertFalse(remote.message.includes(secret), remote.message);
    assertFalse(remote.inspected.includes(secret), remote.inspected);
  }
  // the native client needs permissions (sys, FFI) this process was not given
  assertEquals(results[3].name, "NotCapable");
});

Deno.test("LibsqlTokenStore wraps driver failures as BACKEND and refuses a table without Zoho's columns", async () => {
  const client = createClient({ url: ":memory:" });
  try {
    await client.execute(
      "CREATE TABLE oauthtoken (id varchar(10) PRIMARY KEY, user_mail varchar(255))",
    );
    const store = new LibsqlTokenStore({ client });
    const error = await assertRejects(
      () => store.findToken({ userName: "x" }),
      TokenStoreError,
    );
    assertEquals(error.code, "BACKEND");
    assertStringIncludes(error.message, 'no column "user_name"');
    // nothing was added to the foreign table
    const info = await client.execute(
      "SELECT count(*) AS n FROM pragma_table_info('oauthtoken')",
    );
    assertEquals(info.rows[0].n, 2);
  } finally {
    client.close();
  }
  const closed = createClient({ url: ":memory:" });
  const store = new LibsqlTokenStore({ client: closed });
  await store.getTokens();
  closed.close();
  const secret = "1000.refresh-5ecret-value";
  const error = await assertRejects(
    () =>
      store.saveToken(new OAuthToken({ userName: "u", refreshToken: secret })),
    TokenStoreError,
  );
  assertEquals(error.code, "BACKEND");
  assert(error.cause instanceof Error);
  assertFalse(Deno.inspect(error).includes(secret));
});

Deno.test("LibsqlTokenStore leases use the database clock and expire", async () => {
  const client = createClient({ url: ":memory:" });
  try {
    const store = new LibsqlTokenStore({ client });
    const lease = await store.lock.acquire("refresh:clock", { ttlMs: 60_000 });
    assert(lease);
    const row = await client.execute(
      "SELECT owner, expires_at FROM oauthtoken_lock WHERE lock_key = 'refresh:clock'",
    );
    const expiresAt = Number(row.rows[0].expires_at);
    assert(Math.abs(expiresAt - (Date.now() + 60_000)) < 2_000);
    await assertStaleLeaseTakenOver(
      store.lock,
      lease,
      () =>
        client.execute(
          "UPDATE oauthtoken_lock SET expires_at = 0, owner = 'crashed'",
        ),
      1_000,
    );
    await assertRejects(
      () => store.lock.acquire("k", { ttlMs: 0 }),
      TypeError,
    );
  } finally {
    client.close();
  }
});
