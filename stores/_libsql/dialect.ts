/**
 * The libSQL (SQLite, Turso, `sqld`) dialect of the SQL store engine:
 * unquoted identifiers and `?` placeholders as SQLite takes them, the
 * tables of `schema.ts`, upserts and deletes as one write batch, leases by
 * `ON CONFLICT DO UPDATE ... WHERE` with `RETURNING`, statuses by `ON
 * CONFLICT DO UPDATE` (integers read as text: the client throws on one past
 * 2^53), the clock from `julianday('now')`, and busy/constraint errors
 * retried.
 *
 * @module
 */

import { hasMethods, type SqlDialect } from "../_sql/dialect.ts";
import { onConflictLease } from "../_sql/leases.ts";
import { onConflictStatusPut } from "../_sql/statuses.ts";
import { LIBSQL_FAULTS, type LibsqlClient } from "./client.ts";
import { batchSave, prepareSchema } from "./schema.ts";

/** The database's clock in epoch milliseconds, as an SQL expression. */
export const NOW_MS =
  "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/** libSQL, as the store engine sees it. */
export const LIBSQL: SqlDialect<LibsqlClient> = {
  name: "libSQL",
  clientOption: ["client", "an @libsql/client Client"],
  isClient: (value): value is LibsqlClient =>
    hasMethods(value, "execute", "batch"),
  nowMs: NOW_MS,
  exactEquality: true,
  idEquals: "id = ?",
  takeLease: (schema) => onConflictLease(schema, NOW_MS),
  leaseReturnsOwner: true,
  putStatus: onConflictStatusPut,
  readInteger: (column) => `CAST(${column} AS TEXT) AS ${column}`,
  faults: LIBSQL_FAULTS,
  run: (client, sql, params = []) => client.execute({ sql, args: [...params] }),
  atomic: async (client, statements) =>
    (await client.batch(
      statements.map(({ sql, params }) => ({ sql, args: [...params] })),
      "write",
    )).at(-1)!,
  prepare: prepareSchema,
  save: batchSave,
  close: (client) => {
    try {
      client.close();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  },
};
