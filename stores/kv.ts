/**
 * A {@linkcode TokenStore} in Deno KV: a local SQLite-backed file, `:memory:`,
 * or the managed database on Deno Deploy. Safe for many processes and
 * isolates at once: every write is one atomic operation with versionstamp
 * checks, concurrent saves of the same user never create two tokens, and
 * {@linkcode KvTokenStore.lock} gives leases exclusive across processes.
 *
 * Layout under the prefix (default `["tokenstore"]`): the token at
 * `[...prefix, "token", id]` (its `toRecord()`), index entries
 * `[...prefix, "by_user", h(userName), h(clientId) or "", id]`,
 * `[...prefix, "by_access", h(accessToken), id]`,
 * `[...prefix, "by_grant", h(grantToken), h(clientId) or "", id]`,
 * `[...prefix, "by_refresh", h(refreshToken), h(clientId) or "", id]`
 * (`h` is SHA-256, base64url), counters `[...prefix, "uniq", kind, ...]` of how
 * many tokens have each of those keys (they serialise concurrent inserts),
 * leases at `[...prefix, "lock", key]`, statuses at `[...prefix, "status", id]`
 * (a token's goes in the atomic operation that deletes it), and, for a token
 * too large for one
 * Deno KV value (64 KiB; the model allows fields of 4,096 characters), its
 * largest unindexed fields at `[...prefix, "part", id, field]`, written in the
 * same atomic operation and listed in the record under `"$spilled"`.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const store = await KvTokenStore.open({ path: ":memory:" });
 * const saved = await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * const found = await store.findToken({ userName: "ada@example.com" });
 * assertEquals(found?.id, saved.id);
 * assertEquals(found?.refreshToken, "1000.r");
 * await store.close();
 * ```
 *
 * @module
 */

import { type OAuthToken, validateId } from "../core/token.ts";
import {
  mergeFound,
  planQuery,
  planSave,
  type TokenLock,
  type TokenQuery,
  type TokenStore,
  validateForSave,
} from "../core/token_store.ts";
import type { TokenStatusStore } from "../core/token_status.ts";
import {
  DEFAULT_PREFIX,
  KvKeys,
  planScope,
  validatePrefix,
} from "./_kv/keys.ts";
import { KvLeases } from "./_kv/leases.ts";
import { KvStatuses } from "./_kv/statuses.ts";
import { checkStoreOptions, openDatabase } from "./_kv/open.ts";
import { KvRunner } from "./_kv/runner.ts";
import {
  deleteOnce,
  findById,
  findByPlan,
  type KvContext,
  listTokens,
  saveOnce,
} from "./_kv/transactions.ts";
import { deleteTokens } from "./_kv/delete_all.ts";
import { splitRecord } from "./_kv/spill.ts";
import { watchKey } from "./_kv/watch.ts";
import type { KvConsistencyLevel, KvKey, KvLike } from "./_kv/kv_like.ts";

export type * from "./_kv/kv_like.ts";

/** Options of {@linkcode KvTokenStore}. */
export interface KvTokenStoreOptions {
  /** The database (any `Deno.Kv`); the store never closes it. */
  kv: KvLike;
  /** Key prefix of every key the store writes; default `["tokenstore"]`. */
  prefix?: KvKey;
  /**
   * Consistency of reads (`findToken`, `findTokenById`, `getTokens`):
   * `"strong"` (default) or `"eventual"` for read-mostly edge traffic, which
   * may see a slightly stale token. Writes always read strongly.
   */
  consistency?: KvConsistencyLevel;
}

/** Options of {@linkcode KvTokenStore.open}. */
export interface KvTokenStoreOpenOptions {
  /**
   * Where the database is: a file path, `":memory:"`, or a URL. Without it,
   * `Deno.openKv()` opens the default database (the managed one on Deno
   * Deploy).
   */
  path?: string;
  /** Key prefix of every key the store writes; default `["tokenstore"]`. */
  prefix?: KvKey;
  /** Consistency of reads; see {@linkcode KvTokenStoreOptions.consistency}. */
  consistency?: KvConsistencyLevel;
}

/**
 * A {@linkcode TokenStore} in Deno KV, shared safely by every process and
 * isolate that opens the same database.
 *
 * `deleteTokens` deletes every token with its index entries and status in atomic batches
 * (Deno KV allows 100 checks and 1000 mutations per atomic operation); leases
 * are kept, since they expire by themselves and a refresh holding one may
 * still be running. A token saved while `deleteTokens` runs may survive it,
 * consistently indexed.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const kv = await Deno.openKv(":memory:");
 * const store = new KvTokenStore({ kv, prefix: ["app", "tokens"] });
 * const saved = await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * assertEquals(
 *   (await store.findTokenById(saved.id!))?.userName,
 *   "ada@example.com",
 * );
 * // Every key the store writes is under the prefix.
 * const entry = await kv.get(["app", "tokens", "token", saved.id!]);
 * assertEquals(entry.value !== null, true);
 * kv.close(); // the store never closes a database it was given
 * ```
 */
export class KvTokenStore implements TokenStore {
  #kv: KvLike;
  #owned = false;
  #closed = false;
  #context: KvContext;
  #consistency: KvConsistencyLevel;
  #runner = new KvRunner(() => this.#closed);
  /** Leases in the same database, exclusive across processes. */
  readonly lock: TokenLock;
  /**
   * Token statuses at `[...prefix, "status", id]`, in the same database:
   * every process sees them. A put or delete is one atomic operation;
   * deleting a token deletes its status in the same atomic operation.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const store = await KvTokenStore.open({ path: ":memory:" });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * await store.status.put({
   *   id: saved.id!,
   *   state: "failing",
   *   failures: 1,
   *   lastFailureAt: 1_800_000_000_000,
   *   lastError: "invalid_client",
   * });
   * assertEquals((await store.status.get(saved.id!))?.failures, 1);
   * await store.deleteToken(saved.id!);
   * assertEquals(await store.status.list(), []);
   * await store.close();
   * ```
   */
  readonly status: TokenStatusStore;

  /**
   * Creates a store over an open database.
   *
   * @param options The database, the key prefix and the read consistency.
   * @throws {TokenStoreError} `BACKEND` off Deno (no `Deno.openKv`).
   * @throws {TypeError} when the prefix or the consistency is invalid.
   */
  constructor(options: KvTokenStoreOptions) {
    const { kv, prefix = DEFAULT_PREFIX, consistency = "strong" } = options ??
      {};
    this.#kv = kv;
    this.#consistency = checkStoreOptions(kv, consistency);
    this.#context = { kv, keys: new KvKeys(validatePrefix(prefix)) };
    this.status = new KvStatuses(
      kv,
      this.#context.keys,
      this.#runner,
      this.#consistency,
    );
    this.lock = new KvLeases(
      kv,
      this.#context.keys,
      (what, fn) => this.#runner.run(what, fn),
    );
  }

  /**
   * Opens a database and a store over it; {@linkcode KvTokenStore.close}
   * closes that database.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { join } from "@std/path";
   * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const dir = await Deno.makeTempDir();
   * const path = join(dir, "tokens.sqlite3");
   * const store = await KvTokenStore.open({ path });
   * await store.saveToken(
   *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
   * );
   * await store.close();
   *
   * // Another process, or this one after a restart, sees the token.
   * const again = await KvTokenStore.open({ path });
   * assertEquals((await again.getTokens()).length, 1);
   * await again.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   *
   * @param options Where the database is, the key prefix and the read consistency.
   * @returns The store.
   * @throws {TypeError} when an option is invalid.
   * @throws {TokenStoreError} `BACKEND` off Deno (no `Deno.openKv`, the
   * message says what is missing) or when the database cannot be opened.
   */
  static async open(
    options: KvTokenStoreOpenOptions = {},
  ): Promise<KvTokenStore> {
    const { path, prefix, consistency } = options ?? {};
    validatePrefix(prefix ?? DEFAULT_PREFIX);
    const kv = await openDatabase(path);
    try {
      const store = new KvTokenStore({ kv, prefix, consistency });
      store.#owned = true;
      return store;
    } catch (error) {
      kv.close();
      throw error;
    }
  }

  /**
   * Finds a token by the matching rules, through the indexes.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const store = await KvTokenStore.open({ path: ":memory:" });
   * await store.saveToken(
   *   new OAuthToken({ refreshToken: "1000.r", clientId: "1000.C" }),
   * );
   * const found = await store.findToken({ refreshToken: "1000.r" });
   * assertEquals(found?.clientId, "1000.C");
   * assertEquals(await store.findToken({ userName: "nobody@example.com" }), null);
   * await store.close();
   * ```
   *
   * @param query A query or a token (merge semantics).
   * @returns The token, or `null`.
   */
  findToken(query: TokenQuery | OAuthToken): Promise<OAuthToken | null> {
    return this.#runner.guard("find token", async () => {
      const plan = planQuery(query);
      const scope = plan.rule === "id" ? null : planScope(plan);
      const found = await this.#runner.retry(
        "find token",
        () => findByPlan(this.#context, plan, scope, this.#consistency),
      );
      return mergeFound(query, found?.token ?? null);
    });
  }

  /**
   * Inserts or updates a token (found by the matching rules, id first) in one
   * atomic operation with its index entries, retried on conflict.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const store = await KvTokenStore.open({ path: ":memory:" });
   * const saved = await store.saveToken(
   *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
   * );
   * // The same user again: its fields replace the stored ones, same id.
   * const updated = await store.saveToken(
   *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r2" }),
   * );
   * assertEquals(updated.id, saved.id);
   * assertEquals((await store.getTokens()).map((t) => t.refreshToken), [
   *   "1000.r2",
   * ]);
   * await store.close();
   * ```
   *
   * @param token The token.
   * @returns The stored token, id set.
   * @throws {TokenStoreError} `INVALID_TOKEN`, `CONFLICT` when concurrent
   * writes kept winning, `BACKEND`.
   */
  saveToken(token: OAuthToken): Promise<OAuthToken> {
    return this.#runner.guard("save token", () => {
      const checked = validateForSave(token);
      splitRecord(checked.toRecord()); // refuses, before anything is read, what no value holds
      const plan = planSave(checked);
      const scope = plan && plan.rule !== "id" ? planScope(plan) : null;
      const run = () =>
        this.#runner.retry(
          "save token",
          () => saveOnce(this.#context, checked, plan, scope),
        );
      // Queued before anything is awaited, so that saves of one token made
      // in this process apply in the order they were made.
      const key = checked.id !== undefined
        ? `id/${checked.id}`
        : plan && `${plan.rule}/${JSON.stringify(plan.conditions)}`;
      return key ? this.#runner.serial(key, run) : run();
    });
  }

  /**
   * Deletes the token with this id, with its index entries.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const store = await KvTokenStore.open({ path: ":memory:" });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * assertEquals(await store.deleteToken(saved.id!), true);
   * assertEquals(await store.deleteToken(saved.id!), false);
   * await store.close();
   * ```
   *
   * @param id The id.
   * @returns `true` if a token was deleted.
   */
  deleteToken(id: string): Promise<boolean> {
    return this.#runner.guard("delete token", () => {
      validateId(id);
      return this.#runner.retry(
        "delete token",
        () => deleteOnce(this.#context, id),
      );
    });
  }

  /**
   * Every stored token, paged through the whole prefix.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const store = await KvTokenStore.open({ path: ":memory:" });
   * assertEquals(await store.getTokens(), []);
   * await store.saveToken(
   *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.a" }),
   * );
   * await store.saveToken(
   *   new OAuthToken({ userName: "bob@example.com", refreshToken: "1000.b" }),
   * );
   * const users = (await store.getTokens()).map((token) => token.userName);
   * assertEquals(users.sort(), ["ada@example.com", "bob@example.com"]);
   * await store.close();
   * ```
   *
   * @returns The tokens, in id order.
   */
  getTokens(): Promise<OAuthToken[]> {
    return this.#runner.run(
      "list tokens",
      () => listTokens(this.#context, this.#consistency),
    );
  }

  /**
   * Deletes every token, index entry and status under the prefix, in atomic
   * batches. Leases are kept (they expire by themselves).
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const store = await KvTokenStore.open({ path: ":memory:" });
   * await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * await store.deleteTokens();
   * assertEquals(await store.getTokens(), []);
   * await store.close();
   * ```
   */
  deleteTokens(): Promise<void> {
    return this.#runner.guard(
      "delete tokens",
      () => deleteTokens(this.#context, this.#runner),
    );
  }

  /**
   * The token with this id.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const store = await KvTokenStore.open({ path: ":memory:" });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * assertEquals((await store.findTokenById(saved.id!))?.refreshToken, "1000.r");
   * assertEquals(await store.findTokenById("a1"), null);
   * await store.close();
   * ```
   *
   * @param id The id.
   * @returns The token, or `null`.
   */
  findTokenById(id: string): Promise<OAuthToken | null> {
    return this.#runner.guard("find token", async () => {
      validateId(id);
      const found = await this.#runner.retry(
        "find token",
        () => findById(this.#context, id, this.#consistency),
      );
      return found?.token ?? null;
    });
  }

  /**
   * Resolves once token `id` changes (saved or deleted) after the call, or
   * when `signal` aborts: `TokenClient` waits on it for another isolate's
   * refresh instead of polling (Deno KV `watch`; the local SQLite backend
   * reports only changes made in the same process).
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
   *
   * const store = await KvTokenStore.open({ path: ":memory:" });
   * const saved = await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
   * const changed = store.watchToken(saved.id!, { signal: AbortSignal.timeout(5_000) });
   * await store.saveToken(saved.with({ accessToken: "1000.a" }));
   * await changed;
   * assertEquals((await store.findTokenById(saved.id!))?.accessToken, "1000.a");
   * await store.close();
   * ```
   *
   * @param id The token id.
   * @param options `signal` ends the wait.
   */
  watchToken(id: string, options: { signal: AbortSignal }): Promise<void> {
    return this.#runner.guard("watch token", () => {
      validateId(id);
      return watchKey(
        this.#context.kv,
        this.#context.keys.token(id),
        options.signal,
      );
    });
  }

  /**
   * Closes the database if {@linkcode KvTokenStore.open} opened it; a
   * database given to the constructor is left open for its owner.
   *
   * @example Usage
   * ```ts
   * import { assertRejects } from "@std/assert";
   * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
   * import { TokenStoreError } from "@tokenstore/tokenstore";
   *
   * const store = await KvTokenStore.open({ path: ":memory:" });
   * await store.close();
   * // A closed store refuses every call.
   * await assertRejects(() => store.getTokens(), TokenStoreError);
   * ```
   */
  close(): Promise<void> {
    if (this.#owned && !this.#closed) {
      this.#closed = true;
      this.#kv.close();
    }
    return Promise.resolve();
  }
}
