/**
 * Bad input through the public API, on every store (memory, Deno KV, libSQL,
 * file JSON, file Zoho CSV, MySQL when `MYSQL_URL` is set): wrong types via
 * `as any`, empty strings, 1 MB strings, ids with path separators or SQL,
 * NaN, infinite or negative `expiresAt`, objects posing as tokens. Each call
 * fails with a typed error that names the field, stores and deletes nothing,
 * logs nothing, and never shows a secret. Also the stores' and the client's
 * options, the client's calls, and `openStore` with unknown or malformed URLs.
 */

import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
} from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken, type OAuthTokenInit } from "../core/token.ts";
import { EncryptedTokenStore } from "../core/encrypted_token_store.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStore } from "../core/token_store.ts";
import { FileTokenStore } from "../stores/file.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { MysqlTokenStore } from "../stores/mysql.ts";
import { openStore } from "../stores/open_store.ts";
import { MYSQL } from "./fixtures/sql_server.ts";
import {
  assertSecretFree,
  captureConsole,
  failure,
  renderError,
} from "./fixtures/secret_scan.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";
import {
  createZohoLibsqlTable,
  createZohoMysqlTable,
} from "./fixtures/zoho_tables.ts";

// deno-lint-ignore no-explicit-any
const any = (value: unknown): any => value;

/** Secret values used in the bad input: none may ever be shown. */
const SECRET = {
  refresh: "1000.abuse-refresh-5ecret-0123456789abcdef",
  access: "1000.abuse-access-5ecret-0123456789abcdef",
  client: "abuse-client-5ecret-0123456789abcdef",
  grant: "1000.abuse-grant-5ecret-0123456789abcdef",
  password: "abuse-db-passw0rd-0123456789",
  key: btoa(String.fromCharCode(...new Uint8Array(32).fill(7))),
};
const SECRETS = Object.values(SECRET);
const MB = 1 << 20;
/** A 1 MB value that holds a secret. */
const HUGE = `${SECRET.refresh}${"x".repeat(MB)}`;

const STRING_FIELDS = [
  "id",
  "userName",
  "clientId",
  "clientSecret",
  "redirectUrl",
  "grantToken",
  "refreshToken",
  "accessToken",
  "apiDomain",
] as const;

const QUERY_FIELDS = [
  "id",
  "userName",
  "clientId",
  "clientSecret",
  "grantToken",
  "refreshToken",
  "accessToken",
] as const;

/** An object that inherits OAuthToken's getters without being a token. */
const fake = () => Object.create(OAuthToken.prototype);

const BAD_IDS: unknown[] = [
  undefined,
  null,
  42,
  {},
  ["a1"],
  "",
  " ",
  "../etc/pa",
  "a/b",
  "a\\b",
  "/",
  "1' OR '1'='1",
  "x'; DROP TABLE oauthtoken; --",
  "0123456789A",
  "%",
  "*",
  "ä1",
  "a b",
  "a\u0000b",
  "x".repeat(MB),
];

interface Case {
  name: string;
  call: (store: TokenStore) => Promise<unknown>;
  code: "INVALID_TOKEN" | "INVALID_QUERY";
  /** The field the message must name, quoted. */
  field?: string;
}

function saveCases(): Case[] {
  const cases: Case[] = [];
  const save = (name: string, token: unknown, field?: string) =>
    cases.push({
      name: `saveToken ${name}`,
      call: (s) => s.saveToken(any(token)),
      code: "INVALID_TOKEN",
      field,
    });
  for (const value of [null, undefined, 42, SECRET.refresh, true, 0n]) {
    save(`(${typeof value})`, value);
  }
  save("([])", []);
  save("({})", {});
  save("(no refresh, grant or access token)", {
    userName: "abuse@example.com",
    clientSecret: SECRET.client,
  });
  save("(an object posing as an OAuthToken)", fake());
  const base: OAuthTokenInit = {
    userName: "abuse@example.com",
    refreshToken: SECRET.refresh,
    clientSecret: SECRET.client,
  };
  for (const field of STRING_FIELDS) {
    const values: [string, unknown][] = [
      ["a number", 42],
      ["an empty string", ""],
      ["a 1 MB string", HUGE],
      ["null", null],
      ["an object that prints a secret", { toString: () => SECRET.access }],
      ["an array", [SECRET.access]],
    ];
    for (const [what, value] of values) {
      save(`${field} ${what}`, { ...base, [field]: value }, field);
    }
  }
  for (const id of BAD_IDS) {
    if (id === undefined) continue;
    save(
      `id ${JSON.stringify(String(id).slice(0, 20))}`,
      { ...base, id },
      "id",
    );
  }
  for (
    const value of [NaN, -1, -Infinity, Infinity, "1800000000000", null, {}]
  ) {
    save(
      `expiresAt ${String(value)}`,
      { ...base, expiresAt: value },
      "expiresAt",
    );
  }
  return cases;
}

function queryCases(): Case[] {
  const cases: Case[] = [];
  const find = (name: string, query: unknown, field?: string) =>
    cases.push({
      name: `findToken ${name}`,
      call: (s) => s.findToken(any(query)),
      code: "INVALID_QUERY",
      field,
    });
  for (const value of [null, undefined, 42, "ada@example.com", true]) {
    find(`(${typeof value})`, value);
  }
  find("([])", []);
  find("({})", {});
  find("(client fields only)", {
    clientId: "1000.C",
    clientSecret: SECRET.client,
  });
  find("(an object posing as an OAuthToken)", fake());
  // the fields a query is matched by (others, like redirectUrl, are ignored)
  for (const field of QUERY_FIELDS) {
    for (
      const value of [42, "", HUGE, null, { toString: () => SECRET.access }]
    ) {
      find(`${field} ${typeof value}`, {
        userName: "abuse@example.com",
        [field]: value,
      }, field);
    }
  }
  for (const id of BAD_IDS) {
    if (id === undefined) continue;
    find(`id ${JSON.stringify(String(id).slice(0, 20))}`, { id }, "id");
  }
  for (const id of BAD_IDS) {
    const label = JSON.stringify(String(id).slice(0, 20));
    cases.push({
      name: `findTokenById ${label}`,
      call: (s) => s.findTokenById(any(id)),
      code: "INVALID_QUERY",
      field: "id",
    });
    cases.push({
      name: `deleteToken ${label}`,
      call: (s) => s.deleteToken(any(id)),
      code: "INVALID_QUERY",
      field: "id",
    });
  }
  return cases;
}

/** Leases: a TypeError or TokenStoreError naming the bad argument. */
const LEASE_CASES: [string, string, unknown, unknown][] = [
  ["an empty key", "key", "", { ttlMs: 1000 }],
  ["a number key", "key", 42, { ttlMs: 1000 }],
  ["a null key", "key", null, { ttlMs: 1000 }],
  ["NaN ttlMs", "ttlMs", "k", { ttlMs: NaN }],
  ["negative ttlMs", "ttlMs", "k", { ttlMs: -1 }],
  ["zero ttlMs", "ttlMs", "k", { ttlMs: 0 }],
  ["infinite ttlMs", "ttlMs", "k", { ttlMs: Infinity }],
  ["string ttlMs", "ttlMs", "k", { ttlMs: "1000" }],
  ["no options", "ttlMs", "k", undefined],
];

interface StoreKind {
  name: string;
  open(dir: string): Promise<TokenStore>;
  /** Values valid for a token that this store cannot hold. */
  refuses: [string, OAuthTokenInit, string][];
  cleanup?(): Promise<void>;
}

const tooWide: [string, OAuthTokenInit, string][] = [
  ["a 256-character userName", { userName: "u".repeat(256) }, "userName"],
  ["a 4096-character refreshToken", {
    userName: "wide@example.com",
    refreshToken: `${SECRET.refresh}${"r".repeat(4000)}`,
  }, "refreshToken"],
];

const mysqlTable = MYSQL.freshTable("abuse");
const KINDS: StoreKind[] = [
  {
    name: "memory",
    open: () => Promise.resolve(new MemoryTokenStore()),
    refuses: [],
  },
  {
    name: "kv",
    open: (dir) => KvTokenStore.open({ path: `${dir}/kv.db` }),
    refuses: [],
  },
  {
    name: "libsql",
    open: (dir) => LibsqlTokenStore.open({ url: `file:${dir}/libsql.db` }),
    refuses: [],
  },
  {
    name: "libsql on a Zoho table",
    open: async (dir) => {
      await createZohoLibsqlTable(`file:${dir}/zoho.db`);
      return await LibsqlTokenStore.open({ url: `file:${dir}/zoho.db` });
    },
    refuses: tooWide,
  },
  {
    name: "encrypted kv",
    open: async (dir) =>
      new EncryptedTokenStore(
        await KvTokenStore.open({ path: `${dir}/encrypted.db` }),
        { keys: SECRET.key },
      ),
    refuses: [],
  },
  {
    name: "file json",
    open: (dir) =>
      Promise.resolve(new FileTokenStore({ path: `${dir}/t.json` })),
    refuses: [],
  },
  {
    name: "file zoho-csv",
    open: (dir) =>
      Promise.resolve(
        new FileTokenStore({
          path: `${dir}/sdk_tokens.txt`,
          format: "zoho-csv",
        }),
      ),
    refuses: [
      ["a comma in userName", { userName: "a,b@example.com" }, "userName"],
      ["a line break in refreshToken", {
        userName: "nl@example.com",
        refreshToken: `${SECRET.refresh}\nx`,
      }, "refreshToken"],
      ["a double quote in clientId", { clientId: 'a"b' }, "clientId"],
    ],
  },
];
if (MYSQL.url === undefined) {
  console.log(
    "Notice: MYSQL_URL is unset, the MySQL store is left out of tests/abuse_test.ts",
  );
} else {
  KINDS.push({
    name: "mysql on a Zoho table",
    open: async () => {
      await createZohoMysqlTable(mysqlTable);
      return await MysqlTokenStore.open({ url: MYSQL.url, table: mysqlTable });
    },
    refuses: tooWide,
    cleanup: () =>
      MYSQL.dropTables(
        mysqlTable,
        `${mysqlTable}_lock`,
        `${mysqlTable}_status`,
      ),
  });
}

for (const kind of KINDS) {
  Deno.test({
    name:
      `${kind.name} store: bad input fails with a typed error naming the field, stores and deletes nothing, shows no secret`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "tokenstore_abuse_" });
      const store = await kind.open(dir);
      try {
        await store.deleteTokens();
        const seeded = await store.saveToken(
          new OAuthToken({
            userName: "seed@example.com",
            clientSecret: `${SECRET.client}-seed`,
            refreshToken: `${SECRET.refresh}-seed`,
            accessToken: `${SECRET.access}-seed`,
            expiresAt: 1_800_000_000_000,
          }),
        );
        const secrets = [...SECRETS, ...SECRETS.map((s) => `${s}-seed`)];
        const { logged } = await captureConsole(async () => {
          for (const c of [...saveCases(), ...queryCases()]) {
            const error = await failure(() => c.call(store), c.name);
            assertInstanceOf(error, TokenStoreError, c.name);
            assertEquals(error.code, c.code, `${c.name}: ${error.message}`);
            if (c.field !== undefined) {
              assert(
                error.message.includes(`"${c.field}"`),
                `${c.name}: the message does not name "${c.field}": ${error.message}`,
              );
            }
            assert(error.message.length < 400, `${c.name}: message too long`);
            assertSecretFree(renderError(error), secrets, c.name, {
              zohoShaped: false,
            });
          }
          for (const [what, name, key, options] of LEASE_CASES) {
            const error = await failure(() =>
              store.lock!.acquire(any(key), any(options))
            );
            assert(
              error instanceof TypeError || error instanceof TokenStoreError,
              `lease with ${what}: ${error}`,
            );
            assert(
              (error as Error).message.includes(name),
              `lease with ${what}: the message does not name ${name}: ${
                (error as Error).message
              }`,
            );
          }
          for (const [what, init, field] of kind.refuses) {
            const error = await failure(() =>
              store.saveToken(
                new OAuthToken({ refreshToken: "1000.refusable", ...init }),
              )
            );
            assertInstanceOf(error, TokenStoreError, what);
            assertEquals(error.code, "INVALID_TOKEN", what);
            assert(error.message.includes(`"${field}"`), error.message);
            assertSecretFree(renderError(error), secrets, what, {
              zohoShaped: false,
            });
          }
        });
        assertEquals(logged, "", "the store printed something");
        // nothing stored, nothing deleted, the seeded token unchanged
        assertEquals(
          (await store.getTokens()).map((t) => t.toRecord()),
          [seeded.toRecord()],
        );
        // a valid lease can still be taken: no bad call left one behind
        for (const key of ["k", "42"]) {
          const lease = await store.lock!.acquire(key, { ttlMs: 1000 });
          assert(lease !== null, `lease "${key}" was left taken`);
          await lease.release();
        }
      } finally {
        await store.close?.();
        await kind.cleanup?.();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test("two callers cannot both hold a lease taken with a bad ttlMs, on any store", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokenstore_abuse_" });
  try {
    for (const kind of KINDS) {
      const store = await kind.open(dir);
      try {
        const first = await store.lock!.acquire("k", any({ ttlMs: NaN }))
          .catch(() => null);
        const second = await store.lock!.acquire("k", { ttlMs: 1000 });
        assert(
          first === null || second === null,
          `${kind.name}: two holders of one lease`,
        );
        await second?.release();
      } finally {
        await store.close?.();
        await kind.cleanup?.();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store options of the wrong type or shape are TypeErrors naming the option, without secrets", async () => {
  const cases: [string, () => unknown, RegExp][] = [
    ["file path", () => new FileTokenStore(any({ path: 42 })), /path/],
    ["file options", () => new FileTokenStore(any(undefined)), /path/],
    [
      "file format",
      () => new FileTokenStore(any({ path: "t", format: "xml" })),
      /format/,
    ],
    [
      "file lockTimeoutMs",
      () => new FileTokenStore(any({ path: "t", lockTimeoutMs: NaN })),
      /lockTimeoutMs/,
    ],
    [
      "kv prefix",
      () => KvTokenStore.open(any({ path: ":memory:", prefix: "x" })),
      /prefix/,
    ],
    [
      "kv prefix part",
      () => KvTokenStore.open(any({ path: ":memory:", prefix: [{}] })),
      /prefix/,
    ],
    [
      "kv consistency",
      () => KvTokenStore.open(any({ path: ":memory:", consistency: "weak" })),
      /consistency/,
    ],
    ["kv path", () => KvTokenStore.open(any({ path: 42 })), /path/],
    ["kv kv", () => new KvTokenStore(any({ kv: null })), /Deno\.Kv/],
    [
      "libsql url scheme",
      () => LibsqlTokenStore.open(any({ url: `ftp://u:${SECRET.password}@h` })),
      /URL/,
    ],
    ["libsql url type", () => LibsqlTokenStore.open(any({ url: 42 })), /URL/],
    [
      "libsql table",
      () =>
        LibsqlTokenStore.open({ url: ":memory:", table: "x; DROP TABLE y" }),
      /table/,
    ],
    [
      "libsql lockTable",
      () => LibsqlTokenStore.open({ url: ":memory:", lockTable: "" }),
      /table/,
    ],
    [
      "libsql client",
      () => new LibsqlTokenStore(any({ client: null })),
      /client/,
    ],
    [
      "mysql url scheme",
      () =>
        MysqlTokenStore.open({ url: `postgres://u:${SECRET.password}@h/db` }),
      /scheme/,
    ],
    [
      "mysql table",
      () =>
        MysqlTokenStore.open({
          url: `mysql://u:${SECRET.password}@127.0.0.1:1/db`,
          table: "a`b",
        }),
      /table/,
    ],
    [
      "mysql port",
      () => MysqlTokenStore.open(any({ password: SECRET.password, port: "x" })),
      /port/,
    ],
    [
      "mysql connectionLimit",
      () =>
        MysqlTokenStore.open({
          password: SECRET.password,
          connectionLimit: -1,
        }),
      /connectionLimit/,
    ],
    [
      "mysql host",
      () => MysqlTokenStore.open(any({ password: SECRET.password, host: 42 })),
      /host/,
    ],
  ];
  for (const [name, call, names] of cases) {
    const error = await failure(call);
    assertInstanceOf(error, TypeError, name);
    assert(names.test(error.message), `${name}: ${error.message}`);
    assertSecretFree(renderError(error), SECRETS, name);
  }
});

Deno.test("openStore with unknown schemes or malformed URLs is a TypeError naming the accepted forms, creates nothing and shows no secret", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokenstore_abuse_" });
  const cwd = Deno.cwd();
  Deno.chdir(dir);
  try {
    const urls: unknown[] = [
      `memcached://:${SECRET.password}@127.0.0.1:11211`,
      `redis://:${SECRET.password}@127.0.0.1:6379/x?prefix=a`,
      `rediss://:${SECRET.password}@/0`,
      `mongodb://u:${SECRET.password}@127.0.0.1/db`,
      `s3://${SECRET.password}`,
      "javascript:alert(1)",
      "ftp://example.com/tokens.json",
      "kv",
      "tokens.json",
      "",
      "   ",
      42,
      {},
      "memory:extra",
      "file:",
      "zoho-csv:",
      "libsql:",
      `libsql:ftp://x?authToken=${SECRET.password}`,
      `libsql:libsql://u:${SECRET.password}@db.example.com`,
      `mysql://root:${SECRET.password}@127.0.0.1:3306/db?password=${SECRET.password}`,
      `mysql://root:${SECRET.password}@/db`,
      `mariadb://root:${SECRET.password}@127.0.0.1:99999/db`,
      `mysql://root:${SECRET.password}@127.0.0.1/a/b`,
      `${"x".repeat(MB)}:${SECRET.password}`,
    ];
    for (const url of urls) {
      const label = JSON.stringify(String(url).slice(0, 40));
      const error = await assertRejects(() => openStore(any(url)), TypeError);
      assert(
        error.message.includes("accepted forms"),
        `${label}: ${error.message}`,
      );
      assert(error.message.length < 1000, `${label}: message too long`);
      assertSecretFree(renderError(error), SECRETS, label);
    }
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    assertEquals(left, []);
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TokenClient: bad options and bad calls are typed errors naming the field, and no request is sent", async () => {
  await using server = await startTokenServer();
  const store = new MemoryTokenStore();
  const base = {
    store,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: SECRET.client,
    tokenUrl: server.url,
  };
  const options: [string, Record<string, unknown>][] = [
    ["store", { store: {} }],
    ["store", { store: null }],
    ["clientId", { clientId: "" }],
    ["clientSecret", { clientSecret: 42 }],
    ["tokenUrl", { tokenUrl: `ftp://u:${SECRET.password}@example.com` }],
    ["tokenUrl", { tokenUrl: `https://u:${SECRET.password}@exa mple.com` }],
    ["revokeUrl", { revokeUrl: `https://u:${SECRET.password}@[::1` }],
    ["tokenUrl", { tokenUrl: 42 }],
    ["dataCenter", { tokenUrl: undefined, dataCenter: "MARS" }],
    ["refreshSkewMs", { refreshSkewMs: NaN }],
    ["requestTimeoutMs", { requestTimeoutMs: -1 }],
    ["retry.maxAttempts", { retry: { maxAttempts: -1 } }],
    ["leaseTtlMs", { leaseTtlMs: "1000" }],
    ["fetch", { fetch: 42 }],
    ["now", { now: "tomorrow" }],
    ["sleep", { sleep: {} }],
  ];
  for (const [name, patch] of options) {
    const error = await failure(() =>
      new TokenClient(any({ ...base, ...patch }))
    );
    assertInstanceOf(error, TypeError, name);
    assert(error.message.includes(`"${name}"`), `${name}: ${error.message}`);
    assertSecretFree(renderError(error), SECRETS, name);
  }

  const client = new TokenClient(base);
  await store.saveToken(
    new OAuthToken({
      userName: "ada@example.com",
      refreshToken: SECRET.refresh,
    }),
  );
  const calls: [string, () => Promise<unknown>, RegExp][] = [
    ["getAccessToken(null)", () => client.getAccessToken(any(null)), /query/],
    ["getAccessToken(42)", () => client.getAccessToken(any(42)), /query/],
    ["getAccessToken({})", () => client.getAccessToken({}), /Cannot match/],
    [
      "getToken userName 1 MB",
      () => client.getToken({ userName: HUGE }),
      /"userName"/,
    ],
    ["refresh id path", () => client.refresh({ id: "../x" }), /"id"/],
    ["revoke SQL id", () => client.revoke({ id: "1' OR 1=1" }), /"id"/],
    [
      "exchangeGrantToken(42)",
      () => client.exchangeGrantToken(any(42)),
      /grant token/,
    ],
    [
      "exchangeGrantToken('')",
      () => client.exchangeGrantToken(""),
      /grant token/,
    ],
    [
      "exchangeGrantToken 1 MB",
      () => client.exchangeGrantToken(HUGE),
      /"grantToken"/,
    ],
    [
      "exchangeGrantToken userName 42",
      () => client.exchangeGrantToken(SECRET.grant, any({ userName: 42 })),
      /"userName"/,
    ],
    [
      "exchangeGrantToken options null",
      () => client.exchangeGrantToken(SECRET.grant, any(null)),
      /options/,
    ],
    [
      "fetch without token",
      () => client.fetch("https://example.com/", any({})),
      /token/,
    ],
    [
      "fetch with null init",
      () => client.fetch("https://example.com/", any(null)),
      /token/,
    ],
  ];
  for (const [name, call, names] of calls) {
    const error = await failure(call);
    assert(
      error instanceof TypeError || error instanceof TokenStoreError,
      `${name}: ${error}`,
    );
    assert(
      names.test((error as Error).message),
      `${name}: ${(error as Error).message}`,
    );
    assertSecretFree(renderError(error), SECRETS, name);
  }
  assertEquals(server.stats().token, 0);
  assertEquals((await store.getTokens()).length, 1);
});
