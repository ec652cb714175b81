/**
 * A {@linkcode TokenStore} in a MySQL or MariaDB database, in the Zoho SDKs'
 * own `oauthtoken` table (created with lookup indexes when missing, with
 * `text` columns that hold 4,096 characters; an existing Zoho-created table
 * is used as it is, and a value its `varchar(255)` or character set cannot
 * hold is refused with `INVALID_TOKEN` before anything is written), with
 * leases in `oauthtoken_lock`. Saves are `REPEATABLE READ` transactions that lock the
 * matching rows (or the gap where they would go) with `SELECT ... FOR
 * UPDATE`, retried on deadlock, so processes sharing one database never
 * store a user twice. Every value is a prepared-statement parameter.
 *
 * Importing this module loads no driver: pass your own `npm:mysql2` pool, or
 * let {@linkcode MysqlTokenStore.open} load `npm:mysql2@^3/promise`.
 *
 * @example Open a database
 * ```ts ignore
 * import { MysqlTokenStore } from "@tokenstore/tokenstore/mysql";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const store = await MysqlTokenStore.open({ url: "mysql://root@127.0.0.1:3306/zohooauth" });
 * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * console.log((await store.findToken({ userName: "ada@example.com" }))?.id);
 * await store.close();
 * ```
 *
 * @module
 */

import { secretsOf } from "../core/_redact.ts";
import { type OAuthToken, validateId } from "../core/token.ts";
import {
  matchesPlan,
  mergeFound,
  planQuery,
  planSave,
  type QueryPlan,
  type TokenLock,
  type TokenQuery,
  type TokenStore,
  validateForSave,
} from "../core/token_store.ts";
import { MysqlTokenLock } from "./_mysql/lock.ts";
import {
  createPool,
  inTransaction,
  type MysqlPool,
  withRetry,
} from "./_mysql/client.ts";
import {
  type MysqlSchema,
  prepareSchema,
  tokensOf,
  upsert,
} from "./_mysql/schema.ts";
import { openSettings } from "./_mysql/settings.ts";
import { planToWhere, tokenToRow, validateTableName } from "./_sql/rows.ts";
import { checkRowFits } from "./_sql/widths.ts";

export type { MysqlPool } from "./_mysql/client.ts";

/**
 * Options of the {@linkcode MysqlTokenStore} constructor.
 *
 * @example Usage
 * ```ts ignore
 * import mysql from "npm:mysql2@^3/promise";
 * import { MysqlTokenStore, type MysqlTokenStoreOptions } from "@tokenstore/tokenstore/mysql";
 *
 * const options: MysqlTokenStoreOptions = {
 *   pool: mysql.createPool({ host: "127.0.0.1", user: "root", database: "crm" }),
 *   table: "crm_tokens", // leases in "crm_tokens_lock"
 * };
 * const store = new MysqlTokenStore(options);
 * ```
 */
export interface MysqlTokenStoreOptions {
  /** A `npm:mysql2@^3/promise` pool; the store never ends it. */
  pool: MysqlPool;
  /** Token table; default `"oauthtoken"`. */
  table?: string;
  /** Lease table; default `"<table>_lock"`. */
  lockTable?: string;
}

/**
 * Options of {@linkcode MysqlTokenStore.open}: a URL and/or separate fields
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
export interface MysqlOpenOptions {
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
  /** Token table; default `"oauthtoken"`. */
  table?: string;
  /** Lease table; default `"<table>_lock"`. */
  lockTable?: string;
  /** Most connections the pool opens; default `10`. */
  connectionLimit?: number;
}

/**
 * A {@linkcode TokenStore} over a `npm:mysql2` pool, in Zoho's `oauthtoken`
 * table layout, with cross-process leases.
 *
 * @example Usage with an injected pool
 * ```ts ignore
 * import mysql from "npm:mysql2@^3/promise";
 * import { MysqlTokenStore } from "@tokenstore/tokenstore/mysql";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const pool = mysql.createPool({ host: "127.0.0.1", user: "root", database: "zohooauth" });
 * const store = new MysqlTokenStore({ pool });
 * const saved = await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * console.log(saved.id);
 * await pool.end();
 * ```
 */
export class MysqlTokenStore implements TokenStore {
  #pool: MysqlPool;
  #owned = false;
  #secrets: (string | undefined)[] = [];
  #schema: Promise<MysqlSchema> | undefined;
  /** The token table. */
  readonly table: string;
  /** The lease table. */
  readonly lockTable: string;
  /** Leases in {@linkcode MysqlTokenStore.lockTable}, shared by every process using the database. */
  readonly lock: TokenLock;

  /**
   * Creates a store over an injected pool. Tables are created on first use.
   *
   * @example Usage
   * ```ts ignore
   * import mysql from "npm:mysql2@^3/promise";
   * import { MysqlTokenStore } from "@tokenstore/tokenstore/mysql";
   *
   * const store = new MysqlTokenStore({ pool: mysql.createPool("mysql://root@127.0.0.1/zohooauth") });
   * ```
   *
   * @param options The pool and table names.
   * @throws {TypeError} when a table name is not a plain identifier.
   */
  constructor(options: MysqlTokenStoreOptions) {
    const pool = options?.pool;
    if (
      pool === null || typeof pool !== "object" ||
      typeof pool.getConnection !== "function" ||
      typeof pool.execute !== "function"
    ) {
      throw new TypeError(
        'Invalid MySQL store option "pool": expected a mysql2/promise Pool',
      );
    }
    this.#pool = pool;
    this.table = validateTableName(options.table ?? "oauthtoken");
    this.lockTable = validateTableName(
      options.lockTable ?? `${this.table}_lock`,
    );
    this.lock = new MysqlTokenLock({
      pool: this.#pool,
      ready: () => this.#ready(),
      secrets: this.#secrets,
      lockTable: this.lockTable,
    });
  }

  /**
   * Creates a pool (loading `npm:mysql2@^3/promise`) with the Zoho SDKs'
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
    const { settings, table, lockTable } = openSettings(options);
    validateTableName(table ?? "oauthtoken");
    if (lockTable !== undefined) validateTableName(lockTable);
    const pool = await createPool(settings);
    try {
      const store = new MysqlTokenStore({ pool, table, lockTable });
      store.#owned = true;
      store.#secrets.push(settings.password);
      await store.#ready();
      return store;
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
  }

  #ready(): Promise<MysqlSchema> {
    this.#schema ??= withRetry(
      `prepare MySQL table "${this.table}"`,
      this.#secrets,
      () => prepareSchema(this.#pool, this.table, this.lockTable),
    ).catch((error) => {
      this.#schema = undefined;
      throw error;
    });
    return this.#schema;
  }

  /** Rows the plan's `WHERE` selects (a superset under case- or pad-insensitive collations), filtered exactly. */
  async #find(
    plan: QueryPlan,
    secrets: (string | undefined)[],
  ): Promise<OAuthToken | null> {
    const schema = await this.#ready();
    const { table, columnList } = schema;
    const where = planToWhere(plan);
    const [rows] = await withRetry(
      `find token in MySQL table "${this.table}"`,
      [...this.#secrets, ...secrets],
      () =>
        this.#pool.execute(
          `SELECT ${columnList} FROM ${table} WHERE ${where.sql}`,
          where.params,
        ),
    );
    return tokensOf(rows, schema).find((token) => matchesPlan(token, plan)) ??
      null;
  }

  /**
   * Finds a token by the matching rules.
   *
   * @example Usage
   * ```ts ignore
   * const token = await store.findToken({ userName: "ada@example.com", clientId: "1000.C" });
   * ```
   *
   * @param query A query or a token (merge semantics).
   * @returns The token, or `null`.
   * @throws {TokenStoreError} `INVALID_QUERY`, `BACKEND` or `CORRUPT`.
   */
  async findToken(query: TokenQuery | OAuthToken): Promise<OAuthToken | null> {
    const plan = planQuery(query);
    return mergeFound(query, await this.#find(plan, secretsOf(query)));
  }

  /**
   * Inserts or updates a token in one transaction: the row with the token's
   * id, else the row found by the matching rules (replaced, keeping its id),
   * else a new row with a fresh random id. The rows looked at are locked
   * (`FOR UPDATE`), so concurrent saves of one user never make two rows;
   * deadlocks between them are retried.
   *
   * @example Usage
   * ```ts ignore
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const saved = await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
   * ```
   *
   * @param token The token.
   * @returns The stored token, id set.
   * @throws {TokenStoreError} `INVALID_TOKEN` (nothing stored), also when a
   * value does not fit its column, or `BACKEND`.
   */
  async saveToken(token: OAuthToken): Promise<OAuthToken> {
    const checked = validateForSave(token);
    const row = tokenToRow(checked);
    const plan = planSave(checked);
    const schema = await this.#ready();
    checkRowFits(row, schema.columns, schema.limits, this.table);
    const id = await withRetry(
      `save token in MySQL table "${this.table}"`,
      [...this.#secrets, ...secretsOf(checked)],
      () =>
        inTransaction(
          this.#pool,
          (connection) => upsert(connection, schema, plan, row),
        ),
    );
    return checked.id === id ? checked : checked.with({ id });
  }

  /**
   * Deletes the token with this id.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await store.deleteToken("a1B2c3")); // false when there is no such token
   * ```
   *
   * @param id The id.
   * @returns `true` if a token was deleted.
   * @throws {TokenStoreError} `INVALID_QUERY` for a malformed id, or `BACKEND`.
   */
  async deleteToken(id: string): Promise<boolean> {
    validateId(id);
    const { table } = await this.#ready();
    // `BINARY` keeps a case-insensitive Zoho table from deleting a look-alike id
    const [result] = await withRetry(
      `delete token in MySQL table "${this.table}"`,
      this.#secrets,
      () =>
        this.#pool.execute(
          `DELETE FROM ${table} WHERE id = ? AND BINARY id = BINARY ?`,
          [id, id],
        ),
    );
    return (result as { affectedRows: number }).affectedRows > 0;
  }

  /**
   * Every stored token.
   *
   * @example Usage
   * ```ts ignore
   * console.log((await store.getTokens()).length);
   * ```
   *
   * @returns The tokens.
   * @throws {TokenStoreError} `BACKEND` or `CORRUPT`.
   */
  async getTokens(): Promise<OAuthToken[]> {
    const schema = await this.#ready();
    const { table, columnList } = schema;
    const [rows] = await withRetry(
      `read tokens in MySQL table "${this.table}"`,
      this.#secrets,
      () => this.#pool.execute(`SELECT ${columnList} FROM ${table}`),
    );
    return tokensOf(rows, schema);
  }

  /**
   * Deletes every stored token (leases are kept).
   *
   * @example Usage
   * ```ts ignore
   * await store.deleteTokens();
   * ```
   *
   * @throws {TokenStoreError} `BACKEND`.
   */
  async deleteTokens(): Promise<void> {
    const { table } = await this.#ready();
    await withRetry(
      `delete tokens in MySQL table "${this.table}"`,
      this.#secrets,
      () => this.#pool.execute(`DELETE FROM ${table}`),
    );
  }

  /**
   * The token with this id.
   *
   * @example Usage
   * ```ts ignore
   * console.log(await store.findTokenById("a1B2c3"));
   * ```
   *
   * @param id The id.
   * @returns The token, or `null`.
   * @throws {TokenStoreError} `INVALID_QUERY` for a malformed id, `BACKEND` or `CORRUPT`.
   */
  findTokenById(id: string): Promise<OAuthToken | null> {
    try {
      return this.#find(planQuery({ id: validateId(id) }), []);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Ends the pool if {@linkcode MysqlTokenStore.open} created it; an
   * injected pool is left open for its owner.
   *
   * @example Usage
   * ```ts ignore
   * await store.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#owned) {
      this.#owned = false;
      await this.#pool.end();
    }
  }
}
