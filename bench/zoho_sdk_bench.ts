/**
 * What the Zoho CRM SDK pays for a token when its store is the bridge of
 * `stores/zoho_sdk.ts`: `findToken` by user signature on a fresh token
 * (expires in an hour), cache warm, against the SDK's own stores on the same
 * 1,000 tokens — its `FileStore` on an `sdk_tokens.txt` (`baseline: true`)
 * and its `DBStore` on MySQL. Target: the bridge ≤ 10 µs a call and ≥ 100×
 * faster than the `FileStore`.
 *
 * - The SDK is the real `@zohocrm/typescript-sdk-8.0` of deno.json; no SDK
 *   logger is initialised (its stores need none, and nothing is printed).
 * - `FileStore`: the file is written in the SDK's own CSV layout (header
 *   `id,user_name,…,api_domain`, no quoting, expiry in epoch ms), and the
 *   user looked up is the 501st of 1,000 rows. It reads and splits the whole
 *   file on every call.
 * - `DBStore`: a table made with Zoho's own DDL (`varchar(255)` columns, no
 *   index but the primary key, as the SDK's users have it), named
 *   `tsbench_<epoch>_<random>_zoho_sdk` and dropped at the end. The SDK opens
 *   a new connection (npm `mysql` 2.18) for every call. Runs when
 *   `MYSQL_URL` is set.
 * - The bridge, over a `MemoryTokenStore` and over a `FileTokenStore` in
 *   `zoho-csv` format on the very file the SDK's `FileStore` reads, each with
 *   a `TokenClient` whose `fetch` throws (the tokens are fresh: nothing is
 *   refreshed). One call warms the cache before the run. Each call builds a
 *   new SDK `OAuthToken` with a `UserSignature`, as the SDK does, on every
 *   row; `client.getToken({ userName })` rows show the client alone.
 *
 * Run: `deno bench -A bench/zoho_sdk_bench.ts`
 *
 * @module
 */

import * as sdk from "@zohocrm/typescript-sdk-8.0";
import { join } from "@std/path";
import type { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStore } from "../core/token_store.ts";
import { FileTokenStore } from "../stores/file.ts";
import { createZohoSdkStore } from "../stores/zoho_sdk.ts";
import { createZohoMysqlTable } from "../tests/fixtures/zoho_tables.ts";
import {
  assertSeeded,
  atUnload,
  CLIENT_ID,
  collectGarbage,
  makeTokens,
  tempDir,
} from "./_data.ts";
import {
  dropTables,
  dropTablesSync,
  runPrefix,
  TABLE_PREFIX,
} from "./_mysql_tables.ts";
import { OPERATION_TOKENS, seededMemoryStore, seedMysql } from "./_seed.ts";
import mysql from "mysql2/promise";

const GROUP = "zoho-sdk findToken by user (fresh token, 1,000 tokens)";
/** The SDK's `sdk_tokens.txt` header (its `FileStore` reads by position). */
const CSV_HEADER =
  "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain";

const tokens = makeTokens(OPERATION_TOKENS, "zoho-sdk");
/** In the middle of the file: the `FileStore` scans half of it. */
const target = tokens[Math.floor(tokens.length / 2)];
const USER = target.userName!;
const expected = target.accessToken!;

/** What the SDK passes its store before every API call: a user signature. */
function sdkQuery(): sdk.OAuthToken {
  return new sdk.OAuthToken(
    null,
    null,
    null,
    null,
    null,
    null,
    null,
    new sdk.UserSignature(USER),
  );
}

/**
 * Fails the run unless `found` is an SDK `OAuthToken` carrying the target's
 * access token (the SDK's stores are typed `Token | null | void`).
 */
function check(what: string, found: unknown): void {
  if (
    !(found instanceof sdk.OAuthToken) || found.getAccessToken() !== expected
  ) {
    throw new Error(`${what} did not find the seeded token`);
  }
}

/** One row of `sdk_tokens.txt` as the SDK's `FileStore.saveToken` writes it. */
function csvRow(token: OAuthToken): string {
  return [
    token.id,
    token.userName,
    token.clientId,
    token.clientSecret,
    token.refreshToken,
    token.accessToken,
    token.grantToken,
    token.expiresAt === undefined ? undefined : String(token.expiresAt),
    token.redirectUrl,
    token.apiDomain,
  ].map((value) => value ?? "").join(",");
}

const dir = await tempDir("zoho_sdk");
const path = join(dir, "sdk_tokens.txt");
await Deno.writeTextFile(
  path,
  [CSV_HEADER, ...tokens.map(csvRow)].join("\n"),
  { mode: 0o600 },
);

// The SDK's FileStore (the baseline).
const fileStore = new sdk.FileStore(path);
check("The SDK's FileStore", await fileStore.findToken(sdkQuery()));
Deno.bench({
  name: "SDK FileStore",
  group: GROUP,
  baseline: true,
  async fn() {
    check("The SDK's FileStore", await fileStore.findToken(sdkQuery()));
  },
});

// The SDK's DBStore on a Zoho-made MySQL table.
const mysqlUrl = Deno.env.get("MYSQL_URL") || undefined;
if (mysqlUrl !== undefined) {
  await dropTables(mysqlUrl, TABLE_PREFIX, true);
  const prefix = runPrefix();
  const table = `${prefix}zoho_sdk`;
  atUnload(() => dropTablesSync(mysqlUrl, prefix));
  await createZohoMysqlTable(table);
  const pool = mysql.createPool({ uri: mysqlUrl, connectionLimit: 1 });
  try {
    await seedMysql(pool, table, tokens);
  } finally {
    await pool.end();
  }
  const url = new URL(mysqlUrl);
  const dbStore = new sdk.DBStore(
    url.hostname,
    decodeURIComponent(url.pathname.slice(1)),
    table,
    decodeURIComponent(url.username) || "root",
    decodeURIComponent(url.password),
    Number(url.port || 3306),
  );
  check("The SDK's DBStore", await dbStore.findToken(sdkQuery()));
  Deno.bench({
    name: "SDK DBStore (MySQL)",
    group: GROUP,
    async fn() {
      check("The SDK's DBStore", await dbStore.findToken(sdkQuery()));
    },
  });
}

// The bridge, over a memory store and over the SDK's file itself.
const csvStore = new FileTokenStore({ path, format: "zoho-csv" });
atUnload(() => {
  csvStore.close();
});
assertSeeded(
  "the zoho-csv file store",
  await csvStore.findToken({ userName: USER }),
  target,
);
const backings: [string, TokenStore][] = [
  ["memory", await seededMemoryStore(tokens)],
  ["file-zoho-csv", csvStore],
];
for (const [label, store] of backings) {
  const client = new TokenClient({
    store,
    clientId: CLIENT_ID,
    clientSecret: "bench-secret",
    fetch: () =>
      Promise.reject(new Error("The tokens are fresh: nothing to request")),
  });
  const sdkStore = createZohoSdkStore({ client, sdk });
  check(`The bridge over ${label}`, await sdkStore.findToken(sdkQuery()));
  Deno.bench({
    name: `bridge over ${label}`,
    group: GROUP,
    async fn() {
      check(`The bridge over ${label}`, await sdkStore.findToken(sdkQuery()));
    },
  });
  Deno.bench({
    name: `client.getToken over ${label}`,
    group: GROUP,
    async fn() {
      if (
        (await client.getToken({ userName: USER })).accessToken !== expected
      ) {
        throw new Error(`The client over ${label} did not find the token`);
      }
    },
  });
}

collectGarbage();
