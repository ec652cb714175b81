/**
 * Schema of the MySQL store: creates Zoho's `oauthtoken` table, its lookup
 * indexes and the lease table when missing (safe to race: `IF NOT EXISTS`,
 * and a concurrently created index is recognised by its error number),
 * inspects an existing table (a Python-SDK table names column 9
 * `redirect_uri`), and holds the statements of the store.
 *
 * @module
 */

import { TokenStoreError } from "../core/errors.ts";
import { newTokenId } from "../core/id.ts";
import type { OAuthToken } from "../core/token.ts";
import { matchesPlan, type QueryPlan } from "../core/token_store.ts";
import {
  ER_DUP_KEYNAME,
  ER_TOO_LONG_KEY,
  isErrno,
  type MysqlConnection,
  type MysqlPool,
} from "./_mysql_client.ts";
import { COLUMNS, LOOKUP_COLUMNS, planToWhere, rowToToken } from "./_sql.ts";

/** What the store knows about its tables once they are ready. */
export interface MysqlSchema {
  /** The token table's name, for messages. */
  readonly name: string;
  /** The token table, quoted for SQL. */
  readonly table: string;
  /** The lease table, quoted for SQL. */
  readonly lockTable: string;
  /** The token table's column names in {@linkcode COLUMNS} order. */
  readonly columns: readonly string[];
  /** {@linkcode MysqlSchema.columns} joined for `SELECT`/`INSERT`. */
  readonly columnList: string;
}

/** Table options of the tables the store creates (full Unicode, transactions). */
export const TABLE_OPTIONS =
  "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/** A validated identifier quoted for MySQL. */
export function quote(name: string): string {
  return `\`${name}\``;
}

/** Zoho's DDL for the token table (the Zoho SDKs' MySQL `DBStore`). */
export function tokenTableDdl(table: string): string {
  const columns = COLUMNS.map(([column]) =>
    column === "id"
      ? "id varchar(10) NOT NULL"
      : `${column} varchar(${column === "expiry_time" ? 20 : 255})`
  );
  return `CREATE TABLE IF NOT EXISTS ${quote(table)} (${
    columns.join(", ")
  }, PRIMARY KEY (id)) ${TABLE_OPTIONS}`;
}

/** DDL of the lease table. */
export function lockTableDdl(lockTable: string): string {
  return `CREATE TABLE IF NOT EXISTS ${
    quote(lockTable)
  } (lock_key varchar(255) NOT NULL PRIMARY KEY, ` +
    `owner varchar(64) NOT NULL, expires_at bigint NOT NULL) ${TABLE_OPTIONS}`;
}

/** Name of the index the store creates on a lookup column. */
export function indexName(column: string): string {
  return `idx_${column}`;
}

function columnsOf(names: Set<string>, table: string): string[] {
  return COLUMNS.map(([column]) => {
    if (names.has(column)) return column;
    if (column === "redirect_url" && names.has("redirect_uri")) {
      return "redirect_uri";
    }
    throw new TokenStoreError(
      "BACKEND",
      `Cannot use MySQL table "${table}": it has no column "${column}"`,
    );
  });
}

type Row = Record<string, unknown>;

async function rows(
  pool: MysqlPool,
  sql: string,
  params: string[],
): Promise<Row[]> {
  const [result] = await pool.execute(sql, params);
  return result as Row[];
}

async function createIndex(
  pool: MysqlPool,
  table: string,
  column: string,
): Promise<void> {
  const create = (width: string) =>
    pool.query(
      `CREATE INDEX ${indexName(column)} ON ${
        quote(table)
      } (${column}${width})`,
    );
  try {
    await create("");
  } catch (error) {
    if (isErrno(error, ER_DUP_KEYNAME)) return; // another process made it
    if (!isErrno(error, ER_TOO_LONG_KEY)) throw error;
    // an old row format (767-byte keys): index a prefix instead
    try {
      await create("(191)");
    } catch (again) {
      if (!isErrno(again, ER_DUP_KEYNAME)) throw again;
    }
  }
}

/**
 * Makes the tables ready: one read of the catalogue, then only what is
 * missing: the token table (Zoho's DDL), an index on each lookup column that
 * does not lead an index yet, and the lease table.
 */
export async function prepareSchema(
  pool: MysqlPool,
  table: string,
  lockTable: string,
): Promise<MysqlSchema> {
  const found = await rows(
    pool,
    "SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS " +
      "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?)",
    [table, lockTable],
  );
  const namesOf = (name: string) =>
    new Set(
      found.filter((row) => String(row.t).toLowerCase() === name.toLowerCase())
        .map((row) => String(row.c).toLowerCase()),
    );
  const names = namesOf(table);
  const lockNames = namesOf(lockTable);
  if (names.size === 0) await pool.query(tokenTableDdl(table));
  const columns = names.size === 0
    ? COLUMNS.map(([column]) => column)
    : columnsOf(names, table);
  const indexed = new Set(
    (await rows(
      pool,
      "SELECT COLUMN_NAME AS c FROM information_schema.STATISTICS " +
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND SEQ_IN_INDEX = 1",
      [table],
    )).map((row) => String(row.c).toLowerCase()),
  );
  for (const column of LOOKUP_COLUMNS) {
    if (!indexed.has(column)) await createIndex(pool, table, column);
  }
  if (lockNames.size === 0) await pool.query(lockTableDdl(lockTable));
  return {
    name: table,
    table: quote(table),
    lockTable: quote(lockTable),
    columns,
    columnList: columns.join(", "),
  };
}

/** Rows of the token table as tokens. */
export function tokensOf(rows: unknown, schema: MysqlSchema): OAuthToken[] {
  const label = `MySQL table "${schema.name}"`;
  return (rows as Row[]).map((row) => rowToToken(row, label));
}

/**
 * The statements of one `saveToken`, inside the caller's transaction: lock
 * the rows the plan selects (or the gap where they would go) with `FOR
 * UPDATE`, pick the one that matches exactly, and replace it keeping its id;
 * otherwise insert `row` (a fresh id when it has none). Resolves the id.
 *
 * @param row The row in {@linkcode COLUMNS} order, id first (`null` if none).
 */
export async function upsert(
  connection: MysqlConnection,
  schema: MysqlSchema,
  plan: QueryPlan | null,
  row: (string | null)[],
): Promise<string> {
  const { table, columns, columnList } = schema;
  let existing: OAuthToken | undefined;
  if (plan !== null) {
    const where = planToWhere(plan);
    const [rows] = await connection.execute(
      `SELECT ${columnList} FROM ${table} WHERE ${where.sql} FOR UPDATE`,
      where.params,
    );
    existing = tokensOf(rows, schema).find((token) => matchesPlan(token, plan));
  }
  if (existing !== undefined) {
    const set = columns.slice(1).map((column) => `${column} = ?`);
    await connection.execute(
      `UPDATE ${table} SET ${set.join(", ")} WHERE id = ?`,
      [...row.slice(1), existing.id!],
    );
    return existing.id!;
  }
  const id = row[0] ?? newTokenId();
  await connection.execute(
    `INSERT INTO ${table} (${columnList}) VALUES (${
      columns.map(() => "?").join(", ")
    })`,
    [id, ...row.slice(1)],
  );
  return id;
}
