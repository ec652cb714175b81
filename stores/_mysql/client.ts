/**
 * Driver plumbing of the MySQL store: the `npm:mysql2` types (imported for
 * types only, so importing the store loads no driver), the pool created by
 * {@linkcode createPool} with a dynamic `import()`, transactions, bounded
 * retries of deadlocks, lock wait timeouts and lost connections, and driver
 * errors turned into `TokenStoreError("BACKEND")` without secrets.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- type-only: the driver is loaded by createPool
import type { Pool, PoolConnection } from "npm:mysql2@^3/promise";
import { scrub } from "../../core/_redact.ts";
import { TokenStoreError } from "../../core/errors.ts";

/**
 * A `npm:mysql2@^3/promise` pool (its type only: importing the store loads
 * no driver).
 *
 * @example Usage
 * ```ts ignore
 * import mysql from "npm:mysql2@^3/promise";
 * import type { MysqlPool } from "@tokenstore/tokenstore/mysql";
 *
 * const pool: MysqlPool = mysql.createPool({ host: "127.0.0.1", user: "root", database: "zohooauth" });
 * ```
 */
export type MysqlPool = Pool;
/** A connection taken from a {@linkcode MysqlPool}. */
export type MysqlConnection = PoolConnection;

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

/** Loads `npm:mysql2` and creates a pool; nothing connects until first use. */
export async function createPool(settings: PoolSettings): Promise<MysqlPool> {
  // deno-lint-ignore no-import-prefix -- deno.json has no import map entry for the driver
  const mysql = await import("npm:mysql2@^3/promise");
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
    throw backendError("create MySQL pool", error, [settings.password]);
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

/**
 * A copy of a driver error that is safe to print: the message with secrets
 * scrubbed, `name`, `code`, `errno`, `sqlState` and `fatal` kept; the
 * statement text (`sql`, which `query()` fills with the values) dropped.
 */
export function safeCause(
  error: unknown,
  secrets: Iterable<string | undefined>,
): Error {
  const raw = error instanceof Error
    ? error.message
    : String(error ?? "unknown error");
  const copy = new Error(scrub(raw, secrets));
  const e = error as Record<string, unknown> | null;
  if (error instanceof Error) copy.name = error.name;
  for (const key of ["code", "errno", "sqlState", "fatal"]) {
    const value = e?.[key];
    if (["string", "number", "boolean"].includes(typeof value)) {
      Object.defineProperty(copy, key, { value, enumerable: true });
    }
  }
  return copy;
}

/**
 * A driver error as `TokenStoreError("BACKEND")`: `Cannot <action>: <driver
 * message>` with the given secrets redacted; the cause is a scrubbed copy
 * ({@linkcode safeCause}).
 */
export function backendError(
  action: string,
  error: unknown,
  secrets: Iterable<string | undefined>,
): TokenStoreError {
  if (error instanceof TokenStoreError) return error;
  const list = [...secrets];
  const cause = safeCause(error, list);
  const message = cause.message.length > 300
    ? `${cause.message.slice(0, 300)}…`
    : cause.message;
  return new TokenStoreError("BACKEND", `Cannot ${action}: ${message}`, {
    cause,
  });
}

/** How many times a conflicting operation is run again. */
export const CONFLICT_RETRIES = 12;
/**
 * How many times an operation whose connection was lost is run again (each
 * time on another pooled connection, which may have been lost too).
 */
export const CONNECTION_RETRIES = 3;

const committing = new WeakSet<object>();

/**
 * Runs `fn`, retrying conflicts up to {@linkcode CONFLICT_RETRIES} times
 * (jittered exponential backoff) and lost connections up to
 * {@linkcode CONNECTION_RETRIES} times (never once a `COMMIT` was sent, as
 * its outcome is unknown); any other error, or the last retryable one,
 * becomes a `BACKEND` error.
 */
export async function withRetry<T>(
  action: string,
  secrets: readonly (string | undefined)[],
  fn: () => Promise<T>,
): Promise<T> {
  let conflicts = 0;
  let lost = 0;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof TokenStoreError) throw error;
      const kind = retryKind(error);
      const retry = kind === "conflict"
        ? ++conflicts <= CONFLICT_RETRIES
        : kind === "connection" && ++lost <= CONNECTION_RETRIES &&
          !(error instanceof Object && committing.has(error));
      if (!retry) throw backendError(action, error, secrets);
      if (kind === "conflict") {
        const wait = Math.min(250, 4 * 2 ** conflicts) * (0.5 + Math.random());
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }
}

/**
 * Runs `fn` in a `REPEATABLE READ` transaction on one pooled connection
 * (whatever the server's default, so that `SELECT ... FOR UPDATE` also locks
 * the gap where a missing row would go), commits, and gives the connection
 * back; rolls back on error, and destroys a connection that was lost. Driver
 * errors are thrown as they are, for {@linkcode withRetry}.
 */
export async function inTransaction<T>(
  pool: MysqlPool,
  fn: (connection: MysqlConnection) => Promise<T>,
): Promise<T> {
  const connection = await pool.getConnection();
  try {
    await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    await connection.query("START TRANSACTION");
    const result = await fn(connection);
    try {
      await connection.query("COMMIT");
    } catch (error) {
      if (error instanceof Object) committing.add(error);
      throw error;
    }
    connection.release();
    return result;
  } catch (error) {
    if (retryKind(error) === "connection") {
      connection.destroy();
    } else {
      try {
        await connection.query("ROLLBACK");
        connection.release();
      } catch {
        connection.destroy();
      }
    }
    throw error;
  }
}
