/**
 * The connection settings of `PostgresTokenStore.open`: a `postgres://` URL
 * (also `postgresql://`, with `?table=`, `?search_path=`, `?sslmode=`,
 * `?application_name=`) and options, which win. Error messages never echo
 * the password.
 *
 * @module
 */

import type { SqlTableOptions } from "../_sql/store.ts";
import { parseStoreUrl } from "../_store_url.ts";
import type { SqlSettings } from "./client.ts";

/**
 * Options of `PostgresTokenStore.open`.
 *
 * @example Usage
 * ```ts ignore
 * import { type PostgresOpenOptions, PostgresTokenStore } from "@tokenstore/tokenstore/postgres";
 *
 * const options: PostgresOpenOptions = {
 *   url: "postgres://postgres.project@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?sslmode=require",
 *   password: Deno.env.get("SUPABASE_DB_PASSWORD"),
 *   prepare: false, // the transaction pooler keeps no prepared statements
 * };
 * const store = await PostgresTokenStore.open(options);
 * ```
 */
export interface PostgresOpenOptions extends SqlTableOptions {
  /**
   * `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (also `postgresql://`),
   * with optional `?table=`, `?search_path=` (the schema of the tables),
   * `?sslmode=` (`disable`, the default, `allow`, `prefer`, `require`,
   * `verify-full`) and `?application_name=`.
   */
  url: string;
  /** Overrides the URL's password; never printed. */
  password?: string;
  /** Most connections the client opens; default `10`. */
  connectionLimit?: number;
  /** Named prepared statements; default `true`. Turn off behind a transaction pooler (PgBouncer, Supabase port 6543). */
  prepare?: boolean;
}

/** libpq's defaults, where the URL leaves a part out. */
export const DEFAULTS = {
  host: "localhost",
  port: 5432,
  user: "postgres",
  connectionLimit: 10,
  applicationName: "tokenstore",
} as const;

function option<T>(name: string, value: unknown, type: string): T | undefined {
  if (value === undefined) return undefined;
  const actual = typeof value;
  if (actual !== type) {
    throw new TypeError(
      `Invalid PostgreSQL option "${name}": expected a ${type}, got ${actual}`,
    );
  }
  return value as T;
}

/**
 * Resolves the client settings and table names.
 *
 * @throws {TypeError} for a URL that is not `postgres://` or
 * `postgresql://`, or a malformed option.
 */
export function openSettings(options: PostgresOpenOptions): {
  settings: SqlSettings;
} & SqlTableOptions {
  const o = options ?? {};
  const url = option<string>("url", o.url, "string");
  if (url === undefined) {
    throw new TypeError(
      'Invalid PostgreSQL option "url": expected "postgres://USER:PASSWORD@HOST:PORT/DATABASE"',
    );
  }
  const spec = parseStoreUrl(url);
  if (spec.kind !== "postgres") {
    throw new TypeError(
      `Invalid PostgreSQL URL scheme: expected "postgres://USER:PASSWORD@HOST:PORT/DATABASE", got a "${spec.kind}" store URL`,
    );
  }
  const max = option<number>("connectionLimit", o.connectionLimit, "number") ??
    DEFAULTS.connectionLimit;
  if (!Number.isInteger(max) || max < 1 || max > 10_000) {
    throw new TypeError(
      `Invalid PostgreSQL option "connectionLimit" ${
        JSON.stringify(String(max))
      }: expected an integer from 1 to 10000`,
    );
  }
  const user = spec.user ?? DEFAULTS.user;
  const sslmode = spec.sslmode ?? "disable";
  return {
    settings: {
      host: spec.host,
      port: spec.port ?? DEFAULTS.port,
      user,
      password: option<string>("password", o.password, "string") ??
        spec.password,
      database: spec.database ?? user,
      searchPath: spec.searchPath,
      ssl: sslmode === "disable" ? false : sslmode,
      applicationName: spec.applicationName ?? DEFAULTS.applicationName,
      max,
      prepare: option<boolean>("prepare", o.prepare, "boolean") ?? true,
    },
    table: option<string>("table", o.table, "string") ?? spec.table,
    lockTable: option<string>("lockTable", o.lockTable, "string"),
    statusTable: option<string>("statusTable", o.statusTable, "string"),
  };
}
