/**
 * Driver plumbing of the MySQL store: the part of an `npm:mysql2` pool it
 * uses (declared here, so that importing the store loads no driver, not
 * even its types), the pool created by
 * {@linkcode createPool} with a dynamic `import()`, transaction sessions on
 * pooled connections, and which driver errors are transient (deadlocks,
 * lock wait timeouts, duplicate keys, lost connections).
 *
 * @module
 */

import type { SqlResult } from "../_sql/dialect.ts";
import { loadDriver } from "../_sql/driver.ts";
import { backendError, type FaultRules } from "../_sql/retry.ts";
import type { SqlSession } from "../_sql/transaction.ts";

/**
 * What a `mysql2/promise` statement resolves: the rows (or a result header
 * with `affectedRows`), and the fields.
 */
export type MysqlQueryResult = [unknown, unknown];

/** Something that runs SQL with `?` parameters: a pool or a connection. */
export interface MysqlQueryable {
  /** Runs one prepared statement. */
  execute(
    sql: string,
    values?: (string | number | null)[],
  ): Promise<MysqlQueryResult>;
  /** Runs SQL text. */
  query(sql: string): Promise<MysqlQueryResult>;
}

/** A connection taken from a {@linkcode MysqlPool}. */
export interface MysqlConnection extends MysqlQueryable {
  /** Gives the connection back to the pool. */
  release(): void;
  /** Closes the connection (the pool opens another). */
  destroy(): void;
}

/**
 * The part of a `mysql2/promise` pool the store uses: any
 * `mysql.createPool(...)` pool fits it. Declared here so that importing the
 * store loads no driver, not even its types (which need Node's).
 *
 * @example Usage
 * ```ts
 * import mysql from "mysql2/promise";
 * import type { MysqlPool } from "@tokenstore/tokenstore/mysql";
 *
 * const pool: MysqlPool = mysql.createPool({
 *   host: "127.0.0.1",
 *   user: "root",
 *   database: "zohooauth",
 * });
 * await pool.end();
 * ```
 */
export interface MysqlPool extends MysqlQueryable {
  /** Takes a connection of the pool (for a transaction). */
  getConnection(): Promise<MysqlConnection>;
  /** Closes every connection. */
  end(): Promise<void>;
}

/** Connection settings of {@linkcode createPool}, defaults applied. */
export interface PoolSettings {
  /** Host name or address. */
  host: string;
  /** TCP port. */
  port: number;
  /** User name. */
  user: string;
  /** Password; never printed. */
  password: string;
  /** Database (schema) holding the tables. */
  database: string;
  /** Most connections the pool opens. */
  connectionLimit: number;
}

/**
 * Loads `npm:mysql2` and creates a pool; nothing connects until first use.
 *
 * @throws {TokenStoreError} `BACKEND` when the driver cannot be loaded.
 */
export async function createPool(settings: PoolSettings): Promise<MysqlPool> {
  const mysql = await loadDriver<typeof import("mysql2/promise")>(
    "mysql2/promise",
    "MySQL",
    "mysql2",
  );
  try {
    return mysql.createPool({
      ...settings,
      charset: "utf8mb4",
      waitForConnections: true,
      queueLimit: 0,
      enableKeepAlive: true,
      connectTimeout: 10_000,
    });
  } catch (error) {
    throw backendError(MYSQL_FAULTS, "create MySQL pool", error, [
      settings.password,
    ]);
  }
}

/** A driver error's `errno`, or `-1`. */
function errnoOf(error: unknown): number {
  const errno = (error as { errno?: unknown } | null)?.errno;
  return typeof errno === "number" ? errno : -1;
}

/** `ER_LOCK_DEADLOCK`. */
export const ER_LOCK_DEADLOCK = 1213;
/** `ER_LOCK_WAIT_TIMEOUT`. */
export const ER_LOCK_WAIT_TIMEOUT = 1205;
/** `ER_DUP_ENTRY`: a taken primary key (a fresh id drawn twice, or a racing insert of one id). */
export const ER_DUP_ENTRY = 1062;
/** `ER_DUP_KEYNAME`: an index of that name exists. */
export const ER_DUP_KEYNAME = 1061;
/** `ER_TOO_LONG_KEY`: an index wider than the row format allows. */
export const ER_TOO_LONG_KEY = 1071;

/** A pooled connection that was lost: another one will be opened. */
const LOST = new Set([
  "PROTOCOL_CONNECTION_LOST",
  "ECONNRESET",
  "EPIPE",
  "ER_CONNECTION_KILLED",
  "ER_SERVER_SHUTDOWN",
]);

/**
 * Why an operation may be worth running again: `"conflict"` (deadlock, lock
 * wait timeout, duplicate key), `"connection"` (a pooled connection was lost,
 * e.g. the server restarted or killed it: another one will be opened), or
 * `null` (anything else, such as a server that cannot be reached at all).
 */
export function retryKind(error: unknown): "conflict" | "connection" | null {
  const errno = errnoOf(error);
  if (
    errno === ER_LOCK_DEADLOCK || errno === ER_LOCK_WAIT_TIMEOUT ||
    errno === ER_DUP_ENTRY
  ) {
    return "conflict";
  }
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  if (
    LOST.has(code) ||
    (typeof e?.message === "string" && e.message.includes("closed state"))
  ) {
    return "connection";
  }
  return null;
}

/** Whether the driver error is this MySQL error number. */
export function isErrno(error: unknown, errno: number): boolean {
  return errnoOf(error) === errno;
}

/** How many times a conflicting operation is run again. */
export const CONFLICT_RETRIES = 12;
/**
 * How many times an operation whose connection was lost is run again (each
 * time on another pooled connection, which may have been lost too).
 */
export const CONNECTION_RETRIES = 3;

/**
 * MySQL's transient faults ({@linkcode retryKind}): conflicts up to
 * {@linkcode CONFLICT_RETRIES} times, lost connections up to
 * {@linkcode CONNECTION_RETRIES} times (never once a `COMMIT` was sent);
 * the driver's errors carry the statement and its values, so `cause` is a
 * scrubbed copy.
 */
export const MYSQL_FAULTS: FaultRules = {
  classify: retryKind,
  retries: { conflict: CONFLICT_RETRIES, connection: CONNECTION_RETRIES },
  baseDelayMs: 8,
  maxDelayMs: 250,
  keepCause: false,
};

/**
 * A pooled connection as a transaction session: statements with values are
 * prepared (`execute`), `START TRANSACTION`/`COMMIT` plain text (`query`).
 */
export async function mysqlSession(pool: MysqlPool): Promise<SqlSession> {
  const connection = await pool.getConnection();
  return {
    run: async (sql, params) =>
      resultOf(await connection.execute(sql, [...params])),
    control: async (sql) => {
      await connection.query(sql);
    },
    release: () => connection.release(),
    isLost: (error) => retryKind(error) === "connection",
    destroy: () => connection.destroy(),
  };
}

/** What `execute` resolved, as the engine's result. */
export function resultOf(
  [result]: [unknown, unknown],
): SqlResult {
  return Array.isArray(result) ? { rows: result, rowsAffected: 0 } : {
    rows: [],
    rowsAffected: (result as { affectedRows: number }).affectedRows,
  };
}
