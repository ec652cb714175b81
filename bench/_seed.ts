/**
 * Fast seeding of many tokens in each store's own layout, so that 100,000
 * tokens take seconds rather than the minutes of one `saveToken` each:
 *
 * - Deno KV: the documented key layout (token, index entries, counters),
 *   computed by `tests/_kv_layout.ts`, in atomic batches;
 * - SQL: multi-row `INSERT`s in one transaction, rows from the store's own
 *   `tokenToRow`, into the table (and indexes) the store created;
 * - file: the store's own JSON or Zoho CSV formatter, written once.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { OAuthToken } from "../core/token.ts";
import { DEFAULT_CSV_LAYOUT, formatZohoCsv } from "../stores/_file/zoho_csv.ts";
import { formatTokenJson } from "../stores/_file/json.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import type { LibsqlClient } from "../stores/_libsql/client.ts";
import type { Pool as MysqlPool } from "mysql2/promise";
import { COLUMN_LIST, COLUMNS, tokenToRow } from "../stores/_sql/rows.ts";
import { atUnload } from "./_data.ts";
import { expectedLayout } from "../tests/_kv_layout.ts";

/** Tokens the operation benchmarks run against. */
export const OPERATION_TOKENS = 1_000;
/** Token counts of the scaling groups. */
export const LEVELS: readonly number[] = [100, 1_000, 10_000, 100_000];
/** Token counts of the file store's scaling groups (it rewrites the whole file). */
export const FILE_LEVELS: readonly number[] = [100, 1_000, 10_000];

/** SHA-256, base64url without padding, as the KV layout hashes values. */
function h(value: string): string {
  return createHash("sha256").update(value).digest("base64url");
}

/**
 * Every key and value `KvTokenStore` writes for `tokens` (each with an id
 * and its own user, refresh and access token, so every counter is 1).
 */
export function kvLayout(
  prefix: Deno.KvKey,
  tokens: readonly OAuthToken[],
): [Deno.KvKey, unknown][] {
  const entries: [Deno.KvKey, unknown][] = [];
  for (const token of tokens) {
    const id = token.id!;
    const client = token.clientId === undefined ? "" : h(token.clientId);
    entries.push([[...prefix, "token", id], token.toRecord()]);
    const natural: [string, string[]][] = [];
    if (token.userName !== undefined) {
      natural.push(["user", [h(token.userName), client]]);
    }
    if (token.accessToken !== undefined) {
      natural.push(["access", [h(token.accessToken)]]);
    }
    if (token.grantToken !== undefined) {
      natural.push(["grant", [h(token.grantToken), client]]);
    }
    if (token.refreshToken !== undefined) {
      natural.push(["refresh", [h(token.refreshToken), client]]);
    }
    for (const [kind, group] of natural) {
      entries.push([[...prefix, `by_${kind}`, ...group, id], true]);
      entries.push([[...prefix, "uniq", kind, ...group], 1]);
    }
  }
  return entries;
}

/** Deno KV's limits per atomic operation, with margin. */
const KV_MUTATIONS = 900;
const KV_KEY_BYTES = 70 * 1024;

/**
 * The entries `KvTokenStore` would write for `tokens` under `prefix`, in key
 * order, so that writing them fills the B-tree sequentially. The layout is
 * checked against `tests/_kv_layout.ts` on a sample first.
 */
export async function kvEntries(
  prefix: Deno.KvKey,
  tokens: readonly OAuthToken[],
): Promise<[Deno.KvKey, unknown][]> {
  const sample = tokens.slice(0, 20);
  const expected = await expectedLayout(prefix, [...sample]);
  const mine = kvLayout(prefix, sample);
  if (
    mine.length !== expected.size ||
    mine.some(([key, value]) =>
      JSON.stringify(expected.get(JSON.stringify(key))) !==
        JSON.stringify(value)
    )
  ) {
    throw new Error("The bench's Deno KV layout differs from the store's");
  }
  // Parts joined by a character below every other sort as Deno KV orders
  // tuples of strings.
  return kvLayout(prefix, tokens)
    .map((entry) => ({ entry, order: entry[0].join("\u0000") }))
    .sort((a, b) => a.order < b.order ? -1 : a.order > b.order ? 1 : 0)
    .map(({ entry }) => entry);
}

/** Opens a Deno KV database, closed when the bench module unloads. */
export async function openKv(path: string): Promise<Deno.Kv> {
  const kv = await Deno.openKv(path);
  atUnload(() => kv.close());
  return kv;
}

/** Writes entries from {@linkcode kvEntries} in atomic batches. */
export async function seedKv(
  kv: Deno.Kv,
  entries: readonly [Deno.KvKey, unknown][],
): Promise<void> {
  const encoder = new TextEncoder();
  const inFlight: Promise<void>[] = [];
  let op = kv.atomic();
  let mutations = 0;
  let bytes = 0;
  const commit = async () => {
    if (mutations === 0) return;
    inFlight.push(
      op.commit().then((result) => {
        if (!result.ok) throw new Error("Seeding Deno KV failed");
      }),
    );
    op = kv.atomic();
    mutations = bytes = 0;
    if (inFlight.length >= 4) await Promise.all(inFlight.splice(0));
  };
  for (const [key, value] of entries) {
    const size = key.reduce<number>(
      (n, part) => n + encoder.encode(String(part)).length + 2,
      0,
    );
    if (mutations + 1 > KV_MUTATIONS || bytes + size > KV_KEY_BYTES) {
      await commit();
    }
    op.set(key, value);
    mutations++;
    bytes += size;
  }
  await commit();
  await Promise.all(inFlight);
}

/** Rows per multi-row `INSERT`. */
const SQL_BATCH = 500;

function insertChunks(
  tokens: readonly OAuthToken[],
): { marks: string; values: (string | null)[]; rows: (string | null)[][] }[] {
  const row = `(${COLUMNS.map(() => "?").join(", ")})`;
  const chunks = [];
  for (let i = 0; i < tokens.length; i += SQL_BATCH) {
    const rows = tokens.slice(i, i + SQL_BATCH).map(tokenToRow);
    chunks.push({
      marks: rows.map(() => row).join(", "),
      values: rows.flat(),
      rows,
    });
  }
  return chunks;
}

/**
 * Inserts `tokens` into a libSQL table the store has created, in one write
 * transaction.
 */
export async function seedLibsql(
  client: LibsqlClient,
  table: string,
  tokens: readonly OAuthToken[],
): Promise<void> {
  await client.batch(
    insertChunks(tokens).map(({ marks, values }) => ({
      sql: `INSERT INTO ${table} (${COLUMN_LIST}) VALUES ${marks}`,
      args: values,
    })),
    "write",
  );
}

/** Inserts `tokens` into a MySQL table the store has created, in one transaction. */
export async function seedMysql(
  pool: MysqlPool,
  table: string,
  tokens: readonly OAuthToken[],
): Promise<void> {
  const connection = await pool.getConnection();
  try {
    await connection.beginTransaction();
    for (const { rows } of insertChunks(tokens)) {
      await connection.query(
        `INSERT INTO \`${table}\` (${COLUMN_LIST}) VALUES ?`,
        [rows],
      );
    }
    await connection.commit();
  } finally {
    connection.release();
  }
}

/** Writes a token file in the file store's own format (mode 0600). */
export async function writeTokenFile(
  path: string,
  format: "json" | "zoho-csv",
  tokens: readonly OAuthToken[],
): Promise<void> {
  const text = format === "json"
    ? formatTokenJson(tokens)
    : formatZohoCsv(tokens, DEFAULT_CSV_LAYOUT);
  await Deno.writeTextFile(path, text, { mode: 0o600 });
}

/**
 * A memory store holding `tokens`, saved with their ids (found by id, so
 * seeding is linear).
 */
export async function seededMemoryStore(
  tokens: readonly OAuthToken[],
): Promise<MemoryTokenStore> {
  const store = new MemoryTokenStore();
  for (const token of tokens) await store.saveToken(token);
  return store;
}
