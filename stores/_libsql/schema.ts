/**
 * Schema and SQL of the libSQL store: creates Zoho's `oauthtoken` table
 * (Zoho's columns, declared wide enough for every value the token model
 * accepts), its lookup indexes, the lease table and the status table when
 * missing, inspects an
 * existing table (a Python-SDK table names column 9 `redirect_uri`; the
 * declared widths, such as Zoho's `varchar(255)`, are what its values are
 * checked against), and builds the upsert: one write batch.
 *
 * @module
 */

import { newTokenId } from "../../core/id.ts";
import { MAX_FIELD_LENGTH } from "../../core/token.ts";
import type { QueryPlan } from "../../core/token_store.ts";
import { type SqlSchema, sqlSchema } from "../_sql/dialect.ts";
import {
  columnsOf,
  LOOKUP_COLUMNS,
  planToWhere,
  tokenColumnsDdl,
} from "../_sql/rows.ts";
import { checkStatusColumns, STATUS_COLUMNS_DDL } from "../_sql/statuses.ts";
import { declaredLimit } from "../_sql/widths.ts";
import {
  BUSY_TIMEOUT_MS,
  type LibsqlClient,
  type LibsqlStatement,
} from "./client.ts";

/**
 * DDL of the token table: Zoho's columns (the SQLite SDKs read it
 * unchanged), each declared as wide as the token model allows
 * (`varchar(4096)`, `expiry_time varchar(24)`).
 */
export function tokenTableDdl(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (${
    tokenColumnsDdl(`varchar(${MAX_FIELD_LENGTH})`)
  })`;
}

/** DDL of the lease table. */
export function lockTableDdl(lockTable: string): string {
  return `CREATE TABLE IF NOT EXISTS ${lockTable} (lock_key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)`;
}

/** DDL of the status table. */
export function statusTableDdl(statusTable: string): string {
  return `CREATE TABLE IF NOT EXISTS ${statusTable} (${STATUS_COLUMNS_DDL})`;
}

function limitsOf(rows: readonly Readonly<Record<string, unknown>>[]) {
  return new Map(
    rows.map((row) => [
      String(row.name).toLowerCase(),
      declaredLimit(String(row.type ?? "")),
    ]),
  );
}

const TABLE_INFO = "SELECT name, type FROM pragma_table_info(?)";

/**
 * Makes the tables ready: one read of the catalogue, and one write batch
 * (`IF NOT EXISTS` statements, safe to race) only when something is missing;
 * a table created there is read again, in case another process created it
 * first with other widths. File databases get `PRAGMA busy_timeout` first.
 */
export async function prepareSchema(
  client: LibsqlClient,
  table: string,
  lockTable: string,
  statusTable: string,
): Promise<SqlSchema> {
  if (client.protocol === "file") {
    await client.execute(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
  const [tableInfo, lockInfo, statusInfo, indexInfo] = await client.batch([
    { sql: TABLE_INFO, args: [table] },
    { sql: TABLE_INFO, args: [lockTable] },
    { sql: TABLE_INFO, args: [statusTable] },
    {
      sql: "SELECT ii.name AS col FROM pragma_index_list(?) AS il, " +
        "pragma_index_info(il.name) AS ii WHERE ii.seqno = 0",
      args: [table],
    },
  ], "deferred");
  let info = tableInfo.rows;
  const names = new Set(info.map((row) => String(row.name)));
  const indexed = new Set(indexInfo.rows.map((row) => String(row.col)));
  const where = `libSQL table "${table}"`;
  if (names.size > 0) columnsOf(names, where);
  const ddl: string[] = [];
  if (names.size === 0) ddl.push(tokenTableDdl(table));
  for (const column of LOOKUP_COLUMNS) {
    if (!indexed.has(column)) {
      ddl.push(
        `CREATE INDEX IF NOT EXISTS ${table}_${column}_idx ON ${table} (${column})`,
      );
    }
  }
  if (lockInfo.rows.length === 0) ddl.push(lockTableDdl(lockTable));
  if (statusInfo.rows.length === 0) {
    ddl.push(statusTableDdl(statusTable));
  } else {
    checkStatusColumns(
      new Set(statusInfo.rows.map((row) => String(row.name).toLowerCase())),
      `libSQL table "${statusTable}"`,
    );
  }
  if (ddl.length > 0) {
    const results = await client.batch(
      [...ddl, { sql: TABLE_INFO, args: [table] }],
      "write",
    );
    info = results[results.length - 1].rows;
  }
  const columns = columnsOf(
    new Set(info.map((row) => String(row.name))),
    where,
  );
  return sqlSchema({
    name: table,
    table,
    lockTable,
    statusTable,
    columns,
    limits: limitsOf(info),
  });
}

/**
 * The statements of one `saveToken`, run as one write batch. With a plan:
 * replace the first row the plan finds (keeping its id), and insert `values`
 * only if the plan finds none; without: insert. Each statement returns the
 * id it wrote, so exactly one row comes back.
 *
 * @param values The row in {@linkcode COLUMNS} order, id first.
 */
export function saveStatements(
  schema: SqlSchema,
  plan: QueryPlan | null,
  values: (string | null)[],
): LibsqlStatement[] {
  const { table, columns, columnList } = schema;
  const marks = values.map(() => "?").join(", ");
  const insert = `INSERT INTO ${table} (${columnList})`;
  if (plan === null) {
    return [{ sql: `${insert} VALUES (${marks}) RETURNING id`, args: values }];
  }
  const where = planToWhere(plan);
  const set = columns.slice(1).map((column) => `${column} = ?`).join(", ");
  return [{
    sql: `UPDATE ${table} SET ${set} WHERE id = ` +
      `(SELECT id FROM ${table} WHERE ${where.sql} LIMIT 1) RETURNING id`,
    args: [...values.slice(1), ...where.params],
  }, {
    sql: `${insert} SELECT ${marks} WHERE NOT EXISTS ` +
      `(SELECT 1 FROM ${table} WHERE ${where.sql}) RETURNING id`,
    args: [...values, ...where.params],
  }];
}

/**
 * The libSQL save strategy: {@linkcode saveStatements} in one write batch
 * (`BEGIN IMMEDIATE`), a fresh id drawn for a row without one; resolves
 * the id written.
 */
export async function batchSave(
  client: LibsqlClient,
  schema: SqlSchema,
  plan: QueryPlan | null,
  row: readonly (string | null)[],
): Promise<string> {
  const values = [row[0] ?? newTokenId(), ...row.slice(1)];
  const results = await client.batch(
    saveStatements(schema, plan, values),
    "write",
  );
  const written = results.flatMap((result) => result.rows)[0]?.id;
  if (written === undefined || written === null) {
    throw new Error("no row was written");
  }
  return String(written);
}
