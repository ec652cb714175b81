/**
 * Parsing of token store URLs (`memory:`, `kv:`, `file:`, `zoho-csv:`,
 * `libsql:`, `mysql://`, `postgres://`, `redis://`) into what each store's factory needs, without
 * loading any store. Error messages never echo a password or auth token.
 *
 * @module
 */

/** The URL forms {@linkcode parseStoreUrl} accepts, for error messages. */
export const ACCEPTED_FORMS: string =
  "memory:, kv: (default database), kv:PATH, kv::memory:, file:PATH (JSON), " +
  "zoho-csv:PATH (the Zoho SDKs' sdk_tokens.txt), libsql:LIBSQL_URL " +
  "(libsql:file:PATH, libsql::memory:, libsql:libsql://HOST?authToken=TOKEN, " +
  "libsql:https://HOST, libsql:wss://HOST), " +
  "mysql://USER:PASSWORD@HOST:PORT/DATABASE?table=TABLE, " +
  "postgres://USER:PASSWORD@HOST:PORT/DATABASE?table=TABLE&search_path=SCHEMA&sslmode=require, " +
  "redis://[USER:PASSWORD@]HOST:PORT/DB?prefix=PREFIX&allowVolatile=true (also rediss://)";

/** The `sslmode` values a `postgres://` URL may name. */
export const SSL_MODES = [
  "disable",
  "allow",
  "prefer",
  "require",
  "verify-full",
] as const;

/** The query parameters a `postgres://` URL may have. */
const POSTGRES_PARAMS = ["table", "search_path", "sslmode", "application_name"];

/** What a `mysql://` or `postgres://` URL names: a server, a database and a table. */
export interface ServerSpec {
  host: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  table?: string;
}

/** What a token store URL names. */
export type StoreSpec =
  | { kind: "memory" }
  | { kind: "kv"; path?: string }
  | { kind: "file"; path: string; format: "json" | "zoho-csv" }
  | { kind: "libsql"; url: string; authToken?: string; table?: string }
  | ({ kind: "mysql" } & ServerSpec)
  | {
    kind: "redis";
    /** The URL without the store's own query parameters. */
    url: string;
    prefix?: string;
    allowVolatile?: boolean;
  }
  | ({
    kind: "postgres";
    searchPath?: string;
    sslmode?: (typeof SSL_MODES)[number];
    applicationName?: string;
  } & ServerSpec);

function invalid(scheme: string, reason: string): TypeError {
  return new TypeError(
    `Invalid token store URL "${scheme}…": ${reason}; accepted forms: ${ACCEPTED_FORMS}`,
  );
}

/** Splits `?a=b&c=d` off a string without treating the rest as a URL. */
function splitQuery(text: string): [string, URLSearchParams] {
  const at = text.indexOf("?");
  if (at < 0) return [text, new URLSearchParams()];
  return [text.slice(0, at), new URLSearchParams(text.slice(at + 1))];
}

function filePath(scheme: string, rest: string): string {
  if (rest === "") throw invalid(scheme, "the path is missing");
  if (!rest.startsWith("//")) return rest;
  // A real file URL: file:///abs/path (no host allowed).
  let url: URL;
  try {
    url = new URL(`file:${rest}`);
  } catch {
    throw invalid(scheme, "not a valid file URL");
  }
  if (url.hostname !== "" || url.search !== "" || url.hash !== "") {
    throw invalid(
      scheme,
      "a file URL must look like file:///absolute/path, without host or query",
    );
  }
  const path = decodeURIComponent(url.pathname);
  // Windows: file:///C:/dir/file → C:/dir/file
  return /^\/[A-Za-z]:\//.test(path) ? path.slice(1) : path;
}

function parseLibsql(rest: string): StoreSpec {
  const scheme = "libsql:";
  if (rest === "") {
    throw invalid(scheme, 'the libSQL URL after "libsql:" is missing');
  }
  if (rest === ":memory:") return { kind: "libsql", url: ":memory:" };
  const [base, params] = splitQuery(rest);
  const table = params.get("table") ?? undefined;
  const authToken = params.get("authToken") ?? undefined;
  params.delete("table");
  params.delete("authToken");
  const query = params.size > 0 ? `?${params}` : "";
  const inner = /^([a-z][a-z0-9+.-]*):/i.exec(base)?.[1]?.toLowerCase();
  if (inner === "file") {
    if (base === "file:") throw invalid(scheme, "the file path is missing");
    return { kind: "libsql", url: `${base}${query}`, authToken, table };
  }
  if (
    inner === "libsql" || inner === "http" || inner === "https" ||
    inner === "ws" || inner === "wss"
  ) {
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      throw invalid(scheme, `the "${inner}:" URL cannot be parsed`);
    }
    if (url.hostname === "") {
      throw invalid(scheme, `the "${inner}:" URL has no host`);
    }
    if (url.username !== "" || url.password !== "") {
      throw invalid(
        scheme,
        "credentials in the libSQL URL are not supported: pass ?authToken=",
      );
    }
    return { kind: "libsql", url: `${base}${query}`, authToken, table };
  }
  throw invalid(
    scheme,
    inner === undefined
      ? 'the text after "libsql:" is not a libSQL URL'
      : `unsupported libSQL URL scheme "${inner}:"`,
  );
}

/** A server URL with a host, parsed. */
function hostUrl(scheme: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(scheme, "the URL cannot be parsed (check host and port)");
  }
  if (!text.slice(scheme.length).startsWith("//") || url.hostname === "") {
    throw invalid(scheme, "the host is missing");
  }
  return url;
}

/** What `mysql://` and `postgres://` URLs share: host, port, user, password, one database. */
function serverUrl(
  scheme: string,
  text: string,
  params: readonly string[],
): Omit<ServerSpec, "table"> & { query: URLSearchParams } {
  const url = hostUrl(scheme, text);
  const segments = url.pathname.split("/").filter((s) => s !== "");
  if (segments.length > 1) {
    throw invalid(scheme, "the path must be a single database name");
  }
  for (const key of url.searchParams.keys()) {
    if (!params.includes(key)) {
      throw invalid(
        scheme,
        `unknown query parameter "${key.slice(0, 40)}" (${
          params.length === 1
            ? `only "${params[0]}" is accepted`
            : `accepted: ${params.map((p) => `"${p}"`).join(", ")}`
        })`,
      );
    }
  }
  try {
    return {
      host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: url.port ? Number(url.port) : undefined,
      user: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      database: segments[0] ? decodeURIComponent(segments[0]) : undefined,
      query: url.searchParams,
    };
  } catch {
    throw invalid(scheme, "bad percent-encoding in user, password or database");
  }
}

function parseMysql(scheme: string, text: string): StoreSpec {
  const { query, ...parts } = serverUrl(scheme, text, ["table"]);
  return { kind: "mysql", ...parts, table: query.get("table") ?? undefined };
}

function parsePostgres(scheme: string, text: string): StoreSpec {
  const { query, ...parts } = serverUrl(scheme, text, POSTGRES_PARAMS);
  const sslmode = query.get("sslmode") ?? undefined;
  if (
    sslmode !== undefined &&
    !(SSL_MODES as readonly string[]).includes(sslmode)
  ) {
    throw invalid(
      scheme,
      `unsupported sslmode (accepted: ${SSL_MODES.join(", ")})`,
    );
  }
  return {
    kind: "postgres",
    ...parts,
    table: query.get("table") ?? undefined,
    searchPath: query.get("search_path") ?? undefined,
    sslmode: sslmode as (typeof SSL_MODES)[number] | undefined,
    applicationName: query.get("application_name") ?? undefined,
  };
}

function parseRedis(scheme: string, text: string): StoreSpec {
  const url = hostUrl(scheme, text);
  if (!/^\/?(\d+)?$/.test(url.pathname)) {
    throw invalid(scheme, "the path must be a database number such as /0");
  }
  for (const key of url.searchParams.keys()) {
    if (key !== "prefix" && key !== "allowVolatile") {
      throw invalid(
        scheme,
        `unknown query parameter "${
          key.slice(0, 40)
        }" (accepted: "prefix", "allowVolatile")`,
      );
    }
  }
  const volatile = url.searchParams.get("allowVolatile");
  if (volatile !== null && volatile !== "true" && volatile !== "false") {
    throw invalid(scheme, '"allowVolatile" must be "true" or "false"');
  }
  const prefix = url.searchParams.get("prefix") ?? undefined;
  url.search = "";
  return {
    kind: "redis",
    url: url.href,
    ...(prefix === undefined ? {} : { prefix }),
    ...(volatile === null ? {} : { allowVolatile: volatile === "true" }),
  };
}

/**
 * Parses a token store URL into a {@linkcode StoreSpec}.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseStoreUrl } from "./_store_url.ts";
 *
 * assertEquals(parseStoreUrl("zoho-csv:./sdk_tokens.txt"), {
 *   kind: "file",
 *   path: "./sdk_tokens.txt",
 *   format: "zoho-csv",
 * });
 * assertEquals(parseStoreUrl("kv:"), { kind: "kv" });
 * ```
 *
 * @param url The URL.
 * @returns What it names.
 * @throws {TypeError} For an unknown scheme or a malformed URL, naming the
 * accepted forms; never containing a password or auth token.
 */
export function parseStoreUrl(url: string): StoreSpec {
  if (typeof url !== "string" || url.trim() === "") {
    throw new TypeError(
      `Invalid token store URL: expected a non-empty string; accepted forms: ${ACCEPTED_FORMS}`,
    );
  }
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  if (!match) {
    throw new TypeError(
      `Invalid token store URL: no scheme such as "kv:" or "mysql://"; accepted forms: ${ACCEPTED_FORMS}`,
    );
  }
  const scheme = `${match[1].toLowerCase()}:`;
  const rest = url.slice(match[0].length);
  switch (scheme) {
    case "memory:":
      if (rest !== "" && rest !== "//") {
        throw invalid(scheme, 'nothing may follow "memory:"');
      }
      return { kind: "memory" };
    case "kv:":
      return rest === "" ? { kind: "kv" } : { kind: "kv", path: rest };
    case "file:":
      return { kind: "file", path: filePath(scheme, rest), format: "json" };
    case "zoho-csv:":
      return { kind: "file", path: filePath(scheme, rest), format: "zoho-csv" };
    case "libsql:":
      return parseLibsql(rest);
    case "mysql:":
    case "mariadb:":
      return parseMysql(scheme, url);
    case "postgres:":
    case "postgresql:":
      return parsePostgres(scheme, url);
    case "redis:":
    case "rediss:":
      return parseRedis(scheme, url);
    default:
      throw new TypeError(
        `Unsupported token store URL scheme "${
          scheme.length > 30 ? `${scheme.slice(0, 30)}…` : scheme
        }": accepted forms: ${ACCEPTED_FORMS}`,
      );
  }
}

/**
 * A form of a store URL that is safe to print: the password and any
 * `authToken`/`password`/`token` query value are replaced by `***`.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { displayStoreUrl } from "./_store_url.ts";
 *
 * assertEquals(
 *   displayStoreUrl("mysql://root:pw@db:3306/crm"),
 *   "mysql://root:***@db:3306/crm",
 * );
 * assertEquals(
 *   displayStoreUrl("libsql:libsql://db.example.com?authToken=secret"),
 *   "libsql:libsql://db.example.com?authToken=***",
 * );
 * ```
 *
 * @param url The URL.
 * @returns The printable form.
 */
export function displayStoreUrl(url: string): string {
  const [base, query] = splitQuery(url);
  let shown = base.replace(/^(.*?\/\/[^/?#@]*?):[^@/]*@/, "$1:***@");
  // A password-like "user:secret@" without "//" (malformed URLs) too.
  if (!base.includes("//") && base.includes("@")) {
    shown = base.replace(/^([a-z][a-z0-9+.-]*:)[^@]*@/i, "$1***@");
  }
  if (url.includes("?")) {
    const safe = [...query].map(([key, value]) =>
      /token|password|secret|key/i.test(key)
        ? `${key}=***`
        : `${key}=${encodeURIComponent(value)}`
    );
    shown += `?${safe.join("&")}`;
  }
  return shown;
}
