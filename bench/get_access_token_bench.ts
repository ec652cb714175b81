/**
 * What a fresh token costs: `TokenClient.getAccessToken` on a token that
 * expires in an hour, on every store, against reading a variable
 * (`baseline: true`), one call at a time and 2,000 concurrent callers. With
 * the cache a call touches no store; `cache: false` rows show the store
 * round trip it saves.
 *
 * The stores are those of `tests/fixtures/store_specs.ts`; MySQL and
 * PostgreSQL run when `MYSQL_URL` / `POSTGRES_URL` is set (a table
 * `tsbench_<…>_hot` / `tspgbench_<…>_hot`, dropped at the end), Redis when
 * `REDIS_URL` is set (keys under a prefix of the same name, deleted at the end).
 *
 * Run: `deno bench -A bench/get_access_token_bench.ts`
 *
 * @module
 */

import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStore } from "../core/token_store.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import {
  openStoreSpec,
  STORE_TARGETS,
  type StoreSpec,
} from "../tests/fixtures/store_specs.ts";
import { atUnload, CLIENT_ID, tempDir, tokenValue } from "./_data.ts";
import { dropTablesSync, runPrefix } from "./_mysql_tables.ts";
import {
  dropTablesSync as dropPostgresTablesSync,
  runPrefix as postgresRunPrefix,
} from "./_postgres_tables.ts";

const USER = "hot@example.com";

/** Deletes a Redis spec's keys through `redis-cli` (unload cannot await). */
function deleteRedisPrefixSync(spec: { url: string; prefix: string }): void {
  new Deno.Command("redis-cli", {
    args: [
      "-u",
      spec.url,
      "EVAL",
      "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end",
      "0",
      `{${spec.prefix}}:*`,
    ],
    stdout: "null",
    stderr: "null",
  }).outputSync();
}
const QUERY = { userName: USER };
const CONCURRENT = 2_000;
/** Row names of the shared stores, as in bench/README.md. */
const LABELS: Record<StoreSpec["kind"], string> = {
  kv: "kv-file",
  libsql: "libsql-file",
  file: "file-json",
  mysql: "mysql",
  postgres: "postgres",
  redis: "redis",
};

const dir = await tempDir("tokenstore_hot_");
const mysqlPrefix = runPrefix();
const postgresPrefix = postgresRunPrefix();
const specs: [string, StoreSpec | null][] = [["memory", null]];
for (const target of STORE_TARGETS) {
  const prefix = target.kind === "postgres" ? postgresPrefix : mysqlPrefix;
  const spec = target.spec(dir, `${prefix}hot`);
  if (spec === null) continue;
  specs.push([LABELS[target.kind], spec]);
  // SQL tables are dropped by a child process: unload cannot await
  if (spec.kind === "mysql") {
    atUnload(() => dropTablesSync(spec.url, mysqlPrefix));
  }
  if (spec.kind === "postgres") {
    atUnload(() => dropPostgresTablesSync(spec.url, postgresPrefix));
  }
  if (spec.kind === "redis") atUnload(() => deleteRedisPrefixSync(spec));
}

const variable = { accessToken: tokenValue() };
const read = () => variable.accessToken;

Deno.bench({
  name: "read a variable",
  group: "one call",
  baseline: true,
  fn: () => {
    if (read() === "") throw new Error("unreachable");
  },
});
Deno.bench({
  name: "read a variable",
  group: `${CONCURRENT} concurrent callers`,
  baseline: true,
  async fn() {
    const values = await Promise.all(
      Array.from({ length: CONCURRENT }, () => Promise.resolve(read())),
    );
    if (values.length !== CONCURRENT) throw new Error("unreachable");
  },
});

for (const [label, spec] of specs) {
  const store: TokenStore = spec === null
    ? new MemoryTokenStore()
    : await openStoreSpec(spec);
  await store.saveToken(
    new OAuthToken({
      userName: USER,
      clientId: CLIENT_ID,
      refreshToken: tokenValue(),
      accessToken: tokenValue(),
      expiresAt: Date.now() + 3_600_000,
    }),
  );
  for (const cache of [undefined, false] as const) {
    const client = new TokenClient({
      store,
      clientId: CLIENT_ID,
      clientSecret: "bench-secret",
      tokenUrl: "http://127.0.0.1:9/oauth/v2/token", // never asked
      cache,
    });
    const expected = await client.getAccessToken(QUERY);
    const name = `${label}${cache === false ? " (cache: false)" : ""}`;
    Deno.bench({
      name,
      group: "one call",
      async fn() {
        if (await client.getAccessToken(QUERY) !== expected) {
          throw new Error("unexpected token");
        }
      },
    });
    Deno.bench({
      name,
      group: `${CONCURRENT} concurrent callers`,
      async fn() {
        const tokens = await Promise.all(
          Array.from(
            { length: CONCURRENT },
            () => client.getAccessToken(QUERY),
          ),
        );
        if (tokens[CONCURRENT - 1] !== expected) {
          throw new Error("unexpected token");
        }
      },
    });
  }
  atUnload(() => {
    store.close?.();
  });
}
