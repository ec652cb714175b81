/**
 * Schema of the PostgreSQL store: creates Zoho's `oauthtoken` table (Zoho's
 * columns as `varchar(4096)`, which holds every value the token model
 * accepts), hash indexes on the lookup columns (equality only, and no
 * B-tree entry limit for 4,096-character tokens), the lease table and the
 * status table when missing, in one transaction serialised across processes by an advisory
 * lock; inspects an existing table, found through the `search_path` (a
 * Python-SDK table names column 9 `redirect_uri`; the declared widths, such
 * as `varchar(255)`, are what its values are checked against).
 *
 * @module
 */

import { MAX_FIELD_LENGTH } from "../../core/token.ts";
import { type SqlSchema, sqlSchema } from "../_sql/dialect.ts";
import {
  columnsOf,
  LEASE_COLUMNS_DDL,
  LOOKUP_COLUMNS,
  tokenColumnsDdl,
} from "../_sql/rows.ts";
import { checkStatusColumns, STATUS_COLUMNS_DDL } from "../_sql/statuses.ts";
import { inTransaction, type TransactionRules } from "../_sql/transaction.ts";
import { postgresLimit } from "../_sql/widths.ts";
import { type PostgresSql, run } from "./client.ts";

/** Longest name PostgreSQL keeps (it truncates longer ones). */
export const MAX_NAME_LENGTH = 63;

/** A validated identifier quoted for PostgreSQL (case kept). */
export function quote(name: string): string {
  return `"${name}"`;
}

/**
 * Refuses a name PostgreSQL would truncate (two tables could then be one).
 *
 * @throws {TypeError} naming the bad value.
 */
export function checkName(name: string): void {
  if (name.length > MAX_NAME_LENGTH) {
    throw new TypeError(
      `Invalid table name ${
        JSON.stringify(name)
      }: PostgreSQL names are at most ${MAX_NAME_LENGTH} characters`,
    );
  }
}

/**
 * DDL of the token table: Zoho's columns, each `varchar(4096)` (PostgreSQL
 * counts characters), `id varchar(10)`, `expiry_time varchar(24)`.
 */
export function tokenTableDdl(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${quote(table)} (${
    tokenColumnsDdl(`varchar(${MAX_FIELD_LENGTH})`)
  })`;
}

/** DDL of the lease table. */
export function lockTableDdl(lockTable: string): string {
  return `CREATE TABLE IF NOT EXISTS ${
    quote(lockTable)
  } (${LEASE_COLUMNS_DDL})`;
}

/** DDL of the status table. */
export function statusTableDdl(statusTable: string): string {
  return `CREATE TABLE IF NOT EXISTS ${
    quote(statusTable)
  } (${STATUS_COLUMNS_DDL})`;
}

function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** Name of the index on a lookup column: `<table>_<column>_idx`, shortened with a hash past 63 characters. */
export function indexName(table: string, column: string): string {
  const suffix = `_${column}_idx`;
  const name = `${table}${suffix}`;
  if (name.length <= MAX_NAME_LENGTH) return name;
  const keep = MAX_NAME_LENGTH - suffix.length - 9;
  return `${table.slice(0, keep)}_${fnv1a(table)}${suffix}`;
}

/**
 * The columns (with their declared types) of the token, lease and status
 * tables, and the leading column of every index of the token table, in one
 * read. Tables are found as unqualified names are: through the
 * `search_path`.
 */
const CATALOGUE =
  "SELECT CASE WHEN a.attrelid = to_regclass(CAST(? AS text)) THEN 'token' " +
  "WHEN a.attrelid = to_regclass(CAST(? AS text)) THEN 'status' " +
  "ELSE 'lock' END AS rel, a.attname AS name, " +
  "format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a " +
  "WHERE a.attrelid IN (to_regclass(CAST(? AS text)), " +
  "to_regclass(CAST(? AS text)), to_regclass(CAST(? AS text))) " +
  "AND a.attnum > 0 AND NOT a.attisdropped " +
  "UNION ALL SELECT 'index', a.attname, NULL FROM pg_index i JOIN pg_attribute a " +
  "ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] " +
  "WHERE i.indrelid = to_regclass(CAST(? AS text))";

type Row = Readonly<Record<string, unknown>>;

async function catalogue(
  sql: PostgresSql,
  table: string,
  lockTable: string,
  statusTable: string,
): Promise<
  { token: Row[]; lock: Row[]; status: Row[]; indexed: Set<string> }
> {
  const t = quote(table);
  const s = quote(statusTable);
  const { rows } = await run(sql, CATALOGUE, [t, s, t, quote(lockTable), s, t]);
  const of = (rel: string) => rows.filter((row) => row.rel === rel);
  return {
    token: of("token"),
    lock: of("lock"),
    status: of("status"),
    indexed: new Set(of("index").map((row) => String(row.name))),
  };
}

/**
 * Makes the tables ready: one read of the catalogue; only when something is
 * missing, one transaction (under an advisory lock on the table's name, so
 * that processes opening at once do not race PostgreSQL's `IF NOT EXISTS`)
 * that creates it, then a second read.
 */
export async function prepareSchema(
  sql: PostgresSql,
  table: string,
  lockTable: string,
  statusTable: string,
  transactions: TransactionRules<PostgresSql>,
): Promise<SqlSchema> {
  const where = `PostgreSQL table "${table}"`;
  let found = await catalogue(sql, table, lockTable, statusTable);
  const names = () => new Set(found.token.map((row) => String(row.name)));
  if (found.token.length > 0) columnsOf(names(), where);
  const ddl: string[] = [];
  if (found.token.length === 0) ddl.push(tokenTableDdl(table));
  for (const column of LOOKUP_COLUMNS) {
    if (!found.indexed.has(column)) {
      ddl.push(
        `CREATE INDEX IF NOT EXISTS ${quote(indexName(table, column))} ON ${
          quote(table)
        } USING hash (${column})`,
      );
    }
  }
  if (found.lock.length === 0) ddl.push(lockTableDdl(lockTable));
  if (found.status.length === 0) {
    ddl.push(statusTableDdl(statusTable));
  } else {
    checkStatusColumns(
      new Set(found.status.map((row) => String(row.name))),
      `PostgreSQL table "${statusTable}"`,
    );
  }
  if (ddl.length > 0) {
    await inTransaction(transactions, sql, async (session) => {
      await session.run(
        "SELECT pg_advisory_xact_lock(hashtext('tokenstore:ddl'), hashtext(?))",
        [table],
      );
      for (const statement of ddl) await session.control(statement);
    });
    found = await catalogue(sql, table, lockTable, statusTable);
  }
  return sqlSchema({
    name: table,
    table: quote(table),
    lockTable: quote(lockTable),
    statusTable: quote(statusTable),
    columns: columnsOf(names(), where),
    limits: new Map(
      found.token.map((row) => [
        String(row.name).toLowerCase(),
        postgresLimit(String(row.type)),
      ]),
    ),
  });
}
