/**
 * A {@linkcode TokenStore} in a libSQL database: a local SQLite file, Turso or
 * any `sqld` server. Tokens live in the Zoho SDKs' own `oauthtoken` table
 * (created when missing, with columns of 4,096 characters; an existing
 * Zoho-created table is used as it is, and a value wider than its declared
 * `varchar(255)` is refused with `INVALID_TOKEN` before anything is
 * written), leases in `oauthtoken_lock`. Upserts are atomic write batches, so several
 * processes sharing one database never store a user twice.
 *
 * Importing this module loads no driver: pass your own `@libsql/client`
 * `Client`, or let {@linkcode LibsqlTokenStore.open} load the Web-standard
 * client (remote URLs, works on Deno Deploy) or the native one (`file:`,
 * `:memory:`).
 *
 * @example Open a local file
 * ```ts ignore
 * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const store = await LibsqlTokenStore.open({ url: "file:tokens.db" });
 * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * console.log((await store.findToken({ userName: "ada@example.com" }))?.id);
 * await store.close();
 * ```
 *
 * @module
 */

import { newTokenId } from "../core/id.ts";
import { secretsOf } from "../core/_redact.ts";
import { type OAuthToken, validateId } from "../core/token.ts";
import {
  mergeFound,
  planQuery,
  planSave,
  type QueryPlan,
  type TokenLock,
  type TokenQuery,
  type TokenStore,
  validateForSave,
} from "../core/token_store.ts";
import {
  backendError,
  createClientFor,
  isConstraint,
  type LibsqlClient,
  withRetry,
} from "./_libsql/client.ts";
import { LibsqlTokenLock } from "./_libsql/lock.ts";
import {
  type LibsqlSchema,
  prepareSchema,
  saveStatements,
} from "./_libsql/schema.ts";
import {
  planToWhere,
  rowToToken,
  tokenToRow,
  validateTableName,
} from "./_sql/rows.ts";
import { checkRowFits } from "./_sql/widths.ts";

export type {
  LibsqlClient,
  LibsqlResultSet,
  LibsqlStatement,
} from "./_libsql/client.ts";

/** Options of the {@linkcode LibsqlTokenStore} constructor. */
export interface LibsqlTokenStoreOptions {
  /** An `@libsql/client` client; the store never closes it. */
  client: LibsqlClient;
  /** Token table; default `"oauthtoken"`. */
  table?: string;
  /** Lease table; default `"<table>_lock"`. */
  lockTable?: string;
}

/** Options of {@linkcode LibsqlTokenStore.open}. */
export interface LibsqlOpenOptions {
  /**
   * `libsql:`, `http(s):` or `ws(s):` (Web-standard client, no native code),
   * `file:` or `:memory:` (native client).
   */
  url: string;
  /** Auth token of a remote database (Turso); never printed. */
  authToken?: string;
  /** Token table; default `"oauthtoken"`. */
  table?: string;
  /** Lease table; default `"<table>_lock"`. */
  lockTable?: string;
}

/** Fresh ids are drawn again this often when one is already taken. */
const ID_ATTEMPTS = 3;

/**
 * A {@linkcode TokenStore} over a libSQL client ({@linkcode LibsqlClient}), in Zoho's
 * `oauthtoken` table layout, with cross-process leases.
 *
 * @example Usage with an injected client
 * ```ts ignore
 * import { createClient } from "npm:@libsql/client@^0.15";
 * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const client = createClient({ url: "file:tokens.db" });
 * const store = new LibsqlTokenStore({ client, table: "oauthtoken" });
 * const saved = await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * console.log(saved.id);
 * client.close();
 * ```
 */
export class LibsqlTokenStore implements TokenStore {
  #client: LibsqlClient;
  #owned = false;
  #secrets: (string | undefined)[] = [];
  #schema: Promise<LibsqlSchema> | undefined;
  /** The token table. */
  readonly table: string;
  /** The lease table. */
  readonly lockTable: string;
  /** Leases in {@linkcode LibsqlTokenStore.lockTable}, shared by every process using the database. */
  readonly lock: TokenLock;

  /**
   * Creates a store over an injected client. Tables are created on first
   * use.
   *
   * @param options The client and table names.
   * @throws {TypeError} when the client is missing or a table name is not a
   * plain identifier.
   */
  constructor(options: LibsqlTokenStoreOptions) {
    const client = options?.client;
    if (
      client === null || typeof client !== "object" ||
      typeof client.execute !== "function" || typeof client.batch !== "function"
    ) {
      throw new TypeError(
        'Invalid libSQL store option "client": expected an @libsql/client Client',
      );
    }
    this.#client = client;
    this.table = validateTableName(options.table ?? "oauthtoken");
    this.lockTable = validateTableName(
      options.lockTable ?? `${this.table}_lock`,
    );
    const ready = () => this.#ready();
    const secrets = this.#secrets;
    this.lock = new LibsqlTokenLock({ client: this.#client, ready, secrets });
  }

  /**
   * Opens a database by URL, loading the driver entry point it needs, and
   * makes the tables ready. {@linkcode LibsqlTokenStore.close} closes the
   * client.
   *
   * @example Usage
   * ```ts ignore
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const store = await LibsqlTokenStore.open({
   *   url: "libsql://tokens-example.turso.io",
   *   authToken: Deno.env.get("TURSO_AUTH_TOKEN"),
   * });
   * await store.close();
   * ```
   *
   * @param options URL, auth token and table names.
   * @returns The ready store.
   * @throws {TypeError} for an unsupported URL scheme or a bad table name.
   * @throws {TokenStoreError} `BACKEND` when the database cannot be reached.
   */
  static async open(options: LibsqlOpenOptions): Promise<LibsqlTokenStore> {
    const { url, authToken, table, lockTable } = options;
    const client = await createClientFor(url, authToken);
    try {
      const store = new LibsqlTokenStore({ client, table, lockTable });
      store.#owned = true;
      store.#secrets.push(authToken);
      await store.#ready();
      return store;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  #ready(): Promise<LibsqlSchema> {
    this.#schema ??= withRetry(
      `prepare libSQL table "${this.table}"`,
      this.#secrets,
      () => prepareSchema(this.#client, this.table, this.lockTable),
    ).catch((error) => {
      this.#schema = undefined;
      throw error;
    });
    return this.#schema;
  }

  async #select(
    action: string,
    where: { sql: string; params: string[] } | null,
    secrets: (string | undefined)[],
    limit?: number,
  ): Promise<OAuthToken[]> {
    const { table, columnList } = await this.#ready();
    const sql = `SELECT ${columnList} FROM ${table}` +
      (where ? ` WHERE ${where.sql}` : "") + (limit ? ` LIMIT ${limit}` : "");
    const result = await withRetry(
      `${action} in libSQL table "${table}"`,
      [...this.#secrets, ...secrets],
      () => this.#client.execute({ sql, args: where?.params ?? [] }),
    );
    const label = `libSQL table "${table}"`;
    return result.rows.map((row) => rowToToken(row, label));
  }

  async #first(
    plan: QueryPlan,
    secrets: (string | undefined)[],
  ): Promise<OAuthToken | null> {
    const rows = await this.#select(
      "find token",
      planToWhere(plan),
      secrets,
      1,
    );
    return rows[0] ?? null;
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
    return mergeFound(query, await this.#first(plan, secretsOf(query)));
  }

  /**
   * Inserts or updates a token in one atomic write batch: the row with the
   * token's id, else the row found by the matching rules (replaced, keeping
   * its id), else a new row with a fresh random id.
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
   * value is wider than its column is declared (Zoho's `varchar(255)`), or
   * `BACKEND`.
   */
  async saveToken(token: OAuthToken): Promise<OAuthToken> {
    const checked = validateForSave(token);
    const row = tokenToRow(checked);
    const plan = planSave(checked);
    const schema = await this.#ready();
    checkRowFits(row, schema.columns, schema.limits, schema.table);
    const secrets = [...this.#secrets, ...secretsOf(checked)];
    const action = `save token in libSQL table "${schema.table}"`;
    for (let attempt = 1;; attempt++) {
      const id = checked.id ?? newTokenId();
      const statements = saveStatements(schema, plan, [id, ...row.slice(1)]);
      try {
        const results = await withRetry(
          action,
          secrets,
          () => this.#client.batch(statements, "write"),
        );
        const written = results.flatMap((result) => result.rows)[0]?.id;
        if (written === undefined || written === null) {
          throw backendError(action, new Error("no row was written"), []);
        }
        const stored = String(written);
        return checked.id === stored ? checked : checked.with({ id: stored });
      } catch (error) {
        const cause = error instanceof Error ? error.cause : undefined;
        if (checked.id || attempt >= ID_ATTEMPTS || !isConstraint(cause)) {
          throw error;
        }
      }
    }
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
    const result = await withRetry(
      `delete token in libSQL table "${table}"`,
      this.#secrets,
      () =>
        this.#client.execute({
          sql: `DELETE FROM ${table} WHERE id = ?`,
          args: [id],
        }),
    );
    return result.rowsAffected > 0;
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
  getTokens(): Promise<OAuthToken[]> {
    return this.#select("read tokens", null, []);
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
      `delete tokens in libSQL table "${table}"`,
      this.#secrets,
      () => this.#client.execute(`DELETE FROM ${table}`),
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
      return this.#first(planQuery({ id: validateId(id) }), []);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Closes the client if {@linkcode LibsqlTokenStore.open} created it; an
   * injected client is left open for its owner.
   *
   * @example Usage
   * ```ts ignore
   * await store.close();
   * ```
   */
  close(): Promise<void> {
    if (this.#owned) this.#client.close();
    return Promise.resolve();
  }
}
