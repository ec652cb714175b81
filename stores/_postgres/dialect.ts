/**
 * The PostgreSQL dialect of the SQL store engine: double-quoted identifiers
 * (at most 63 characters), `$n` placeholders, prepared statements, the
 * tables of `schema.ts`, saves as one pipelined transaction serialised per
 * user by an advisory lock (`save.ts`), leases by `ON CONFLICT DO UPDATE
 * ... WHERE` with `RETURNING`, statuses by `ON CONFLICT DO UPDATE`, a
 * token's deletes as one statement (data-modifying `WITH` clauses), and the
 * clock from `clock_timestamp()`.
 *
 * @module
 */

import {
  hasMethods,
  type SqlDialect,
  type SqlStatement,
} from "../_sql/dialect.ts";
import { onConflictLease } from "../_sql/leases.ts";
import { onConflictStatusPut } from "../_sql/statuses.ts";
import type { TransactionRules } from "../_sql/transaction.ts";
import {
  POSTGRES_FAULTS,
  postgresSession,
  type PostgresSql,
  run,
} from "./client.ts";
import { pipelinedSave } from "./save.ts";
import { checkName, prepareSchema } from "./schema.ts";

/** The database's clock in epoch milliseconds, as an SQL expression. */
export const NOW_MS =
  "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS bigint)";

/** Transactions of the schema preparation. */
const TRANSACTIONS: TransactionRules<PostgresSql> = {
  session: postgresSession,
  begin: ["BEGIN"],
};

/**
 * Statements on different tables as one statement, all or none: each but
 * the last a data-modifying `WITH` clause (all see one snapshot, so the
 * statements must not touch the same rows), parameters in order. One round
 * trip, no reserved connection.
 */
export function asOneStatement(
  statements: readonly SqlStatement[],
): SqlStatement {
  const last = statements[statements.length - 1];
  const clauses = statements.slice(0, -1).map(({ sql }, i) =>
    `s${i} AS (${sql})`
  );
  return {
    sql: clauses.length === 0
      ? last.sql
      : `WITH ${clauses.join(", ")} ${last.sql}`,
    params: statements.flatMap(({ params }) => params),
  };
}

/** PostgreSQL, as the store engine sees it. */
export const POSTGRES: SqlDialect<PostgresSql> = {
  name: "PostgreSQL",
  clientOption: ["sql", "an npm:postgres client"],
  isClient: (value): value is PostgresSql =>
    hasMethods(value, "unsafe", "reserve"),
  checkName,
  nowMs: NOW_MS,
  exactEquality: true,
  idEquals: "id = ?",
  takeLease: (schema) => onConflictLease(schema, NOW_MS),
  leaseReturnsOwner: true,
  putStatus: onConflictStatusPut,
  faults: POSTGRES_FAULTS,
  run,
  atomic: (sql, statements) => {
    const { sql: text, params } = asOneStatement(statements);
    return run(sql, text, params);
  },
  prepare: (sql, table, lockTable, statusTable) =>
    prepareSchema(sql, table, lockTable, statusTable, TRANSACTIONS),
  save: pipelinedSave,
  close: (sql) => sql.end({ timeout: 5 }),
};
