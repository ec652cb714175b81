/**
 * The MySQL and MariaDB dialect of the SQL store engine: backquoted
 * identifiers, prepared statements with `?`, the tables of `schema.ts`,
 * saves as `REPEATABLE READ` transactions whose `SELECT ... FOR UPDATE` also
 * locks the gap a missing row would go in, leases by `INSERT ... ON
 * DUPLICATE KEY UPDATE` read back, statuses by `INSERT ... ON DUPLICATE KEY
 * UPDATE`, deletes as one transaction, the clock from `NOW(3)`, and
 * look-alike matches of case-insensitive Zoho tables filtered out.
 *
 * @module
 */

import { hasMethods, type SqlDialect } from "../_sql/dialect.ts";
import { STATUS_COLUMN_LIST, STATUS_COLUMNS } from "../_sql/statuses.ts";
import { atomicStatements, lockedSave } from "../_sql/transaction.ts";
import {
  MYSQL_FAULTS,
  type MysqlPool,
  mysqlSession,
  resultOf,
} from "./client.ts";
import { prepareSchema } from "./schema.ts";

/** The database's clock in epoch milliseconds, as an SQL expression. */
export const NOW_MS = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

/** MySQL, as the store engine sees it. */
export const MYSQL: SqlDialect<MysqlPool> = {
  name: "MySQL",
  clientOption: ["pool", "a mysql2/promise Pool"],
  isClient: (value): value is MysqlPool =>
    hasMethods(value, "getConnection", "execute"),
  nowMs: NOW_MS,
  exactEquality: false,
  // `BINARY` keeps a case-insensitive Zoho table from matching a look-alike id
  idEquals: "id = ? AND BINARY id = BINARY ?",
  // `owner` is assigned first; `expires_at` follows only if the row is now ours
  takeLease: ({ lockTable }) =>
    `INSERT INTO ${lockTable} (lock_key, owner, expires_at) ` +
    `VALUES (?, ?, ${NOW_MS} + ?) ON DUPLICATE KEY UPDATE ` +
    `owner = IF(expires_at <= ${NOW_MS}, VALUES(owner), owner), ` +
    `expires_at = IF(owner = VALUES(owner), VALUES(expires_at), expires_at)`,
  leaseReturnsOwner: false,
  putStatus: ({ statusTable }) =>
    `INSERT INTO ${statusTable} (${STATUS_COLUMN_LIST}) VALUES (${
      STATUS_COLUMNS.map(() => "?").join(", ")
    }) ON DUPLICATE KEY UPDATE ${
      STATUS_COLUMNS.slice(1).map(([column]) => `${column} = VALUES(${column})`)
        .join(", ")
    }`,
  faults: MYSQL_FAULTS,
  run: async (pool, sql, params = []) =>
    resultOf(await pool.execute(sql, [...params])),
  atomic: atomicStatements({
    session: mysqlSession,
    begin: ["START TRANSACTION"],
  }),
  prepare: prepareSchema,
  save: lockedSave("MySQL", {
    session: mysqlSession,
    // whatever the server's default, so that `FOR UPDATE` locks gaps too
    begin: [
      "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
      "START TRANSACTION",
    ],
  }),
  close: (pool) => pool.end(),
};
