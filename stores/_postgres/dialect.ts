/**
 * The PostgreSQL dialect of the SQL store engine: double-quoted identifiers
 * (at most 63 characters), `$n` placeholders, prepared statements, the
 * tables of `schema.ts`, saves as one pipelined transaction serialised per
 * user by an advisory lock (`save.ts`), leases by `ON CONFLICT DO UPDATE
 * ... WHERE` with `RETURNING`, and the clock from `clock_timestamp()`.
 *
 * @module
 */

import { hasMethods, type SqlDialect } from "../_sql/dialect.ts";
import { onConflictLease } from "../_sql/leases.ts";
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
  faults: POSTGRES_FAULTS,
  run,
  prepare: (sql, table, lockTable) =>
    prepareSchema(sql, table, lockTable, TRANSACTIONS),
  save: pipelinedSave,
  close: (sql) => sql.end({ timeout: 5 }),
};
