/**
 * A {@linkcode TokenStore} in a PostgreSQL database: Supabase, Neon, any
 * managed or self-hosted server. Tokens live in the Zoho SDKs' own
 * `oauthtoken` table layout (created when missing, with 4,096-character
 * columns and hash indexes on the lookup columns; an existing table is used
 * as it is, and a value wider than a column it declares, such as
 * `varchar(255)`, is refused with `INVALID_TOKEN` before anything is
 * written), in the schema the connection's `search_path` names first;
 * leases in `oauthtoken_lock` on the database's clock, token statuses in
 * `oauthtoken_status`. Saves are
 * transactions serialised per user by an advisory lock, so processes and
 * isolates sharing one database never store a user twice. Every value is a
 * statement parameter. Every save notifies the channel `tokenstore_<table>`
 * with the token id, and {@linkcode PostgresTokenStore.watchToken} listens
 * there (one connection, opened by the first waiter): a refresh in one
 * process wakes the callers waiting for it in every other at once.
 *
 * Importing this module loads no driver: pass your own `npm:postgres`
 * client, or let {@linkcode PostgresTokenStore.open} load it. The driver is
 * plain TypeScript over TCP, so the store runs on Deno Deploy and Supabase
 * Edge Functions; it reads the `PG*` environment variables, so the Deno CLI
 * needs `--allow-env`.
 *
 * @example Open a database
 * ```ts ignore
 * import { assertEquals } from "@std/assert";
 * import { PostgresTokenStore } from "@tokenstore/tokenstore/postgres";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const store = await PostgresTokenStore.open({ url: "postgres://postgres@127.0.0.1:5432/postgres" });
 * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * const found = await store.findToken({ userName: "ada@example.com" });
 * assertEquals(found?.refreshToken, "1000.r");
 * await store.close();
 * ```
 *
 * @module
 */

import type { TokenStore } from "../core/token_store.ts";
import { createSql, type PostgresSql } from "./_postgres/client.ts";
import { POSTGRES } from "./_postgres/dialect.ts";
import { PostgresWatch } from "./_postgres/listen.ts";
import { notifyChannel } from "./_postgres/save.ts";
import { checkName } from "./_postgres/schema.ts";
import {
  openSettings,
  type PostgresOpenOptions,
} from "./_postgres/settings.ts";
import { validateTableName } from "./_sql/rows.ts";
import {
  attachDialect,
  openOwned,
  type SqlTableOptions,
  SqlTokenStore,
} from "./_sql/store.ts";

export type {
  PostgresQueryable,
  PostgresReserved,
  PostgresRows,
  PostgresSql,
} from "./_postgres/client.ts";
export type { PostgresOpenOptions } from "./_postgres/settings.ts";
export { type SqlTableOptions, SqlTokenStore } from "./_sql/store.ts";

/**
 * Options of the {@linkcode PostgresTokenStore} constructor.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import postgres from "postgres";
 * import {
 *   PostgresTokenStore,
 *   type PostgresTokenStoreOptions,
 * } from "@tokenstore/tokenstore/postgres";
 *
 * const sql = postgres("postgres://postgres@127.0.0.1:5432/postgres", {
 *   prepare: false, // behind a transaction pooler
 * });
 * const options: PostgresTokenStoreOptions = { sql, table: "crm_tokens" };
 * const store = new PostgresTokenStore(options); // connects on first use
 * assertEquals(store.lockTable, "crm_tokens_lock");
 * await sql.end();
 * ```
 */
export interface PostgresTokenStoreOptions extends SqlTableOptions {
  /** An `npm:postgres` client (3.4 or later); the store never ends it. */
  sql: PostgresSql;
}

/**
 * A {@linkcode TokenStore} over an `npm:postgres` client, in Zoho's
 * `oauthtoken` table layout, with cross-process leases.
 *
 * @example Usage with an injected client
 * ```ts ignore
 * import { assertEquals } from "@std/assert";
 * import postgres from "postgres";
 * import { PostgresTokenStore } from "@tokenstore/tokenstore/postgres";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const sql = postgres("postgres://postgres@127.0.0.1:5432/postgres");
 * const store = new PostgresTokenStore({ sql });
 * const saved = await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * assertEquals((await store.findTokenById(saved.id!))?.userName, "ada@example.com");
 * await sql.end();
 * ```
 */
export class PostgresTokenStore extends SqlTokenStore implements TokenStore {
  #watch: PostgresWatch;

  /**
   * Creates a store over an injected client. Tables are created on first
   * use.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import postgres from "postgres";
   * import { PostgresTokenStore } from "@tokenstore/tokenstore/postgres";
   *
   * const sql = postgres("postgres://postgres@127.0.0.1:5432/postgres");
   * const store = new PostgresTokenStore({ sql }); // connects on first use
   * assertEquals(store.table, "oauthtoken");
   * await sql.end(); // the store never ends a client it was given
   * ```
   *
   * @param options The client and table names.
   * @throws {TypeError} when the client is missing or a table name is not a
   * plain identifier of at most 63 characters.
   */
  constructor(options: PostgresTokenStoreOptions) {
    super();
    attachDialect(this, POSTGRES, options?.sql, options);
    this.#watch = new PostgresWatch(options.sql, notifyChannel(this.table));
  }

  /**
   * Resolves when token `id` is saved after the call, by any process (its
   * save notifies the table's channel), or when `signal` aborts. The first
   * call opens the store's one listening connection (postgres.js
   * `sql.listen`; a client without `listen` never resolves this but by
   * `signal`); it stays open until {@linkcode PostgresTokenStore.close}.
   * A notification can be lost (the connection dropped): the client polls
   * as well.
   *
   * @example Usage
   * ```ts ignore
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { PostgresTokenStore } from "@tokenstore/tokenstore/postgres";
   *
   * const store = await PostgresTokenStore.open({ url: "postgres://postgres@127.0.0.1:5432/postgres" });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * const changed = store.watchToken(saved.id!, { signal: AbortSignal.timeout(5_000) });
   * await store.saveToken(saved.with({ accessToken: "1000.a" }));
   * await changed;
   * await store.close();
   * ```
   *
   * @param id The token id.
   * @param options `signal` ends the wait.
   */
  watchToken(id: string, options: { signal: AbortSignal }): Promise<void> {
    return this.#watch.watch(id, options.signal);
  }

  /**
   * Stops listening, then closes the client if
   * {@linkcode PostgresTokenStore.open} created it.
   *
   * @example Usage
   * ```ts ignore
   * import { PostgresTokenStore } from "@tokenstore/tokenstore/postgres";
   *
   * const store = await PostgresTokenStore.open({ url: "postgres://postgres@127.0.0.1:5432/postgres" });
   * await store.close();
   * ```
   */
  override async close(): Promise<void> {
    await this.#watch.close();
    await super.close();
  }

  /**
   * Creates a client (loading `npm:postgres`) and makes the tables ready.
   * {@linkcode PostgresTokenStore.close} ends the client.
   *
   * @example Usage
   * ```ts ignore
   * import { PostgresTokenStore } from "@tokenstore/tokenstore/postgres";
   *
   * const store = await PostgresTokenStore.open({
   *   url: "postgres://crm@db.internal:5432/crm?search_path=tokens&sslmode=require",
   *   password: Deno.env.get("PGPASSWORD"),
   * });
   * await store.close();
   * ```
   *
   * @param options URL, password, table names, pool size.
   * @returns The ready store.
   * @throws {TypeError} for a malformed URL or option, or a bad table name.
   * @throws {TokenStoreError} `BACKEND` when the database cannot be reached.
   */
  static async open(options: PostgresOpenOptions): Promise<PostgresTokenStore> {
    const { settings, table, lockTable, statusTable } = openSettings(options);
    for (const name of [table ?? "oauthtoken", lockTable, statusTable]) {
      if (name !== undefined) checkName(validateTableName(name));
    }
    const sql = await createSql(settings);
    return await openOwned(
      POSTGRES,
      sql,
      [settings.password],
      (sql) => new PostgresTokenStore({ sql, table, lockTable, statusTable }),
    );
  }
}
