/**
 * Driver plumbing of the PostgreSQL store: the part of an `npm:postgres`
 * client it uses (declared here, so that importing the store loads no
 * driver, not even its types), the client created by {@linkcode createSql}
 * with a dynamic `import()`, `$n` placeholders, transaction sessions on
 * reserved connections, and which driver errors are transient
 * (serialisation failures, deadlocks, a taken id, lost connections).
 *
 * @module
 */

import type { SqlResult, SqlValue } from "../_sql/dialect.ts";
import { loadDriver } from "../_sql/driver.ts";
import { backendError, type FaultRules } from "../_sql/retry.ts";
import type { SqlSession } from "../_sql/transaction.ts";

/** What a query resolves: the rows, and how many rows it touched. */
export interface PostgresRows
  extends ReadonlyArray<Readonly<Record<string, unknown>>> {
  /** Rows returned, inserted, updated or deleted. */
  readonly count: number | null;
}

/** Something that runs SQL text with `$n` parameters. */
export interface PostgresQueryable {
  /** Runs one statement; `prepare` makes it a named prepared statement. */
  unsafe(
    query: string,
    parameters?: (string | number | null)[],
    options?: { prepare?: boolean },
  ): PromiseLike<PostgresRows>;
}

/** A connection reserved from a {@linkcode PostgresSql} pool. */
export interface PostgresReserved extends PostgresQueryable {
  /** Gives the connection back to the pool. */
  release(): void;
}

/**
 * The part of an `npm:postgres` (postgres.js 3.4+) client the store uses:
 * any `postgres(...)` client fits it.
 *
 * @example Usage
 * ```ts
 * import postgres from "postgres";
 * import type { PostgresSql } from "@tokenstore/tokenstore/postgres";
 *
 * const sql: PostgresSql = postgres("postgres://postgres@127.0.0.1:5432/postgres");
 * await sql.end();
 * ```
 */
export interface PostgresSql extends PostgresQueryable {
  /** Reserves one connection of the pool (for a transaction). */
  reserve(): Promise<PostgresReserved>;
  /** Closes every connection. */
  end(options?: { timeout?: number }): Promise<void>;
}

/** Connection settings of {@linkcode createSql}, defaults applied. */
export interface SqlSettings {
  /** Host name or address. */
  host: string;
  /** TCP port. */
  port: number;
  /** User name. */
  user: string;
  /** Password; never printed. */
  password: string | undefined;
  /** Database. */
  database: string;
  /** `search_path` of every connection, when not the server's default. */
  searchPath: string | undefined;
  /** TLS: `false`, or postgres.js's `"require"`, `"prefer"`, `"allow"`, `"verify-full"`. */
  ssl: false | "require" | "prefer" | "allow" | "verify-full";
  /** `application_name` of every connection. */
  applicationName: string;
  /** Most connections the pool opens. */
  max: number;
  /** Named prepared statements (off for transaction poolers such as PgBouncer). */
  prepare: boolean;
}

/**
 * Loads `npm:postgres` and creates a client; nothing connects until first
 * use. Notices are dropped, a connection attempt gives up after 10 s, and
 * a connection lost is opened again after at most 0.1 s (the driver's default backoff grows to 20 s
 * during an outage, which would hold every call that long after it ends).
 *
 * @throws {TokenStoreError} `BACKEND` when the driver cannot be loaded.
 */
export async function createSql(settings: SqlSettings): Promise<PostgresSql> {
  const { default: postgres } = await loadDriver<
    { default: typeof import("postgres") }
  >("postgres", "PostgreSQL");
  try {
    return postgres({
      host: settings.host,
      port: settings.port,
      user: settings.user,
      ...(settings.password === undefined ? {} : { pass: settings.password }),
      database: settings.database,
      ssl: settings.ssl,
      max: settings.max,
      prepare: settings.prepare,
      connect_timeout: 10,
      // `fetch_types` stays on: without it postgres.js 3.4 never hands a
      // freshly opened connection to `reserve()`, which then waits forever
      backoff: (retries: number) => Math.min(0.01 * 2 ** retries, 0.1),
      onnotice: () => {},
      connection: {
        application_name: settings.applicationName,
        ...(settings.searchPath === undefined
          ? {}
          : { search_path: settings.searchPath }),
      },
    }) as unknown as PostgresSql;
  } catch (error) {
    throw backendError(POSTGRES_FAULTS, "create PostgreSQL client", error, [
      settings.password,
    ]);
  }
}

/** SQLSTATEs of conflicts: serialisation failure, deadlock, lock not available, unique violation (a taken id). */
const CONFLICT = new Set(["40001", "40P01", "55P03", "23505"]);

/** A connection that was lost (the pool opens another): driver codes, admin and crash shutdown. */
const LOST = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "ECONNRESET",
  "EPIPE",
  "57P01",
  "57P02",
]);

/**
 * Why an operation may be worth running again: `"conflict"`,
 * `"connection"` (a pooled connection was lost), or `null` (anything
 * else, such as a server that refuses connections).
 */
export function retryKind(error: unknown): "conflict" | "connection" | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return null;
  return CONFLICT.has(code) ? "conflict" : LOST.has(code) ? "connection" : null;
}

/**
 * PostgreSQL's transient faults ({@linkcode retryKind}): conflicts up to 12
 * times, lost connections up to 3 (never once a `COMMIT` was sent); the
 * driver's errors carry the statement and its values, so `cause` is a
 * scrubbed copy.
 */
export const POSTGRES_FAULTS: FaultRules = {
  classify: retryKind,
  retries: { conflict: 12, connection: 3 },
  baseDelayMs: 8,
  maxDelayMs: 250,
  keepCause: false,
};

/** `?` placeholders as PostgreSQL's `$1`, `$2`, … (the engine's SQL has no `?` elsewhere). */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Runs one statement with `?` placeholders, prepared. */
export async function run(
  client: PostgresQueryable,
  sql: string,
  params: readonly SqlValue[] = [],
): Promise<SqlResult> {
  const rows = await client.unsafe(numbered(sql), [...params], {
    prepare: true,
  });
  return { rows, rowsAffected: rows.count ?? 0 };
}

/**
 * Whether an error means the connection is gone: a socket error
 * (`ECONNRESET`, `ECONNREFUSED`, …), the driver's `CONNECTION_CLOSED`,
 * `CONNECT_TIMEOUT` and the like, a connection exception (class `08`) or a
 * shutdown (`57P0x`) from the server. Any other error (a SQL error, the
 * store's own) leaves it usable.
 */
export function isConnectionLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" &&
    (LOST.has(code) || /^CONNECT|^E[A-Z0-9]+$|^08|^57P0/.test(code));
}

/**
 * A reserved connection as a transaction session. A lost one is neither
 * used again nor released: the driver has already taken it back as closed
 * (and reopens it on demand), while releasing it would put the dead
 * connection among the open ones, and a statement sent on it would crash
 * the driver (postgres.js 3.4 writes to its null socket in a timer).
 */
export async function postgresSession(sql: PostgresSql): Promise<SqlSession> {
  const reserved = await sql.reserve();
  return {
    run: (text, params) => run(reserved, text, params),
    control: async (text) => {
      await reserved.unsafe(text);
    },
    release: () => reserved.release(),
    isLost: isConnectionLost,
    destroy: () => {},
  };
}
