/**
 * Tables of the PostgreSQL benchmarks: unique names under one prefix per
 * run, leftovers of earlier runs dropped at start, this run's tables
 * dropped at the end (from a child process, because `unload` handlers
 * cannot wait for async work), and fast seeding (multi-row `INSERT`s in one
 * transaction, rows from the store's own `tokenToRow`).
 *
 * Also a script: `deno run -A bench/_postgres_tables.ts <POSTGRES_URL> <prefix>`
 * drops every table whose name starts with `<prefix>`.
 *
 * @module
 */

import postgres from "postgres";
import type { OAuthToken } from "../core/token.ts";
import { COLUMNS, tokenToRow } from "../stores/_sql/rows.ts";
import { PostgresTokenStore } from "../stores/postgres.ts";
import { atUnload, runScriptSync } from "./_data.ts";

/** Prefix of every table the benchmarks create. */
export const TABLE_PREFIX = "tspgbench_";

/** Leftovers older than this are dropped at start (a concurrent run keeps its own). */
const STALE_SECONDS = 3600;

/** Rows per `INSERT` when seeding. */
const BATCH = 1000;

/**
 * Drops the tables whose names start with `prefix`; with `staleOnly`, only
 * those of runs started more than an hour ago.
 *
 * @param url `POSTGRES_URL`.
 * @param prefix Table name prefix.
 * @param staleOnly Keep tables of recent runs.
 */
export async function dropTables(
  url: string,
  prefix: string,
  staleOnly = false,
): Promise<void> {
  const sql = postgres(url, { onnotice: () => {}, max: 1 });
  try {
    const rows = await sql<{ name: string }[]>`
      SELECT tablename AS name FROM pg_tables
      WHERE schemaname = current_schema() AND starts_with(tablename, ${prefix})`;
    const now = Date.now() / 1000;
    for (const { name } of rows) {
      const started = Number(name.slice(TABLE_PREFIX.length).split("_")[0]);
      if (staleOnly && now - started < STALE_SECONDS) continue;
      await sql`DROP TABLE IF EXISTS ${sql(name)}`;
    }
  } finally {
    await sql.end();
  }
}

/**
 * A prefix for this run's tables: `tspgbench_<epoch seconds>_<random>_`.
 *
 * @returns The prefix.
 */
export function runPrefix(): string {
  return `${TABLE_PREFIX}${Math.floor(Date.now() / 1000)}_${
    crypto.randomUUID().replaceAll("-", "").slice(0, 6)
  }_`;
}

/**
 * Drops the tables whose names start with `prefix` from a child process
 * (`unload` handlers cannot wait for async work).
 *
 * @param url `POSTGRES_URL`.
 * @param prefix This run's prefix.
 */
export function dropTablesSync(url: string, prefix: string): void {
  runScriptSync(new URL(import.meta.url), [url, prefix]);
}

/** What a PostgreSQL bench module works with. */
export interface PostgresBench {
  /** The client every store and raw query uses. */
  sql: postgres.Sql;
  /** A new table `<run prefix><name>` holding `tokens`, and a store over it. */
  seeded(
    name: string,
    tokens: readonly OAuthToken[],
  ): Promise<{ table: string; store: PostgresTokenStore }>;
}

/**
 * Drops stale leftovers, opens a client, and arranges for this run's tables
 * to be dropped when the module unloads.
 *
 * @param url `POSTGRES_URL`.
 * @returns The client and a way to make seeded tables.
 */
export async function openPostgresBench(url: string): Promise<PostgresBench> {
  await dropTables(url, TABLE_PREFIX, true);
  const prefix = runPrefix();
  const sql = postgres(url, { onnotice: () => {}, max: 4 });
  atUnload(() => dropTablesSync(url, prefix));
  const columns = COLUMNS.map(([column]) => column);
  return {
    sql,
    async seeded(name, tokens) {
      const table = `${prefix}${name}`;
      const store = new PostgresTokenStore({ sql, table });
      await store.getTokens(); // creates the table and its lookup indexes
      await sql.begin(async (tx) => {
        for (let i = 0; i < tokens.length; i += BATCH) {
          const rows = tokens.slice(i, i + BATCH).map((token) =>
            Object.fromEntries(tokenToRow(token).map((v, j) => [columns[j], v]))
          );
          await tx`INSERT INTO ${tx(table)} ${tx(rows, columns)}`;
        }
      });
      await sql`ANALYZE ${sql(table)}`;
      return { table, store };
    },
  };
}

if (import.meta.main) {
  const [url, prefix] = Deno.args;
  if (!url || !prefix?.startsWith(TABLE_PREFIX)) {
    console.error(
      `Usage: deno run -A bench/_postgres_tables.ts <POSTGRES_URL> <${TABLE_PREFIX}…prefix>`,
    );
    Deno.exit(2);
  }
  await dropTables(url, prefix);
}
