/**
 * Tables of the MySQL benchmarks: unique names under one prefix per run,
 * leftovers of earlier runs dropped at start, and this run's tables dropped
 * at the end — from a child process, because `unload` handlers cannot wait
 * for async work.
 *
 * Also a script: `deno run -A bench/_mysql_tables.ts <MYSQL_URL> <prefix>`
 * drops every table whose name starts with `<prefix>`.
 *
 * @module
 */

import mysql from "mysql2/promise";
import type { OAuthToken } from "../core/token.ts";
import type { Pool as MysqlPool } from "mysql2/promise";
import { MysqlTokenStore } from "../stores/mysql.ts";
import { atUnload, runScriptSync } from "./_data.ts";
import { seedMysql } from "./_seed.ts";

/** Prefix of every table the benchmarks create. */
export const TABLE_PREFIX = "tsbench_";

/** Leftovers older than this are dropped at start (a concurrent run keeps its own). */
const STALE_SECONDS = 3600;

/**
 * A prefix for this run's tables: `tsbench_<epoch seconds>_<random>_`.
 *
 * @returns The prefix.
 */
export function runPrefix(): string {
  const seconds = Math.floor(Date.now() / 1000);
  return `${TABLE_PREFIX}${seconds}_${
    crypto.randomUUID().replaceAll("-", "").slice(0, 6)
  }_`;
}

/**
 * Drops the tables whose names start with `prefix`; with `staleOnly`, only
 * those of runs started more than an hour ago.
 *
 * @param url `MYSQL_URL`.
 * @param prefix Table name prefix.
 * @param staleOnly Keep tables of recent runs.
 * @returns The names dropped.
 */
export async function dropTables(
  url: string,
  prefix: string,
  staleOnly = false,
): Promise<string[]> {
  const connection = await mysql.createConnection(url);
  try {
    const [rows] = await connection.query(
      "SELECT TABLE_NAME AS name FROM information_schema.TABLES " +
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?",
      [`${prefix.replaceAll("_", "\\_")}%`],
    );
    const now = Date.now() / 1000;
    const names = (rows as { name: string }[]).map((row) => String(row.name))
      .filter((name) => {
        if (!staleOnly) return true;
        const started = Number(name.slice(TABLE_PREFIX.length).split("_")[0]);
        return !(now - started < STALE_SECONDS);
      });
    for (const name of names) {
      await connection.query(`DROP TABLE IF EXISTS \`${name}\``);
    }
    return names;
  } finally {
    await connection.end();
  }
}

/**
 * Drops the tables under `prefix` synchronously, from a child process: for
 * `unload` handlers.
 *
 * @param url `MYSQL_URL`.
 * @param prefix This run's prefix.
 */
export function dropTablesSync(url: string, prefix: string): void {
  runScriptSync(new URL(import.meta.url), [url, prefix]);
}

/** What a MySQL bench module works with. */
export interface MysqlBench {
  /** The pool every store and raw statement uses. */
  pool: MysqlPool;
  /** A new table `<run prefix><name>` holding `tokens`, and a store over it. */
  seeded(
    name: string,
    tokens: readonly OAuthToken[],
  ): Promise<{ table: string; store: MysqlTokenStore }>;
}

/**
 * Drops stale leftovers, opens a pool, and arranges for this run's tables
 * to be dropped when the module unloads.
 *
 * @param url `MYSQL_URL`.
 * @returns The pool and a way to make seeded tables.
 */
export async function openMysqlBench(url: string): Promise<MysqlBench> {
  await dropTables(url, TABLE_PREFIX, true);
  const prefix = runPrefix();
  const pool = mysql.createPool({ uri: url, connectionLimit: 4 });
  atUnload(() => dropTablesSync(url, prefix));
  return {
    pool,
    async seeded(name, tokens) {
      const table = `${prefix}${name}`;
      const store = new MysqlTokenStore({ pool, table });
      await store.getTokens(); // creates the table and its lookup indexes
      await seedMysql(pool, table, tokens);
      return { table, store };
    },
  };
}

if (import.meta.main) {
  const [url, prefix] = Deno.args;
  if (!url || !prefix?.startsWith(TABLE_PREFIX)) {
    console.error(
      `Usage: deno run -A bench/_mysql_tables.ts <MYSQL_URL> <${TABLE_PREFIX}…prefix>`,
    );
    Deno.exit(2);
  }
  await dropTables(url, prefix);
}
