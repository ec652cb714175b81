/**
 * The client's in-process token cache (design "Cache"): tokens it read or
 * saved, served without touching the store for at most `maxStaleMs` after
 * it last read or saved them, least recently used first out beyond
 * `maxEntries`. Queries map to token ids (a query key is the plan's
 * conditions), ids to tokens, so that a save through the client updates
 * every query of the token at once.
 *
 * It also holds the lookup single flight: concurrent lookups of one query
 * share one store read.
 *
 * @module
 */

import type { OAuthToken } from "../token.ts";
import { matchesPlan, type QueryPlan } from "../token_store.ts";

/** Settings of the cache; `false` turns it off. */
export interface TokenCacheOptions {
  /** Tokens (and queries) kept at most. Default 10 000. */
  maxEntries?: number;
  /** How long a token is served after the client last read or saved it. Default 30 000 ms. */
  maxStaleMs?: number;
}

interface Entry {
  token: OAuthToken;
  /** Real time (epoch ms) it was last read from or saved to the store. */
  at: number;
}

/** A Map used as an LRU: get moves to the back, set evicts from the front. */
class Lru<K, V> {
  #map = new Map<K, V>();
  #max: number;
  /** The most recently used key (the map's last), if known. */
  #last: K | undefined;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key);
    // already the most recent: moving it would only churn the map's table
    if (value !== undefined && key !== this.#last) {
      this.#map.delete(key);
      this.#map.set(key, value);
      this.#last = key;
    }
    return value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    this.#last = key;
    while (this.#map.size > this.#max) {
      this.#map.delete(this.#map.keys().next().value!);
    }
  }

  delete(key: K): void {
    this.#map.delete(key);
    if (key === this.#last) this.#last = undefined;
  }

  clear(): void {
    this.#map.clear();
    this.#last = undefined;
  }
}

/** The key of a plan: its conditions, in order. */
export function planKey(plan: QueryPlan): string {
  let key = keys.get(plan);
  if (key === undefined) keys.set(plan, key = JSON.stringify(plan.conditions));
  return key;
}

/** Keys by plan: a plan reused for the same query object has its key kept. */
const keys = new WeakMap<QueryPlan, string>();

/** Tokens by id, query keys to ids, and lookups in flight. */
export class TokenCache {
  #maxStaleMs: number;
  #enabled: boolean;
  #tokens: Lru<string, Entry>;
  #queries: Lru<string, string>;
  #reads = new Map<string, Promise<OAuthToken | null>>();

  constructor(options: false | Required<TokenCacheOptions>) {
    this.#enabled = options !== false;
    const max = options === false ? 1 : options.maxEntries;
    this.#maxStaleMs = options === false ? 0 : options.maxStaleMs;
    this.#tokens = new Lru(max);
    this.#queries = new Lru(max);
  }

  /** Tokens held (for tests and benchmarks). */
  get size(): number {
    return this.#tokens.size;
  }

  /** The token `plan` found last, if still within `maxStaleMs` and still matching. */
  get(key: string, plan: QueryPlan): OAuthToken | undefined {
    if (!this.#enabled) return undefined;
    // by id: any token cached under that id, whatever query found it
    const id = plan.rule === "id"
      ? plan.conditions[0][1]
      : this.#queries.get(key);
    if (id === undefined) return undefined;
    const token = this.byId(id);
    if (token === undefined || !matchesPlan(token, plan)) return undefined;
    return token;
  }

  /** Token `id`, if within `maxStaleMs`. */
  byId(id: string): OAuthToken | undefined {
    if (!this.#enabled) return undefined;
    const entry = this.#tokens.get(id);
    if (entry === undefined) return undefined;
    if (Date.now() - entry.at > this.#maxStaleMs) {
      this.#tokens.delete(id);
      return undefined;
    }
    return entry.token;
  }

  /** Records `token` as just read from or saved to the store (found by `key`). */
  put(token: OAuthToken, key?: string): void {
    if (!this.#enabled || token.id === undefined) return;
    this.#tokens.set(token.id, { token, at: Date.now() });
    if (key !== undefined) this.#queries.set(key, token.id);
  }

  /** Forgets token `id` (revoked or deleted). */
  delete(id: string): void {
    this.#tokens.delete(id);
  }

  /** Forgets every token (all deleted). */
  clear(): void {
    this.#tokens.clear();
    this.#queries.clear();
  }

  /**
   * Runs `read` for `key` unless a read of the same key is in flight, whose
   * result is then shared.
   */
  read(
    key: string,
    read: () => Promise<OAuthToken | null>,
  ): Promise<OAuthToken | null> {
    const running = this.#reads.get(key);
    if (running !== undefined) return running;
    const own = read().finally(() => this.#reads.delete(key));
    this.#reads.set(key, own);
    return own;
  }
}
