/**
 * A {@linkcode TokenStore} in a MySQL or MariaDB database, in the Zoho SDKs'
 * own `oauthtoken` table (created with lookup indexes when missing, with
 * `text` columns that hold 4,096 characters; an existing Zoho-created table
 * is used as it is, and a value its `varchar(255)` or character set cannot
 * hold is refused with `INVALID_TOKEN` before anything is written), with
 * leases in `oauthtoken_lock` and token statuses in `oauthtoken_status`.
 * Saves are `REPEATABLE READ` transactions that lock the matching rows (or
 * the gap where they would go) with `SELECT ... FOR UPDATE`, retried on
 * deadlock, so processes sharing one database never store a user twice. Every value is a prepared-statement parameter.
 *
 * Importing this module loads no driver: pass your own `npm:mysql2` pool, or
 * let {@linkcode MysqlTokenStore.open} load `mysql2/promise`.
 *
 * @example Open a database
 * ```ts ignore
 * import { assertEquals } from "@std/assert";
 * import { MysqlTokenStore } from "@tokenstore/tokenstore/mysql";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const store = await MysqlTokenStore.open({ url: "mysql://root@127.0.0.1:3306/zohooauth" });
 * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * const found = await store.findToken({ userName: "ada@example.com" });
 * assertEquals(found?.refreshToken, "1000.r");
 * await store.close();
 * ```
 *
 * @module
 */

import type { TokenStore } from "../core/token_store.ts";
import { createPool, type MysqlPool } from "./_mysql/client.ts";
import { MYSQL } from "./_mysql/dialect.ts";
import { type MysqlOpenOptions, openSettings } from "./_mysql/settings.ts";
import { validateTableName } from "./_sql/rows.ts";
import {
  attachDialect,
  openOwned,
  type SqlTableOptions,
  SqlTokenStore,
} from "./_sql/store.ts";

export type {
  MysqlConnection,
  MysqlPool,
  MysqlQueryable,
  MysqlQueryResult,
} from "./_mysql/client.ts";
export type { MysqlOpenOptions } from "./_mysql/settings.ts";
export { type SqlTableOptions, SqlTokenStore } from "./_sql/store.ts";

/**
 * Options of the {@linkcode MysqlTokenStore} constructor.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import mysql from "mysql2/promise";
 * import {
 *   MysqlTokenStore,
 *   type MysqlTokenStoreOptions,
 * } from "@tokenstore/tokenstore/mysql";
 *
 * const pool = mysql.createPool({ host: "127.0.0.1", user: "root", database: "crm" });
 * const options: MysqlTokenStoreOptions = { pool, table: "crm_tokens" };
 * const store = new MysqlTokenStore(options); // connects on first use
 * assertEquals(store.lockTable, "crm_tokens_lock");
 * await pool.end();
 * ```
 */
export interface MysqlTokenStoreOptions extends SqlTableOptions {
  /** A `mysql2/promise` pool; the store never ends it. */
  pool: MysqlPool;
}

/**
 * A {@linkcode TokenStore} over a `npm:mysql2` pool, in Zoho's `oauthtoken`
 * table layout, with cross-process leases. Saves are transactions that lock
 * the rows they look at (`FOR UPDATE`), so concurrent saves of one user
 * never make two rows; deadlocks between them are retried.
 *
 * @example Usage with an injected pool
 * ```ts ignore
 * import { assertEquals } from "@std/assert";
 * import mysql from "mysql2/promise";
 * import { MysqlTokenStore } from "@tokenstore/tokenstore/mysql";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const pool = mysql.createPool({ host: "127.0.0.1", user: "root", database: "zohooauth" });
 * const store = new MysqlTokenStore({ pool });
 * const saved = await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * assertEquals((await store.findTokenById(saved.id!))?.userName, "ada@example.com");
 * await pool.end();
 * ```
 */
export class MysqlTokenStore extends SqlTokenStore implements TokenStore {
  /**
   * Creates a store over an injected pool. Tables are created on first use.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import mysql from "mysql2/promise";
   * import { MysqlTokenStore } from "@tokenstore/tokenstore/mysql";
   *
   * const pool = mysql.createPool("mysql://root@127.0.0.1/zohooauth");
   * const store = new MysqlTokenStore({ pool }); // connects on first use
   * assertEquals(store.table, "oauthtoken");
   * await pool.end(); // the store never ends a pool it was given
   * ```
   *
   * @param options The pool and table names.
   * @throws {TypeError} when a table name is not a plain identifier.
   */
  constructor(options: MysqlTokenStoreOptions) {
    super();
    attachDialect(this, MYSQL, options?.pool, options);
  }

  /**
   * Creates a pool (loading `mysql2/promise`) with the Zoho SDKs'
   * defaults (`root@localhost:3306`, database `zohooauth`) and makes the
   * tables ready. {@linkcode MysqlTokenStore.close} ends the pool.
   *
   * @example Usage
   * ```ts ignore
   * import { MysqlTokenStore } from "@tokenstore/tokenstore/mysql";
   *
   * const store = await MysqlTokenStore.open({
   *   host: "db.internal",
   *   user: "crm",
   *   password: Deno.env.get("MYSQL_PASSWORD"),
   *   database: "zohooauth",
   * });
   * await store.close();
   * ```
   *
   * @param options URL or connection fields, table names, pool size.
   * @returns The ready store.
   * @throws {TypeError} for a malformed URL or option, or a bad table name.
   * @throws {TokenStoreError} `BACKEND` when the database cannot be reached.
   */
  static async open(options: MysqlOpenOptions = {}): Promise<MysqlTokenStore> {
    const { settings, table, lockTable, statusTable } = openSettings(options);
    validateTableName(table ?? "oauthtoken");
    if (lockTable !== undefined) validateTableName(lockTable);
    if (statusTable !== undefined) validateTableName(statusTable);
    const pool: MysqlPool = await createPool(settings);
    return await openOwned(
      MYSQL,
      pool,
      [settings.password],
      (pool) => new MysqlTokenStore({ pool, table, lockTable, statusTable }),
    );
  }
}
