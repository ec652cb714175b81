/**
 * The refresh pipeline's one view of the store: it reads tokens (by query,
 * with concurrent lookups sharing one read, and by id), lays the tokens
 * issued but not saved yet over what the store returns (the persister's
 * pending saves), and makes every write to the cache and to the skew
 * tracker. The client, the coordinator and the work all read through it;
 * it calls nothing above it.
 *
 * @module
 */

import { describeQuery } from "./options.ts";
import { isTransient, type Persister } from "./persist.ts";
import type { SkewTracker } from "./skew.ts";
import { planKey, type TokenCache } from "./cache.ts";
import { cacheLookups, lookupMissed } from "../_telemetry/metrics.ts";
import { TokenStoreError } from "../errors.ts";
import type { OAuthToken } from "../token.ts";
import {
  planQuery,
  type QueryPlan,
  type TokenQuery,
  type TokenStore,
} from "../token_store.ts";

/** A query, planned once, and what the cache holds for it. */
export interface Lookup {
  query: TokenQuery;
  plan: QueryPlan;
  key: string;
  /** The cached token, within `maxStaleMs` and still matching; the store is not asked. */
  cached: OAuthToken | undefined;
}

/** Settings of a {@linkcode TokenReader}. */
export interface ReaderConfig {
  store: TokenStore;
  cache: TokenCache;
  skew: SkewTracker;
  persister: Persister;
  now: () => number;
}

/** Reads tokens for the pipeline and keeps the cache. */
export class TokenReader {
  #store: TokenStore;
  #cache: TokenCache;
  #skew: SkewTracker;
  #persister: Persister;
  #now: () => number;

  constructor(config: ReaderConfig) {
    this.#store = config.store;
    this.#cache = config.cache;
    this.#skew = config.skew;
    this.#persister = config.persister;
    this.#now = config.now;
  }

  /** Plans `query` and looks it up in the cache (no store round trip). */
  lookup(query: TokenQuery): Lookup {
    const plan = planQuery(query);
    const key = planKey(plan);
    const cached = this.#cache.get(key, plan);
    // telemetry: an increment on a hit (see telemetry.ts)
    if (cached === undefined) lookupMissed();
    else cacheLookups.hits++;
    return { query, plan, key, cached };
  }

  /**
   * The token `lookup` matches, read from the store (one read for concurrent
   * lookups of the same query), or the token issued for it and not saved
   * yet; cached.
   *
   * @throws {TokenStoreError} `INVALID_QUERY` when no token matches.
   */
  async find(lookup: Lookup): Promise<OAuthToken> {
    const token = await this.match(lookup);
    if (token === null) {
      throw new TokenStoreError(
        "INVALID_QUERY",
        `Cannot find token ${
          describeQuery(lookup.query)
        }: no stored token matches`,
      );
    }
    return token;
  }

  /** As {@linkcode TokenReader.prototype.find}, but `null` when no token matches. */
  async match(lookup: Lookup): Promise<OAuthToken | null> {
    const { query, plan, key } = lookup;
    let stored: OAuthToken | null;
    try {
      stored = await this.#cache.read(key, () => this.#store.findToken(query));
    } catch (error) {
      const pending = this.#persister.matching(plan);
      if (pending !== undefined && isTransient(error)) return pending;
      throw error;
    }
    if (stored === null) return null;
    if (stored.id === undefined) {
      throw new TokenStoreError(
        "BACKEND",
        "Cannot use token: the store returned it without an id",
      );
    }
    const token = this.#persister.pendingFor(stored.id, stored) ?? stored;
    this.#cache.put(token, key);
    return token;
  }

  /** Token `id` as stored, or the one issued for it and not saved yet; cached. */
  async read(id: string): Promise<OAuthToken | null> {
    let stored: OAuthToken | null;
    try {
      stored = await this.#store.findTokenById(id);
    } catch (error) {
      const pending = this.#persister.pendingFor(id, undefined);
      if (pending !== undefined && isTransient(error)) return pending;
      throw error;
    }
    if (stored === null) {
      this.#cache.delete(id);
      return this.#persister.pendingFor(id, stored) ?? null;
    }
    const token = this.#persister.pendingFor(id, stored) ?? stored;
    this.#cache.put(token);
    return token;
  }

  /**
   * Whether `token` needs a refresh now: within its skew of expiry, or with
   * less than `marginMs` (at most half its lifetime) to live when given.
   */
  isExpiring(token: OAuthToken, marginMs?: number): boolean {
    return this.#skew.isExpiring(token, marginMs);
  }

  /** Whether `token`'s access token is there and not expired yet. */
  isValid(token: OAuthToken): boolean {
    return token.accessToken !== undefined &&
      !token.isExpired({ now: this.#now() });
  }

  /** Records `token`, just issued (`lifetimeMs` long) and saved or being saved. */
  issued(token: OAuthToken, lifetimeMs: number): void {
    this.#skew.issued(token, lifetimeMs);
    this.#cache.put(token);
  }

  /** Forgets token `id` (the server refused it): the next lookup reads the store. */
  evict(id: string): void {
    this.#cache.delete(id);
  }

  /** Forgets token `id` (or every token): cached copies and pending saves. */
  forget(id?: string): void {
    if (id === undefined) {
      this.#persister.dropAll();
      this.#cache.clear();
      return;
    }
    this.#persister.drop(id);
    this.#cache.delete(id);
  }

  /** Deletes token `id` from the store, the cache and the pending saves. */
  async delete(id: string): Promise<boolean> {
    this.#persister.drop(id);
    this.#cache.delete(id);
    return await this.#store.deleteToken(id);
  }
}
