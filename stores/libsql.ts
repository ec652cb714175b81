/**
 * A {@linkcode TokenStore} in a libSQL database: a local SQLite file, Turso or
 * any `sqld` server. Tokens live in the Zoho SDKs' own `oauthtoken` table
 * (created when missing, with columns of 4,096 characters; an existing
 * Zoho-created table is used as it is, and a value wider than its declared
 * `varchar(255)` is refused with `INVALID_TOKEN` before anything is
 * written), leases in `oauthtoken_lock`, token statuses in
 * `oauthtoken_status`. Upserts are atomic write batches, so several
 * processes sharing one database never store a user twice.
 *
 * Importing this module loads no driver: pass your own `@libsql/client`
 * `Client`, or let {@linkcode LibsqlTokenStore.open} load the Web-standard
 * client (remote URLs, works on Deno Deploy) or the native one (`file:`,
 * `:memory:`).
 *
 * @example Open a local file
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { join } from "@std/path";
 * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const dir = await Deno.makeTempDir();
 * const url = `file:${join(dir, "tokens.db")}`;
 * const store = await LibsqlTokenStore.open({ url });
 * await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * await store.close();
 *
 * // Another process, or this one after a restart, finds the token.
 * const again = await LibsqlTokenStore.open({ url });
 * const found = await again.findToken({ userName: "ada@example.com" });
 * assertEquals(found?.refreshToken, "1000.r");
 * await again.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { fromFileUrl } from "@std/path";
import type { TokenStore } from "../core/token_store.ts";
import { absolutePath } from "./_file/fs.ts";
import { StatWatch } from "./_file/watch.ts";
import { createClientFor, type LibsqlClient } from "./_libsql/client.ts";
import { LIBSQL } from "./_libsql/dialect.ts";
import {
  attachDialect,
  openOwned,
  type SqlTableOptions,
  SqlTokenStore,
} from "./_sql/store.ts";

export type {
  LibsqlClient,
  LibsqlResultSet,
  LibsqlStatement,
} from "./_libsql/client.ts";
export { type SqlTableOptions, SqlTokenStore } from "./_sql/store.ts";

/** Options of the {@linkcode LibsqlTokenStore} constructor. */
export interface LibsqlTokenStoreOptions extends SqlTableOptions {
  /** An `@libsql/client` client; the store never closes it. */
  client: LibsqlClient;
}

/** Options of {@linkcode LibsqlTokenStore.open}. */
export interface LibsqlOpenOptions extends SqlTableOptions {
  /**
   * `libsql:`, `http(s):` or `ws(s):` (Web-standard client, no native code),
   * `file:` or `:memory:` (native client).
   */
  url: string;
  /** Auth token of a remote database (Turso); never printed. */
  authToken?: string;
}

/**
 * A {@linkcode TokenStore} over a libSQL client ({@linkcode LibsqlClient}), in Zoho's
 * `oauthtoken` table layout, with cross-process leases. Upserts are atomic
 * write batches.
 *
 * @example Usage with an injected client
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createClient } from "@libsql/client";
 * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const client = createClient({ url: ":memory:" });
 * const store = new LibsqlTokenStore({ client, table: "oauthtoken" });
 * const saved = await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * const rows = await client.execute("select user_name from oauthtoken");
 * assertEquals(rows.rows.map((row) => row.user_name), ["ada@example.com"]);
 * assertEquals((await store.findTokenById(saved.id!))?.refreshToken, "1000.r");
 * client.close(); // the store never closes a client it was given
 * ```
 */
export class LibsqlTokenStore extends SqlTokenStore implements TokenStore {
  /** The watch of a `file:` database opened by `open`. */
  #watch: StatWatch | undefined;

  /**
   * Creates a store over an injected client. Tables are created on first
   * use.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createClient } from "@libsql/client";
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const client = createClient({ url: ":memory:" });
   * const store = new LibsqlTokenStore({ client, table: "crm_tokens" });
   * assertEquals(await store.getTokens(), []); // creates the tables
   * assertEquals(store.lockTable, "crm_tokens_lock");
   * client.close();
   * ```
   *
   * @param options The client and table names.
   * @throws {TypeError} when the client is missing or a table name is not a
   * plain identifier.
   */
  constructor(options: LibsqlTokenStoreOptions) {
    super();
    attachDialect(this, LIBSQL, options?.client, options);
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
    const { url, authToken, table, lockTable, statusTable } = options;
    const client = await createClientFor(url, authToken);
    const store = await openOwned(
      LIBSQL,
      client,
      [authToken],
      (client) =>
        new LibsqlTokenStore({ client, table, lockTable, statusTable }),
    );
    const path = localDatabasePath(url);
    if (path !== undefined) {
      store.#watch = new StatWatch([path, `${path}-wal`]);
    }
    return store;
  }

  /**
   * Resolves when the database changes after the call, or when `signal`
   * aborts. On a `file:` database opened by
   * {@linkcode LibsqlTokenStore.open}, the database file and its WAL are
   * watched by their `stat` every 4 ms while someone waits (a directory
   * watch would open and close the database's files, and so drop
   * SQLite's POSIX locks of this process): the refresh client's waiters
   * wake within milliseconds of another process's write (any write: a
   * waiter woken for nothing reads once more);
   * elsewhere (a remote database, an injected client) only `signal` ends
   * it and waiters poll.
   *
   * @example Usage
   * ```ts
   * import { join } from "@std/path";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const dir = await Deno.makeTempDir();
   * const store = await LibsqlTokenStore.open({ url: `file:${join(dir, "tokens.db")}` });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * const changed = store.watchToken(saved.id!, { signal: AbortSignal.timeout(5_000) });
   * await store.saveToken(saved.with({ accessToken: "1000.a" }));
   * await changed;
   * await store.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   *
   * @param id The token id.
   * @param options `signal` ends the wait.
   */
  watchToken(id: string, options: { signal: AbortSignal }): Promise<void> {
    const { signal } = options;
    if (this.#watch !== undefined) return this.#watch.watch(id, signal);
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true })
    );
  }

  /**
   * Closes the watch of {@linkcode LibsqlTokenStore.watchToken}, then the
   * client if {@linkcode LibsqlTokenStore.open} created it.
   *
   * @example Usage
   * ```ts
   * import { LibsqlTokenStore } from "@tokenstore/tokenstore/libsql";
   *
   * const store = await LibsqlTokenStore.open({ url: ":memory:" });
   * await store.close();
   * ```
   */
  override async close(): Promise<void> {
    await this.#watch?.close();
    await super.close();
  }
}

/** The file of a `file:` database URL (without its query), if it is one. */
function localDatabasePath(url: string): string | undefined {
  if (!/^file:/i.test(url)) return undefined;
  const bare = url.replace(/[?#].*$/, "");
  try {
    const path = bare.startsWith("file://")
      ? fromFileUrl(bare)
      : decodeURIComponent(bare.slice("file:".length));
    return path === "" || path === ":memory:" ? undefined : absolutePath(path);
  } catch {
    return undefined;
  }
}
