/**
 * An in-process {@linkcode TokenStore}: for tests, scripts and single-process
 * apps. Leases are in-process too.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const store = new MemoryTokenStore();
 * const saved = await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * const found = await store.findToken({ userName: "ada@example.com" });
 * assertEquals(found?.id, saved.id);
 * ```
 *
 * @module
 */

import { newTokenId } from "../core/id.ts";
import { type OAuthToken, validateId } from "../core/token.ts";
import {
  type Lease,
  mergeFound,
  planQuery,
  planSave,
  type TokenLock,
  type TokenQuery,
  type TokenStore,
  validateForSave,
  validateLeaseKey,
  validateLeaseRequest,
} from "../core/token_store.ts";
import type { TokenStatus, TokenStatusStore } from "../core/token_status.ts";
import { statusToWrite } from "./_status.ts";
import { TokenMap } from "./_token_map.ts";

/**
 * Expiring leases held in this process's memory.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MemoryTokenLock } from "@tokenstore/tokenstore/memory";
 *
 * const lock = new MemoryTokenLock();
 * const lease = await lock.acquire("refresh:a1", { ttlMs: 10_000 });
 * assertEquals(await lock.acquire("refresh:a1", { ttlMs: 10_000 }), null); // held
 * assertEquals(await lease?.renew?.({ ttlMs: 10_000 }), true);
 * await lease?.release();
 * ```
 */
export class MemoryTokenLock implements TokenLock {
  #leases = new Map<string, { owner: symbol; expiresAt: number }>();

  /**
   * Takes the lease on `key`, or resolves `null` while another holder has it.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenLock } from "@tokenstore/tokenstore/memory";
   *
   * const lock = new MemoryTokenLock();
   * const lease = await lock.acquire("k", { ttlMs: 1000 });
   * assertEquals(lease?.key, "k");
   * await lease?.release();
   * // Released: the next caller takes it.
   * assertEquals((await lock.acquire("k", { ttlMs: 1000 }))?.key, "k");
   * ```
   *
   * @param key The key.
   * @param options `ttlMs`: when the lease expires if never released.
   * @returns The lease, or `null`.
   * @throws {TypeError} when the key is empty or `ttlMs` is not a positive
   * finite number.
   */
  acquire(key: string, options: { ttlMs: number }): Promise<Lease | null> {
    let ttlMs: number;
    try {
      ttlMs = validateLeaseRequest(key, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const now = Date.now();
    const held = this.#leases.get(key);
    if (held && held.expiresAt > now) return Promise.resolve(null);
    const owner = Symbol(key);
    this.#leases.set(key, { owner, expiresAt: now + ttlMs });
    const leases = this.#leases;
    return Promise.resolve({
      key,
      release(): Promise<void> {
        if (leases.get(key)?.owner === owner) leases.delete(key);
        return Promise.resolve();
      },
      renew(options: { ttlMs: number }): Promise<boolean> {
        let ttlMs: number;
        try {
          ttlMs = validateLeaseRequest(key, options);
        } catch (error) {
          return Promise.reject(error);
        }
        // an expired entry nobody took since is still ours
        if (leases.get(key)?.owner !== owner) return Promise.resolve(false);
        leases.set(key, { owner, expiresAt: Date.now() + ttlMs });
        return Promise.resolve(true);
      },
    });
  }

  /**
   * Whether a lease on `key` is held now.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenLock } from "@tokenstore/tokenstore/memory";
   *
   * const lock = new MemoryTokenLock();
   * await lock.acquire("k", { ttlMs: 1000 });
   * assertEquals(await lock.isHeld("k"), true);
   * assertEquals(await lock.isHeld("other"), false);
   * ```
   *
   * @param key The key.
   * @returns `true` while a lease on `key` lasts.
   * @throws {TypeError} when the key is empty.
   */
  isHeld(key: string): Promise<boolean> {
    try {
      validateLeaseKey(key);
    } catch (error) {
      return Promise.reject(error);
    }
    const held = this.#leases.get(key);
    return Promise.resolve(held !== undefined && held.expiresAt > Date.now());
  }
}

/**
 * A {@linkcode TokenStore} kept in memory. Every operation is atomic within
 * the process.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const store = new MemoryTokenStore();
 * await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * assertEquals((await store.getTokens()).length, 1);
 * ```
 */
export class MemoryTokenStore implements TokenStore {
  #tokens = new TokenMap();
  #statuses = new Map<string, TokenStatus>();
  /** In-process leases. */
  readonly lock: TokenLock = new MemoryTokenLock();
  /**
   * Token statuses, kept in memory beside the tokens; a token's status goes
   * with it.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const store = new MemoryTokenStore();
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * await store.status.put({ id: saved.id!, state: "ok", failures: 0 });
   * assertEquals((await store.status.get(saved.id!))?.state, "ok");
   * await store.deleteToken(saved.id!);
   * assertEquals(await store.status.get(saved.id!), null);
   * ```
   */
  readonly status: TokenStatusStore = memoryStatuses(this.#statuses);

  #freshId(): string {
    let id = newTokenId();
    while (this.#tokens.has(id)) id = newTokenId();
    return id;
  }

  /**
   * Finds a token by the matching rules.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * const store = new MemoryTokenStore();
   * assertEquals(await store.findToken({ userName: "nobody@example.com" }), null);
   * ```
   *
   * @param query A query or a token (merge semantics).
   * @returns The token, or `null`.
   */
  findToken(query: TokenQuery | OAuthToken): Promise<OAuthToken | null> {
    try {
      return Promise.resolve(
        mergeFound(query, this.#tokens.find(planQuery(query))),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Inserts or updates a token (found by the matching rules, id first).
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const store = new MemoryTokenStore();
   * const saved = await store.saveToken(
   *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
   * );
   * assertEquals(saved.id?.length, 10);
   * ```
   *
   * @param token The token.
   * @returns The stored token, id set.
   */
  saveToken(token: OAuthToken): Promise<OAuthToken> {
    try {
      const checked = validateForSave(token);
      const plan = planSave(checked);
      const existing = plan ? this.#tokens.find(plan) : null;
      const id = existing?.id ?? checked.id ?? this.#freshId();
      const stored = checked.id === id ? checked : checked.with({ id });
      this.#tokens.set(stored);
      return Promise.resolve(stored);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Deletes the token with this id.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * assertEquals(await new MemoryTokenStore().deleteToken("a1"), false);
   * ```
   *
   * @param id The id.
   * @returns `true` if a token was deleted.
   */
  deleteToken(id: string): Promise<boolean> {
    try {
      validateId(id);
      this.#statuses.delete(id);
      return Promise.resolve(this.#tokens.delete(id));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Every stored token.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * assertEquals(await new MemoryTokenStore().getTokens(), []);
   * ```
   *
   * @returns The tokens.
   */
  getTokens(): Promise<OAuthToken[]> {
    return Promise.resolve([...this.#tokens.values()]);
  }

  /**
   * Deletes every stored token.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const store = new MemoryTokenStore();
   * await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * await store.deleteTokens();
   * assertEquals(await store.getTokens(), []);
   * ```
   */
  deleteTokens(): Promise<void> {
    this.#tokens.clear();
    this.#statuses.clear();
    return Promise.resolve();
  }

  /**
   * The token with this id.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * assertEquals(await new MemoryTokenStore().findTokenById("a1"), null);
   * ```
   *
   * @param id The id.
   * @returns The token, or `null`.
   */
  findTokenById(id: string): Promise<OAuthToken | null> {
    try {
      return Promise.resolve(this.#tokens.get(validateId(id)) ?? null);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Nothing to release; present for symmetry with other stores.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * await new MemoryTokenStore().close();
   * ```
   */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Statuses in `statuses`, copied in and out so callers never share them. */
function memoryStatuses(
  statuses: Map<string, TokenStatus>,
): TokenStatusStore {
  const attempt = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return {
    get: (id) =>
      attempt(() => {
        const status = statuses.get(validateId(id));
        return status ? { ...status } : null;
      }),
    put: (status) =>
      attempt(() => {
        const checked = statusToWrite(status);
        statuses.set(checked.id, checked);
      }),
    list: () =>
      attempt(() => [...statuses.values()].map((status) => ({ ...status }))),
    delete: (id) =>
      attempt(() => {
        statuses.delete(validateId(id));
      }),
  };
}
