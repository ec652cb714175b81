/**
 * Driver plumbing of the libSQL store: the part of an `@libsql/client`
 * client it uses, which entry point a URL needs (loaded with a dynamic
 * `import()` only when a store is opened), and which driver errors are
 * transient (`SQLITE_BUSY`, a taken id).
 *
 * @module
 */

import { loadDriver } from "../_sql/driver.ts";
import {
  backendError,
  type FaultRules,
  withRetry as sqlRetry,
} from "../_sql/retry.ts";

/** A statement with positional `?` parameters. */
export interface LibsqlStatement {
  /** The SQL text. */
  sql: string;
  /** Values of the `?` parameters, in order. */
  args: (string | number | null)[];
}

/** What a statement returned. */
export interface LibsqlResultSet {
  /** Rows, each keyed by column name. */
  readonly rows: readonly Readonly<Record<string, unknown>>[];
  /** Rows inserted, updated or deleted. */
  readonly rowsAffected: number;
}

/**
 * The part of an `@libsql/client` `Client` the store uses; any `Client`
 * (native, Web or remote) fits it. Declared here so that importing the store
 * loads no driver, not even its types.
 */
export interface LibsqlClient {
  /** `"file"` for local databases, `"http"` or `"ws"` for remote ones. */
  readonly protocol: string;
  /** Runs one statement. */
  execute(statement: LibsqlStatement | string): Promise<LibsqlResultSet>;
  /** Runs statements in one transaction (`"write"`: `BEGIN IMMEDIATE`). */
  batch(
    statements: (LibsqlStatement | string)[],
    mode?: "write" | "read" | "deferred",
  ): Promise<LibsqlResultSet[]>;
  /** Closes the client. */
  close(): void;
}

/**
 * How long a file database waits for another process's lock (ms): the
 * `timeout` of every connection of a client `open` creates (0.18 keeps a
 * pool of them), and `PRAGMA busy_timeout` on an injected client's.
 */
export const BUSY_TIMEOUT_MS = 5000;

/** Which `@libsql/client` entry point serves a URL. */
export type LibsqlClientKind = "web" | "native";

const WEB_SCHEMES = new Set(["libsql", "http", "https", "ws", "wss"]);

/**
 * The entry point a URL needs: the Web-standard client (no native code, runs
 * on Deno Deploy) for `libsql:`, `http(s):` and `ws(s):`; the native client
 * for `file:` and `:memory:`.
 *
 * @throws {TypeError} for any other URL (only its scheme is quoted).
 */
export function clientKindFor(url: string): LibsqlClientKind {
  if (typeof url !== "string") {
    throw new TypeError(`Invalid libSQL URL: expected a string`);
  }
  if (url === ":memory:") return "native";
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === "file") return "native";
  if (scheme !== undefined && WEB_SCHEMES.has(scheme)) return "web";
  throw new TypeError(
    `Unsupported libSQL URL scheme ${
      JSON.stringify(scheme === undefined ? "" : `${scheme}:`)
    }: expected "libsql:", "http:", "https:", "ws:", "wss:", "file:" or ":memory:"`,
  );
}

/**
 * Loads the right driver entry point and creates a client.
 *
 * @throws {TokenStoreError} `BACKEND` when the driver cannot be loaded, or
 *   refuses the URL.
 */
export async function createClientFor(
  url: string,
  authToken: string | undefined,
): Promise<LibsqlClient> {
  const kind = clientKindFor(url);
  const { createClient } = await loadDriver<
    typeof import("@libsql/client")
  >(
    kind === "web" ? "@libsql/client/web" : "@libsql/client",
    "libSQL",
    "@libsql/client",
  );
  try {
    return createClient({ url, authToken, timeout: BUSY_TIMEOUT_MS });
  } catch (error) {
    throw backendError(LIBSQL_FAULTS, "open libSQL database", error, [
      authToken,
    ]);
  }
}

function codeOf(error: unknown): { code: string; raw: number } {
  const e = error as { code?: unknown; rawCode?: unknown } | null;
  return {
    code: typeof e?.code === "string" ? e.code : "",
    raw: typeof e?.rawCode === "number" ? e.rawCode : -1,
  };
}

/** Whether a driver error is `SQLITE_BUSY`/`SQLITE_LOCKED` (worth a retry). */
export function isBusy(error: unknown): boolean {
  const { code, raw } = codeOf(error);
  return code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED") ||
    (raw & 0xff) === 5 || (raw & 0xff) === 6;
}

/** Whether a driver error is a constraint violation (e.g. a taken id). */
export function isConstraint(error: unknown): boolean {
  const { code, raw } = codeOf(error);
  return code.startsWith("SQLITE_CONSTRAINT") || (raw & 0xff) === 19;
}

/** How many times a busy statement is run again. */
export const BUSY_RETRIES = 6;

/** Fresh ids are drawn this many more times when one is already taken. */
export const ID_RETRIES = 2;

/**
 * libSQL's transient faults: `SQLITE_BUSY`/`SQLITE_LOCKED` (another
 * connection holds the lock), and a constraint violation (a fresh id that
 * is already taken: the save draws another).
 */
export const LIBSQL_FAULTS: FaultRules = {
  classify: (error) =>
    isBusy(error) ? "busy" : isConstraint(error) ? "conflict" : null,
  retries: { busy: BUSY_RETRIES, conflict: ID_RETRIES },
  baseDelayMs: 20,
  maxDelayMs: 1000,
  keepCause: true,
};

/**
 * Runs `fn`, retrying `SQLITE_BUSY`/`SQLITE_LOCKED` up to
 * {@linkcode BUSY_RETRIES} times with jittered exponential backoff; any
 * other driver error (or the last busy one) becomes a `BACKEND` error.
 */
export function withRetry<T>(
  action: string,
  secrets: readonly (string | undefined)[],
  fn: () => Promise<T>,
): Promise<T> {
  return sqlRetry(LIBSQL_FAULTS, action, secrets, fn);
}
