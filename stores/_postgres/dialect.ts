/**
 * The PostgreSQL dialect of the SQL store engine: double-quoted identifiers
 * (at most 63 characters), `$n` placeholders, prepared statements, the
 * tables of `schema.ts`, saves as transactions that take an advisory lock
 * per user (`pg_advisory_xact_lock`: `FOR UPDATE` cannot lock a row that
 * does not exist yet, so two first saves of one user would both insert)
 * before locking the rows they look at, leases by `ON CONFLICT DO UPDATE
 * ... WHERE` with `RETURNING`, and the clock from `clock_timestamp()`.
 *
 * @module
 */

import type { SqlDialect } from "../_sql/dialect.ts";
import { onConflictLease } from "../_sql/leases.ts";
import { lockedSave, type TransactionRules } from "../_sql/transaction.ts";
import {
  POSTGRES_FAULTS,
  postgresSession,
  type PostgresSql,
  run,
} from "./client.ts";
import { checkName, prepareSchema } from "./schema.ts";

/** The database's clock in epoch milliseconds, as an SQL expression. */
export const NOW_MS =
  "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS bigint)";

const TRANSACTIONS: TransactionRules<PostgresSql> = {
  session: postgresSession,
  // READ COMMITTED: the advisory lock orders the saves of one user
  begin: ["BEGIN"],
  serialise: "SELECT pg_advisory_xact_lock(hashtext(?), hashtext(?))",
};

/** PostgreSQL, as the store engine sees it. */
export const POSTGRES: SqlDialect<PostgresSql> = {
  name: "PostgreSQL",
  clientOption: ["sql", "an npm:postgres client"],
  isClient: (value): value is PostgresSql => {
    const sql = value as Partial<PostgresSql> | null;
    return (typeof sql === "function" || typeof sql === "object") &&
      sql !== null && typeof sql.unsafe === "function" &&
      typeof sql.reserve === "function";
  },
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
  save: lockedSave("PostgreSQL", TRANSACTIONS),
  close: (sql) => sql.end({ timeout: 5 }),
};
