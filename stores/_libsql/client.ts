/**
 * Driver plumbing of the libSQL store: which `@libsql/client` entry point a
 * URL needs (loaded with a dynamic `import()` only when a store is opened),
 * bounded retries of `SQLITE_BUSY`, and driver errors turned into
 * `TokenStoreError("BACKEND")` without secrets.
 *
 * @module
 */

import { scrub } from "../../core/_redact.ts";
import { TokenStoreError } from "../../core/errors.ts";

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
 * @throws {TokenStoreError} `BACKEND` when the driver refuses the URL.
 */
export async function createClientFor(
  url: string,
  authToken: string | undefined,
): Promise<LibsqlClient> {
  const kind = clientKindFor(url);
  const { createClient } = kind === "web"
    // deno-lint-ignore no-import-prefix
    ? await import("npm:@libsql/client@^0.15/web")
    // deno-lint-ignore no-import-prefix
    : await import("npm:@libsql/client@^0.15");
  try {
    return createClient({ url, authToken });
  } catch (error) {
    throw backendError("open libSQL database", error, [authToken]);
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

/**
 * A driver error as `TokenStoreError("BACKEND")`: `Cannot <action>: <driver
 * message>` with the given secrets and any `authToken=` URL parameter
 * redacted, the driver error kept as `cause`.
 */
export function backendError(
  action: string,
  error: unknown,
  secrets: Iterable<string | undefined>,
): TokenStoreError {
  if (error instanceof TokenStoreError) return error;
  const raw = error instanceof Error
    ? error.message
    : String(error ?? "unknown error");
  const message = scrub(raw, secrets)
    .replace(/(authToken=)[^&\s"'<>]*/gi, "$1…(redacted)")
    .replace(/(Bearer\s+)[^\s"'<>]+/gi, "$1…(redacted)");
  const short = message.length > 300 ? `${message.slice(0, 300)}…` : message;
  return new TokenStoreError("BACKEND", `Cannot ${action}: ${short}`, {
    cause: error,
  });
}

/** How many times a busy statement is retried. */
export const BUSY_RETRIES = 6;

/**
 * Runs `fn`, retrying `SQLITE_BUSY`/`SQLITE_LOCKED` up to
 * {@linkcode BUSY_RETRIES} times with jittered exponential backoff; any
 * other driver error (or the last busy one) becomes a `BACKEND` error.
 */
export async function withRetry<T>(
  action: string,
  secrets: readonly (string | undefined)[],
  fn: () => Promise<T>,
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof TokenStoreError) throw error;
      if (!isBusy(error) || attempt >= BUSY_RETRIES) {
        throw backendError(action, error, secrets);
      }
      const wait = 10 * 2 ** attempt * (0.5 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
