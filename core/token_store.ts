/**
 * The {@linkcode TokenStore} contract and the one implementation of its
 * matching rules and merge semantics that every store uses.
 *
 * Matching, in this order (the first rule whose field is present decides):
 * 1. `id` — that id only.
 * 2. `userName` — equal user name; when `clientId` is also given, equal client id too.
 * 3. `accessToken` with neither `clientId` nor `clientSecret` — equal access token.
 * 4. `grantToken` — equal grant token; otherwise `refreshToken` — equal refresh
 *    token. When `clientId` is given, equal client id too.
 * 5. Nothing usable — `TokenStoreError` with code `"INVALID_QUERY"`.
 *
 * @example Plan a query
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { planQuery } from "@tokenstore/tokenstore";
 *
 * const plan = planQuery({ userName: "ada@example.com", clientId: "1000.C" });
 * assertEquals(plan.conditions, [
 *   ["userName", "ada@example.com"],
 *   ["clientId", "1000.C"],
 * ]);
 * ```
 *
 * The lease contract ({@linkcode TokenLock}, {@linkcode Lease}) lives in
 * `token_lock.ts` and is exported from here too.
 *
 * @module
 */

export * from "./token_lock.ts";

import { TokenStoreError } from "./errors.ts";
import type { TokenLock } from "./token_lock.ts";
import type { TokenStatusStore } from "./token_status.ts";
import { readField } from "./_read_field.ts";
import { OAuthToken, type OAuthTokenInit, validateField } from "./token.ts";

/** The fields a {@linkcode TokenStore.findToken} query may use. */
export type TokenQuery = Pick<
  OAuthTokenInit,
  | "id"
  | "userName"
  | "clientId"
  | "clientSecret"
  | "accessToken"
  | "grantToken"
  | "refreshToken"
>;

/** Where OAuth tokens are kept. Every store in this package implements it. */
export interface TokenStore {
  /**
   * Finds the token matching `query` by the matching rules. Given an
   * {@linkcode OAuthToken}, resolves a new token: the stored fields merged
   * under the fields the query already has.
   */
  findToken(query: TokenQuery | OAuthToken): Promise<OAuthToken | null>;
  /**
   * Inserts or updates (found by the same rules, id first) and resolves the
   * stored token, id set.
   */
  saveToken(token: OAuthToken): Promise<OAuthToken>;
  /** Deletes the token with this id; `true` if one was deleted. */
  deleteToken(id: string): Promise<boolean>;
  /** Every stored token. */
  getTokens(): Promise<OAuthToken[]>;
  /** Deletes every stored token. */
  deleteTokens(): Promise<void>;
  /** The token with this id, or `null`. */
  findTokenById(id: string): Promise<OAuthToken | null>;
  /** Cross-process leases; stores shared across processes provide it. */
  readonly lock?: TokenLock;
  /**
   * Token statuses, kept beside the tokens (every built-in store provides
   * it); a token's status is removed with the token.
   */
  readonly status?: TokenStatusStore;
  /** Releases the store's resources. */
  close?(): Promise<void>;
}

/** A field a query condition compares. */
export type QueryField = Exclude<keyof OAuthTokenInit, "expiresAt">;

/**
 * A resolved query: which rule decided and the equality conditions a stored
 * token must meet (all of them).
 */
export interface QueryPlan {
  /** The rule that decided. */
  readonly rule:
    | "id"
    | "userName"
    | "accessToken"
    | "grantToken"
    | "refreshToken";
  /** `[field, value]` pairs that must all be equal. */
  readonly conditions: readonly (readonly [QueryField, string])[];
}

const QUERY_FIELDS: readonly (keyof TokenQuery)[] = [
  "id",
  "userName",
  "clientId",
  "clientSecret",
  "accessToken",
  "grantToken",
  "refreshToken",
];

/**
 * Resolves a query by the matching rules into the conditions a stored token
 * must meet. Every store uses this; none re-implements the rules.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { planQuery } from "@tokenstore/tokenstore";
 *
 * const plan = planQuery({ refreshToken: "1000.r", clientId: "1000.C" });
 * assertEquals(plan.rule, "refreshToken");
 * ```
 *
 * @param query A query or a token.
 * @returns The plan.
 * @throws {TokenStoreError} `INVALID_QUERY` when no rule applies or a field is malformed.
 */
export function planQuery(query: TokenQuery | OAuthToken): QueryPlan {
  if (query === null || typeof query !== "object") {
    throw new TokenStoreError(
      "INVALID_QUERY",
      `Invalid token query: expected an object, got ${
        query === null ? "null" : typeof query
      }`,
    );
  }
  const memo = planned.get(query);
  if (memo !== undefined && sameValues(query, memo.values)) return memo.plan;
  const q: TokenQuery = {};
  for (const field of QUERY_FIELDS) {
    const value = readField(query, field, "INVALID_QUERY");
    if (value === undefined) continue;
    validateField(field, value, "INVALID_QUERY");
    q[field] = value as string;
  }
  const plan = planChecked(q);
  planned.set(query, { values: QUERY_FIELDS.map((field) => q[field]), plan });
  return plan;
}

/**
 * The plans of queries already planned, by query object, with the field
 * values they were planned from: a caller asking with the same object again
 * (a hot path: every `getAccessToken`) is answered after 7 comparisons, and
 * a query changed since is planned again.
 */
const planned = new WeakMap<
  object,
  { values: (string | undefined)[]; plan: QueryPlan }
>();

function sameValues(query: object, values: (string | undefined)[]): boolean {
  try {
    const fields = query as Record<string, unknown>;
    for (let i = 0; i < QUERY_FIELDS.length; i++) {
      if (fields[QUERY_FIELDS[i]] !== values[i]) return false;
    }
    return true;
  } catch {
    return false; // a getter that throws: planned again, and reported
  }
}

function planChecked(q: TokenQuery): QueryPlan {
  if (q.id !== undefined) return { rule: "id", conditions: [["id", q.id]] };
  const client: [QueryField, string][] = q.clientId !== undefined
    ? [["clientId", q.clientId]]
    : [];
  if (q.userName !== undefined) {
    return {
      rule: "userName",
      conditions: [["userName", q.userName], ...client],
    };
  }
  if (
    q.accessToken !== undefined && q.clientId === undefined &&
    q.clientSecret === undefined
  ) {
    return {
      rule: "accessToken",
      conditions: [["accessToken", q.accessToken]],
    };
  }
  if (q.grantToken !== undefined) {
    return {
      rule: "grantToken",
      conditions: [["grantToken", q.grantToken], ...client],
    };
  }
  if (q.refreshToken !== undefined) {
    return {
      rule: "refreshToken",
      conditions: [["refreshToken", q.refreshToken], ...client],
    };
  }
  throw new TokenStoreError(
    "INVALID_QUERY",
    "Cannot match token: the query has no id, userName, accessToken, grantToken or refreshToken usable by the matching rules",
  );
}

/**
 * Whether a stored token meets every condition of a plan.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { matchesPlan, OAuthToken, planQuery } from "@tokenstore/tokenstore";
 *
 * const stored = new OAuthToken({
 *   userName: "ada@example.com",
 *   refreshToken: "1000.r",
 * });
 * assertEquals(matchesPlan(stored, planQuery({ userName: "ada@example.com" })), true);
 * assertEquals(matchesPlan(stored, planQuery({ userName: "bob@example.com" })), false);
 * ```
 *
 * @param token A stored token (or its record).
 * @param plan The plan from {@linkcode planQuery}.
 * @returns `true` when every condition holds.
 */
export function matchesPlan(
  token: OAuthToken | OAuthTokenInit,
  plan: QueryPlan,
): boolean {
  for (const [field, value] of plan.conditions) {
    if (token[field] !== value) return false;
  }
  return true;
}

/**
 * What {@linkcode TokenStore.findToken} resolves: given a plain query, the
 * stored token; given an {@linkcode OAuthToken}, a new token with the stored
 * fields merged under the fields the query already has.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mergeFound, OAuthToken } from "@tokenstore/tokenstore";
 *
 * const stored = new OAuthToken({
 *   id: "a1",
 *   userName: "ada@example.com",
 *   refreshToken: "1000.r",
 * });
 * const query = new OAuthToken({
 *   userName: "ada@example.com",
 *   clientId: "1000.C",
 * });
 * const merged = mergeFound(query, stored);
 * assertEquals(merged?.refreshToken, "1000.r"); // from the store
 * assertEquals(merged?.clientId, "1000.C"); // from the query
 * ```
 *
 * @param query The query given to `findToken`.
 * @param stored The stored token found, or `null`.
 * @returns The token to resolve with.
 */
export function mergeFound(
  query: TokenQuery | OAuthToken,
  stored: OAuthToken | null,
): OAuthToken | null {
  if (stored === null || !(query instanceof OAuthToken)) return stored;
  return new OAuthToken({ ...stored.toRecord(), ...query.toRecord() });
}

/**
 * Checks a token given to {@linkcode TokenStore.saveToken}: it must be an
 * {@linkcode OAuthToken} (a plain object is converted and validated) holding
 * at least one of refresh, grant or access token.
 *
 * @example Usage
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import {
 *   OAuthToken,
 *   TokenStoreError,
 *   validateForSave,
 * } from "@tokenstore/tokenstore";
 *
 * validateForSave(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * // No refresh, grant or access token: INVALID_TOKEN.
 * assertThrows(
 *   () => validateForSave(new OAuthToken({ userName: "ada@example.com" })),
 *   TokenStoreError,
 * );
 * ```
 *
 * @param token The token to save.
 * @returns The token as an {@linkcode OAuthToken}.
 * @throws {TokenStoreError} `INVALID_TOKEN`.
 */
export function validateForSave(token: OAuthToken): OAuthToken {
  // always through the constructor: it also refuses objects that merely
  // inherit from OAuthToken
  const checked = new OAuthToken(token as OAuthTokenInit);
  if (
    checked.refreshToken === undefined && checked.grantToken === undefined &&
    checked.accessToken === undefined
  ) {
    throw new TokenStoreError(
      "INVALID_TOKEN",
      "Cannot save token: it has no refreshToken, grantToken or accessToken",
    );
  }
  return checked;
}

/**
 * The plan `saveToken` uses to find the row to update: the matching rules,
 * id first. `null` when the token matches nothing by the rules (it is then
 * inserted with a fresh id).
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OAuthToken, planSave } from "@tokenstore/tokenstore";
 *
 * const plan = planSave(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * assertEquals(plan?.rule, "userName");
 * ```
 *
 * @param token A token that passed {@linkcode validateForSave}.
 * @returns The plan, or `null`.
 */
export function planSave(token: OAuthToken): QueryPlan | null {
  try {
    return planQuery(token);
  } catch (error) {
    if (error instanceof TokenStoreError && error.code === "INVALID_QUERY") {
      return null;
    }
    throw error;
  }
}
