/**
 * The connection settings of `MysqlTokenStore.open`: a `mysql://` URL and
 * separate fields (which win), with the Zoho SDKs' defaults. Error messages
 * never echo the password.
 *
 * @module
 */

import type { PoolSettings } from "./client.ts";
import type { SqlTableOptions } from "../_sql/store.ts";
import { parseStoreUrl } from "../_store_url.ts";

/**
 * Options of `MysqlTokenStore.open`: a URL and/or separate fields
 * (a field given overrides the URL's), with the Zoho SDKs' defaults.
 *
 * @example Usage
 * ```ts ignore
 * import { type MysqlOpenOptions, MysqlTokenStore } from "@tokenstore/tokenstore/mysql";
 *
 * const options: MysqlOpenOptions = {
 *   url: "mysql://crm@db.internal:3306/zohooauth",
 *   password: Deno.env.get("MYSQL_PASSWORD"),
 *   connectionLimit: 4,
 * };
 * const store = await MysqlTokenStore.open(options);
 * ```
 */
export interface MysqlOpenOptions extends SqlTableOptions {
  /** `mysql://USER:PASSWORD@HOST:PORT/DATABASE` (also `mariadb://`, `?table=`). */
  url?: string;
  /** Default `"localhost"`. */
  host?: string;
  /** Default `3306`. */
  port?: number;
  /** Default `"root"`. */
  user?: string;
  /** Default none; never printed. */
  password?: string;
  /** Default `"zohooauth"`, the Zoho SDKs' database. */
  database?: string;
  /** Most connections the pool opens; default `10`. */
  connectionLimit?: number;
}

/** The Zoho SDKs' defaults. */
export const DEFAULTS: Readonly<Omit<PoolSettings, "password">> = {
  host: "localhost",
  port: 3306,
  user: "root",
  database: "zohooauth",
  connectionLimit: 10,
};

function positiveInteger(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new TypeError(
      `Invalid MySQL option "${name}" ${
        JSON.stringify(String(value))
      }: expected an integer from 1 to ${max}`,
    );
  }
  return value;
}

function text(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new TypeError(
      `Invalid MySQL option "${name}": expected a string, got ${typeof value}`,
    );
  }
  return value;
}

/**
 * Resolves the pool settings and table names.
 *
 * @throws {TypeError} for a URL that is not `mysql://` or `mariadb://`, or a
 * malformed field.
 */
export function openSettings(options: MysqlOpenOptions): {
  settings: PoolSettings;
} & SqlTableOptions {
  const o = options ?? {};
  let fromUrl: Partial<PoolSettings> & { table?: string } = {};
  if (o.url !== undefined) {
    const spec = parseStoreUrl(String(o.url));
    if (spec.kind !== "mysql") {
      throw new TypeError(
        `Invalid MySQL URL scheme: expected "mysql://USER:PASSWORD@HOST:PORT/DATABASE", got a "${spec.kind}" store URL`,
      );
    }
    const { kind: _, ...parts } = spec;
    fromUrl = Object.fromEntries(
      Object.entries(parts).filter(([, value]) => value !== undefined),
    );
  }
  const host = text("host", o.host) ?? fromUrl.host ?? DEFAULTS.host;
  const user = text("user", o.user) ?? fromUrl.user ?? DEFAULTS.user;
  const password = text("password", o.password) ?? fromUrl.password ?? "";
  const database = text("database", o.database) ?? fromUrl.database ??
    DEFAULTS.database;
  const port = positiveInteger(
    "port",
    o.port ?? fromUrl.port ?? DEFAULTS.port,
    65535,
  );
  const connectionLimit = positiveInteger(
    "connectionLimit",
    o.connectionLimit ?? DEFAULTS.connectionLimit,
    10_000,
  );
  return {
    settings: { host, port, user, password, database, connectionLimit },
    table: text("table", o.table) ?? fromUrl.table,
    lockTable: text("lockTable", o.lockTable),
    statusTable: text("statusTable", o.statusTable),
  };
}
