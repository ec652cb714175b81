/**
 * Schema of the MySQL store: creates Zoho's `oauthtoken` table (Zoho's
 * columns, as `text` so that every value the token model accepts fits), its
 * lookup indexes, the lease table and the status table when missing (safe
 * to race: `IF NOT
 * EXISTS`, and a concurrently created index is recognised by its error
 * number), inspects an existing table (a Python-SDK table names column 9
 * `redirect_uri`; the column widths and character sets, such as Zoho's
 * `varchar(255)`, are what its values are checked against).
 *
 * @module
 */

import { type SqlSchema, sqlSchema } from "../_sql/dialect.ts";
import {
  columnsOf,
  LEASE_COLUMNS_DDL,
  LOOKUP_COLUMNS,
  tokenColumnsDdl,
} from "../_sql/rows.ts";
import { checkStatusColumns, STATUS_COLUMNS_DDL } from "../_sql/statuses.ts";
import { mysqlLimit } from "../_sql/widths.ts";
import {
  ER_DUP_KEYNAME,
  ER_TOO_LONG_KEY,
  isErrno,
  type MysqlPool,
} from "./client.ts";

/** Table options of the tables the store creates (full Unicode, transactions). */
export const TABLE_OPTIONS =
  "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/** A validated identifier quoted for MySQL. */
export function quote(name: string): string {
  return `\`${name}\``;
}

/**
 * DDL of the token table: Zoho's columns (the Zoho SDKs' MySQL `DBStore`
 * reads and writes it unchanged) as `text` (65,535 bytes, kept off the row),
 * which holds any 4,096-character value (12,288 bytes at most in utf8mb4),
 * where even four `varchar(4096)` would pass MySQL's 65,535-byte row limit;
 * `id varchar(10)`, `expiry_time varchar(24)`.
 */
export function tokenTableDdl(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${quote(table)} (${
    tokenColumnsDdl("text")
  }) ${TABLE_OPTIONS}`;
}

/** DDL of the lease table. */
export function lockTableDdl(lockTable: string): string {
  return `CREATE TABLE IF NOT EXISTS ${
    quote(lockTable)
  } (${LEASE_COLUMNS_DDL}) ${TABLE_OPTIONS}`;
}

/** DDL of the status table (`utf8mb4_bin`: ids compare exactly). */
export function statusTableDdl(statusTable: string): string {
  return `CREATE TABLE IF NOT EXISTS ${
    quote(statusTable)
  } (${STATUS_COLUMNS_DDL}) ${TABLE_OPTIONS}`;
}

/** Name of the index the store creates on a lookup column. */
export function indexName(column: string): string {
  return `idx_${column}`;
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

/** Characters of a `text` lookup column that its index covers. */
const TEXT_PREFIX = 255;
/** The prefix of an index under an old row format's 767-byte keys. */
const SHORT_PREFIX = 191;

async function createIndex(
  pool: MysqlPool,
  table: string,
  column: string,
  isText: boolean,
): Promise<void> {
  const create = (width: string) =>
    pool.query(
      `CREATE INDEX ${indexName(column)} ON ${
        quote(table)
      } (${column}${width})`,
    );
  try {
    // a text column is indexed by a prefix; lookups compare the whole value
    await create(isText ? `(${TEXT_PREFIX})` : "");
  } catch (error) {
    if (isErrno(error, ER_DUP_KEYNAME)) return; // another process made it
    if (!isErrno(error, ER_TOO_LONG_KEY)) throw error;
    // an old row format (767-byte keys): index a shorter prefix instead
    try {
      await create(`(${SHORT_PREFIX})`);
    } catch (again) {
      if (!isErrno(again, ER_DUP_KEYNAME)) throw again;
    }
  }
}

const COLUMN_INFO =
  "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, DATA_TYPE AS dt, COLUMN_TYPE AS ct, " +
  "CHARACTER_MAXIMUM_LENGTH AS mc, CHARACTER_OCTET_LENGTH AS mb, " +
  "CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS " +
  "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?, ?)";

/**
 * Makes the tables ready: one read of the catalogue (columns with their
 * types, widths and character sets), then only what is missing: the token
 * table ({@linkcode tokenTableDdl}, then read again), an index on each lookup
 * column that does not lead an index yet (a prefix of a `text` column), the
 * lease table and the status table.
 */
export async function prepareSchema(
  pool: MysqlPool,
  table: string,
  lockTable: string,
  statusTable: string,
): Promise<SqlSchema> {
  let found = await rows(pool, COLUMN_INFO, [table, lockTable, statusTable]);
  const rowsOf = (name: string) =>
    found.filter((row) => String(row.t).toLowerCase() === name.toLowerCase());
  const lockNames = rowsOf(lockTable);
  const statusNames = rowsOf(statusTable);
  if (statusNames.length > 0) {
    checkStatusColumns(
      new Set(statusNames.map((row) => String(row.c).toLowerCase())),
      `MySQL table "${statusTable}"`,
    );
  }
  if (rowsOf(table).length === 0) {
    await pool.query(tokenTableDdl(table));
    // another process may have created it first, with other columns
    found = await rows(pool, COLUMN_INFO, [table, table, table]);
  }
  const info = rowsOf(table);
  const columns = columnsOf(
    new Set(info.map((row) => String(row.c).toLowerCase())),
    `MySQL table "${table}"`,
  );
  const limits = new Map(info.map((row) => [
    String(row.c).toLowerCase(),
    mysqlLimit({
      dataType: String(row.dt),
      columnType: String(row.ct),
      maxChars: row.mc,
      maxBytes: row.mb,
      charset: row.cs,
    }),
  ]));
  const indexed = new Set(
    (await rows(
      pool,
      "SELECT COLUMN_NAME AS c FROM information_schema.STATISTICS " +
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND SEQ_IN_INDEX = 1",
      [table],
    )).map((row) => String(row.c).toLowerCase()),
  );
  for (const column of LOOKUP_COLUMNS) {
    if (indexed.has(column)) continue;
    const type = String(
      info.find((row) => String(row.c).toLowerCase() === column)?.dt,
    );
    await createIndex(pool, table, column, /text|blob/i.test(type));
  }
  if (lockNames.length === 0) await pool.query(lockTableDdl(lockTable));
  if (statusNames.length === 0) await pool.query(statusTableDdl(statusTable));
  return sqlSchema({
    name: table,
    table: quote(table),
    lockTable: quote(lockTable),
    statusTable: quote(statusTable),
    columns,
    limits,
  });
}
