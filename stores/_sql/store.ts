/**
 * The SQL store engine: one {@linkcode TokenStore} implementation in Zoho's
 * `oauthtoken` table layout for every SQL database, with cross-process
 * leases in `<table>_lock` and token statuses in `<table>_status`. A dialect (`dialect.ts`) supplies what differs
 * between databases; the public stores (`LibsqlTokenStore`,
 * `MysqlTokenStore`, `PostgresTokenStore`) extend {@linkcode SqlTokenStore}
 * and only add their constructor options and `open`.
 *
 * @module
 */

import { secretsOf } from "../../core/_redact.ts";
import { type OAuthToken, validateId } from "../../core/token.ts";
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
} from "../../core/token_store.ts";
import type { TokenStatusStore } from "../../core/token_status.ts";
import type { SqlDialect, SqlSchema } from "./dialect.ts";
import { SqlTokenLock } from "./leases.ts";
import { SqlTokenStatuses } from "./statuses.ts";
import { withRetry } from "./retry.ts";
import {
  planToWhere,
  tokensOf,
  tokenToRow,
  validateTableName,
} from "./rows.ts";
import { checkRowFits } from "./widths.ts";

/**
 * The table names every SQL store takes, in its constructor and `open`.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { SqlTableOptions } from "@tokenstore/tokenstore";
 * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
 *
 * const tables: SqlTableOptions = { table: "crm_tokens" };
 * const store = await LibsqlTokenStore.open({ url: ":memory:", ...tables });
 * assertEquals(store.lockTable, "crm_tokens_lock");
 * assertEquals(store.statusTable, "crm_tokens_status");
 * await store.close();
 * ```
 */
export interface SqlTableOptions {
  /** Token table; default `"oauthtoken"`. */
  table?: string;
  /** Lease table; default `"<table>_lock"`. */
  lockTable?: string;
  /** Token status table; default `"<table>_status"`. */
  statusTable?: string;
}

type Secrets = (string | undefined)[];

let attachTo!: <C>(
  store: SqlTokenStore,
  dialect: SqlDialect<C>,
  client: unknown,
  options: SqlTableOptions | undefined,
) => void;
let adopt!: (store: SqlTokenStore, secrets: Secrets) => Promise<void>;

/**
 * What every SQL store does, whatever the database: Zoho's `oauthtoken`
 * table (created on first use when missing, an existing one used as it is,
 * a value a column cannot hold refused with `INVALID_TOKEN` before anything
 * is written), race-free upserts, leases on the database's clock, token
 * statuses in a table of their own (created beside an existing Zoho table
 * too), every value a statement parameter. Use one of its subclasses.
 *
 * @example Any SQL store
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { SqlTokenStore } from "@tokenstore/tokenstore";
 * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
 *
 * const store: SqlTokenStore = await LibsqlTokenStore.open({ url: ":memory:" });
 * assertEquals(store.table, "oauthtoken");
 * assertEquals(store.lockTable, "oauthtoken_lock");
 * assertEquals(store.statusTable, "oauthtoken_status");
 * await store.close();
 * ```
 */
export abstract class SqlTokenStore implements TokenStore {
  #dialect!: SqlDialect<unknown>;
  #client: unknown;
  #owned = false;
  #secrets: Secrets = [];
  #schema: Promise<SqlSchema> | undefined;
  #table!: string;
  #lockTable!: string;
  #statusTable!: string;
  #lock!: TokenLock;
  #status!: TokenStatusStore;

  static {
    attachTo = (store, dialect, client, options) => {
      const [option, expected] = dialect.clientOption;
      if (!dialect.isClient(client)) {
        throw new TypeError(
          `Invalid ${dialect.name} store option "${option}": expected ${expected}`,
        );
      }
      const checked = (name: string) => {
        validateTableName(name);
        dialect.checkName?.(name);
        return name;
      };
      const table = checked(options?.table ?? "oauthtoken");
      const lockTable = checked(options?.lockTable ?? `${table}_lock`);
      const statusTable = checked(options?.statusTable ?? `${table}_status`);
      const names = [table, lockTable, statusTable];
      if (new Set(names.map((name) => name.toLowerCase())).size < 3) {
        throw new TypeError(
          `Invalid ${dialect.name} store tables ${
            JSON.stringify(names)
          }: the token, lease and status tables must differ`,
        );
      }
      store.#dialect = dialect as SqlDialect<unknown>;
      store.#client = client;
      store.#table = table;
      store.#lockTable = lockTable;
      store.#statusTable = statusTable;
      const host = {
        dialect: store.#dialect,
        client,
        ready: () => store.#ready(),
        secrets: store.#secrets,
      };
      store.#lock = new SqlTokenLock({ ...host, lockTable });
      store.#status = new SqlTokenStatuses({ ...host, statusTable });
    };
    adopt = async (store, secrets) => {
      store.#owned = true;
      store.#secrets.push(...secrets);
      await store.#ready();
      // Two connections up front (a pool opens them only when asked): a
      // refresh holder's re-read and its rotation mark check run side by
      // side, and a connection opened between them costs more than both.
      await Promise.all(
        [0, 1].map(() => store.#dialect.run(store.#client, "SELECT 1", [])),
      );
    };
  }

  /** The token table. */
  get table(): string {
    return this.#table;
  }

  /** The lease table. */
  get lockTable(): string {
    return this.#lockTable;
  }

  /** The token status table. */
  get statusTable(): string {
    return this.#statusTable;
  }

  /** Leases in {@linkcode SqlTokenStore.lockTable}, shared by every process using the database. */
  get lock(): TokenLock {
    return this.#lock;
  }

  /**
   * Token statuses in {@linkcode SqlTokenStore.statusTable}, shared by every
   * process using the database; a token's status is deleted with the token.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const store = await LibsqlTokenStore.open({ url: ":memory:" });
   * const { id } = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * await store.status.put({ id: id!, state: "ok", failures: 0, lastRefreshAt: 1_800_000_000_000 });
   * assertEquals((await store.status.get(id!))?.lastRefreshAt, 1_800_000_000_000);
   * await store.deleteToken(id!);
   * assertEquals(await store.status.get(id!), null);
   * await store.close();
   * ```
   */
  get status(): TokenStatusStore {
    return this.#status;
  }

  #ready(): Promise<SqlSchema> {
    const d = this.#dialect;
    this.#schema ??= this.#retry(
      `prepare ${d.name} table "${this.#table}"`,
      [],
      () =>
        d.prepare(
          this.#client,
          this.#table,
          this.#lockTable,
          this.#statusTable,
        ),
    ).catch(
      (error) => {
        this.#schema = undefined;
        throw error;
      },
    );
    return this.#schema;
  }

  #retry<T>(action: string, secrets: Secrets, fn: () => Promise<T>) {
    const all = [...this.#secrets, ...secrets];
    return withRetry(this.#dialect.faults, action, all, fn);
  }

  #where(schema: SqlSchema): string {
    return `${this.#dialect.name} table "${schema.name}"`;
  }

  async #find(plan: QueryPlan, secrets: Secrets): Promise<OAuthToken | null> {
    const d = this.#dialect;
    const schema = await this.#ready();
    const where = planToWhere(plan);
    const limit = d.exactEquality ? " LIMIT 1" : "";
    const sql = `SELECT ${schema.columnList} FROM ${schema.table} ` +
      `WHERE ${where.sql}${limit}`;
    const result = await this.#retry(
      `find token in ${this.#where(schema)}`,
      secrets,
      () => d.run(this.#client, sql, where.params),
    );
    const tokens = tokensOf(result.rows, this.#where(schema));
    // a case- or pad-insensitive collation returns look-alikes too
    return (d.exactEquality
      ? tokens[0]
      : tokens.find((token) => matchesPlan(token, plan))) ?? null;
  }

  /**
   * Finds a token by the matching rules.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const store = await LibsqlTokenStore.open({ url: ":memory:" });
   * await store.saveToken(
   *   new OAuthToken({
   *     userName: "ada@example.com",
   *     clientId: "1000.C",
   *     refreshToken: "1000.r",
   *   }),
   * );
   * const token = await store.findToken({
   *   userName: "ada@example.com",
   *   clientId: "1000.C",
   * });
   * assertEquals(token?.refreshToken, "1000.r");
   * assertEquals(await store.findToken({ refreshToken: "1000.other" }), null);
   * await store.close();
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
   * Inserts or updates a token atomically: the row with the token's id, else
   * the row found by the matching rules (replaced, keeping its id), else a
   * new row with a fresh random id. Concurrent saves of one user, from any
   * number of processes, never make two rows.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const store = await LibsqlTokenStore.open({ url: ":memory:" });
   * const saved = await store.saveToken(
   *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
   * );
   * assertEquals(saved.id?.length, 10); // fits Zoho's varchar(10)
   * // The same user again: its fields replace the stored ones, same id.
   * const updated = await store.saveToken(
   *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r2" }),
   * );
   * assertEquals(updated.id, saved.id);
   * await store.close();
   * ```
   *
   * @param token The token.
   * @returns The stored token, id set.
   * @throws {TokenStoreError} `INVALID_TOKEN` (nothing stored), also when a
   * value does not fit its column (Zoho's `varchar(255)`), or `BACKEND`.
   */
  async saveToken(token: OAuthToken): Promise<OAuthToken> {
    const checked = validateForSave(token);
    const row = tokenToRow(checked);
    const plan = planSave(checked);
    const schema = await this.#ready();
    checkRowFits(row, schema.columns, schema.limits, schema.name);
    const id = await this.#retry(
      `save token in ${this.#where(schema)}`,
      secretsOf(checked),
      () => this.#dialect.save(this.#client, schema, plan, row),
    );
    return checked.id === id ? checked : checked.with({ id });
  }

  /**
   * Deletes the token with this id, and its status, in one transaction.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const store = await LibsqlTokenStore.open({ url: ":memory:" });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * assertEquals(await store.deleteToken(saved.id!), true);
   * assertEquals(await store.deleteToken(saved.id!), false); // no such token
   * await store.close();
   * ```
   *
   * @param id The id.
   * @returns `true` if a token was deleted.
   * @throws {TokenStoreError} `INVALID_QUERY` for a malformed id, or `BACKEND`.
   */
  async deleteToken(id: string): Promise<boolean> {
    validateId(id);
    const d = this.#dialect;
    const schema = await this.#ready();
    const params = d.idEquals.split("?").slice(1).map(() => id);
    const token = await this.#retry(
      `delete token in ${this.#where(schema)}`,
      [],
      () =>
        d.atomic(this.#client, [
          {
            sql: `DELETE FROM ${schema.statusTable} WHERE ${d.idEquals}`,
            params,
          },
          { sql: `DELETE FROM ${schema.table} WHERE ${d.idEquals}`, params },
        ]),
    );
    return token.rowsAffected > 0;
  }

  /**
   * Every stored token.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const store = await LibsqlTokenStore.open({ url: ":memory:" });
   * await store.saveToken(new OAuthToken({ refreshToken: "1000.a" }));
   * await store.saveToken(new OAuthToken({ refreshToken: "1000.b" }));
   * assertEquals((await store.getTokens()).length, 2);
   * await store.close();
   * ```
   *
   * @returns The tokens.
   * @throws {TokenStoreError} `BACKEND` or `CORRUPT`.
   */
  async getTokens(): Promise<OAuthToken[]> {
    const schema = await this.#ready();
    const result = await this.#retry(
      `read tokens in ${this.#where(schema)}`,
      [],
      () =>
        this.#dialect.run(
          this.#client,
          `SELECT ${schema.columnList} FROM ${schema.table}`,
        ),
    );
    return tokensOf(result.rows, this.#where(schema));
  }

  /**
   * Deletes every stored token and every status, in one transaction
   * (leases are kept).
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const store = await LibsqlTokenStore.open({ url: ":memory:" });
   * await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * await store.deleteTokens();
   * assertEquals(await store.getTokens(), []);
   * await store.close();
   * ```
   *
   * @throws {TokenStoreError} `BACKEND`.
   */
  async deleteTokens(): Promise<void> {
    const schema = await this.#ready();
    await this.#retry(
      `delete tokens in ${this.#where(schema)}`,
      [],
      () =>
        this.#dialect.atomic(this.#client, [
          { sql: `DELETE FROM ${schema.statusTable}`, params: [] },
          { sql: `DELETE FROM ${schema.table}`, params: [] },
        ]),
    );
  }

  /**
   * The token with this id.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const store = await LibsqlTokenStore.open({ url: ":memory:" });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * assertEquals((await store.findTokenById(saved.id!))?.refreshToken, "1000.r");
   * assertEquals(await store.findTokenById("a1B2c3"), null);
   * await store.close();
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
   * Closes the client if the store's `open` created it; an injected client
   * is left open for its owner.
   *
   * @example Usage
   * ```ts
   * import { assertRejects } from "@std/assert";
   * import { TokenStoreError } from "@tokenstore/tokenstore";
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const store = await LibsqlTokenStore.open({ url: ":memory:" });
   * await store.close(); // closes the client that open() created
   * await assertRejects(() => store.getTokens(), TokenStoreError);
   * ```
   */
  async close(): Promise<void> {
    if (this.#owned) {
      this.#owned = false;
      await this.#dialect.close(this.#client);
    }
  }
}

/**
 * Binds a store to its database and client, checking the table names; for
 * the subclass constructors.
 *
 * @throws {TypeError} for a client of another kind or a bad table name.
 */
export function attachDialect<C>(
  store: SqlTokenStore,
  dialect: SqlDialect<C>,
  client: unknown,
  options: SqlTableOptions | undefined,
): void {
  attachTo(store, dialect, client, options);
}

/**
 * The end of every `open`: the store made by `make` owns `client` (its
 * `close` closes it), keeps `secrets` out of its messages, and has its
 * tables ready; on failure the client is closed.
 */
export async function openOwned<C, S extends SqlTokenStore>(
  dialect: SqlDialect<C>,
  client: C,
  secrets: Secrets,
  make: (client: C) => S,
): Promise<S> {
  try {
    const store = make(client);
    await adopt(store, secrets);
    return store;
  } catch (error) {
    await dialect.close(client).catch(() => {});
    throw error;
  }
}
