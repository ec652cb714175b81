/**
 * What a fresh token costs: `TokenClient.getAccessToken` on a token that
 * expires in an hour, on every store, against reading a variable
 * (`baseline: true`), one call at a time and 2,000 concurrent callers. With
 * the cache a call touches no store; `cache: false` rows show the store
 * round trip it saves.
 *
 * MySQL runs when `MYSQL_URL` is set (a table `tsbench_<…>_hot`, dropped at
 * the end).
 *
 * Run: `deno bench -A bench/get_access_token_bench.ts`
 *
 * @module
 */

import { join } from "@std/path";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStore } from "../core/token_store.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import {
  openStoreSpec,
  type StoreSpec,
} from "../tests/fixtures/store_specs.ts";
import { atUnload, CLIENT_ID, tempDir, tokenValue } from "./_data.ts";
import { dropTablesSync, runPrefix } from "./_mysql_tables.ts";

const MYSQL_URL = Deno.env.get("MYSQL_URL") || undefined;
const USER = "hot@example.com";
const QUERY = { userName: USER };
const CONCURRENT = 2_000;

const dir = await tempDir("tokenstore_hot_");
const specs: [string, StoreSpec | null][] = [
  ["memory", null],
  ["kv-file", { kind: "kv", path: join(dir, "hot.kv") }],
  ["libsql-file", { kind: "libsql", url: `file:${join(dir, "hot.db")}` }],
  ["file-json", { kind: "file", path: join(dir, "hot.json") }],
];
if (MYSQL_URL !== undefined) {
  const prefix = runPrefix();
  specs.push(["mysql", {
    kind: "mysql",
    url: MYSQL_URL,
    table: `${prefix}hot`,
  }]);
  atUnload(() => dropTablesSync(MYSQL_URL, prefix));
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
