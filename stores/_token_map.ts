/**
 * An in-memory collection of tokens by id with secondary indexes on the
 * lookup fields, so that every matching rule is answered without scanning
 * (used by the memory store and by the file store's parsed cache).
 *
 * @module
 */

import type { OAuthToken } from "../core/token.ts";
import {
  matchesPlan,
  type QueryField,
  type QueryPlan,
} from "../core/token_store.ts";

/** The fields a plan's rule looks up first (the rule's own field). */
const INDEXED: readonly QueryField[] = [
  "userName",
  "accessToken",
  "grantToken",
  "refreshToken",
];

/** Tokens by id, indexed by user name and by access, grant and refresh token. */
export class TokenMap {
  #byId = new Map<string, OAuthToken>();
  #indexes = new Map<QueryField, Map<string, Set<string>>>(
    INDEXED.map((field) => [field, new Map()]),
  );

  /** A map holding `tokens` (each with an id). */
  static of(tokens: Iterable<OAuthToken>): TokenMap {
    const map = new TokenMap();
    for (const token of tokens) map.set(token);
    return map;
  }

  /** How many tokens are held. */
  get size(): number {
    return this.#byId.size;
  }

  /** The token with this id. */
  get(id: string): OAuthToken | undefined {
    return this.#byId.get(id);
  }

  /** Whether a token has this id. */
  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** Every token, in insertion order. */
  values(): IterableIterator<OAuthToken> {
    return this.#byId.values();
  }

  /** Adds or replaces the token with `token.id`. */
  set(token: OAuthToken): void {
    const id = token.id!;
    this.delete(id);
    this.#byId.set(id, token);
    for (const [field, index] of this.#indexes) {
      const value = token[field];
      if (value === undefined) continue;
      let ids = index.get(value);
      if (!ids) index.set(value, ids = new Set());
      ids.add(id);
    }
  }

  /** Removes the token with this id; `true` if there was one. */
  delete(id: string): boolean {
    const old = this.#byId.get(id);
    if (!old) return false;
    this.#byId.delete(id);
    for (const [field, index] of this.#indexes) {
      const value = old[field];
      if (value === undefined) continue;
      const ids = index.get(value);
      ids?.delete(id);
      if (ids?.size === 0) index.delete(value);
    }
    return true;
  }

  /** Removes every token. */
  clear(): void {
    this.#byId.clear();
    for (const index of this.#indexes.values()) index.clear();
  }

  /** The first token meeting every condition of `plan`, or `null`. */
  find(plan: QueryPlan): OAuthToken | null {
    const [field, value] = plan.conditions[0];
    if (field === "id") return this.#byId.get(value) ?? null;
    const ids = this.#indexes.get(field)?.get(value);
    if (!ids) return null;
    for (const id of ids) {
      const token = this.#byId.get(id)!;
      if (matchesPlan(token, plan)) return token;
    }
    return null;
  }
}
