/**
 * Key layout of the Deno KV token store (private).
 *
 * Under a prefix `P` (default `["tokenstore"]`):
 *
 * | key | value |
 * | --- | --- |
 * | `[...P, "token", id]` | the token's `toRecord()` (see below) |
 * | `[...P, "by_user", h(userName), h(clientId) or "", id]` | `true` |
 * | `[...P, "by_access", h(accessToken), id]` | `true` |
 * | `[...P, "by_grant", h(grantToken), h(clientId) or "", id]` | `true` |
 * | `[...P, "by_refresh", h(refreshToken), h(clientId) or "", id]` | `true` |
 * | `[...P, "uniq", kind, ...group]` | how many tokens have that natural key |
 * | `[...P, "lock", key]` | a lease: `{ owner, expiresAt }` |
 * | `[...P, "part", id, field]` | a field stored apart (the value, a string) |
 * | `[...P, "status", id]` | the token's `TokenStatus` |
 *
 * A token whose record would not fit in one Deno KV value (64 KiB; four
 * fields of 4,096 characters outside Latin-1 already take 32 KiB) keeps its
 * largest unindexed fields (`clientSecret`, `redirectUrl`, `apiDomain`)
 * apart, written in the same atomic operation as the record, which lists
 * them under `"$spilled"` (see `_kv/spill.ts`).
 *
 * `h(x)` is the SHA-256 of `x` in base64url without padding: token values are
 * secrets and user names may be 4096 characters long, so no value is ever
 * written into a key. A token's "natural keys" are its
 * `(kind, group)` pairs, `group` being the index key without the id. The
 * `uniq` counter of a natural key is written in the same atomic operation as
 * every token that gains or loses it, which makes it the single key that
 * serialises concurrent inserts of the same user (or grant, refresh or access
 * token).
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import { OAuthToken, type OAuthTokenInit } from "../../core/token.ts";
import type { QueryPlan } from "../../core/token_store.ts";
import { sha256Base64Url } from "./sha256.ts";
import type { KvKey, KvKeyPart } from "./kv_like.ts";

/** What a natural key is made of. */
export type NaturalKind = "user" | "access" | "grant" | "refresh";

/** The natural kinds, in the order their indexes are listed. */
export const NATURAL_KINDS: readonly NaturalKind[] = [
  "user",
  "access",
  "grant",
  "refresh",
];

/** A token's natural key: its kind and the hashed parts of its index key. */
export interface NaturalKey {
  readonly kind: NaturalKind;
  readonly group: readonly string[];
}

/** The fields the natural keys (and so the indexes and the matching rules) read. */
export const NATURAL_FIELDS: readonly (keyof OAuthTokenInit)[] = [
  "clientId",
  "userName",
  "accessToken",
  "grantToken",
  "refreshToken",
];

/** The default key prefix. */
export const DEFAULT_PREFIX: readonly KvKeyPart[] = ["tokenstore"];
/**
 * Most bytes a stored record may take, as `_kv/spill.ts` estimates them
 * (Deno KV refuses values over 64 KiB).
 */
export const MAX_VALUE_BYTES = 60 * 1024;
/** Largest prefix accepted (Deno KV refuses keys over 2 KiB). */
export const MAX_PREFIX_BYTES = 512;

const encoder = new TextEncoder();

/**
 * SHA-256 of a value, base64url without padding (43 characters), computed
 * synchronously (`sha256.ts`: the same bytes as `crypto.subtle.digest`,
 * without its round trip to the thread pool).
 *
 * @param value The value.
 * @returns The digest.
 */
export function hashValue(value: string): string {
  return sha256Base64Url(value);
}

/** A natural key as one string, for sets and maps. */
export function naturalKeyId(key: NaturalKey): string {
  return [key.kind, ...key.group].join("/");
}

function field(record: Record<string, unknown>, name: string): string | null {
  const value = record[name];
  return typeof value === "string" && value.length > 0 ? value : null;
}

/**
 * The natural keys of a stored record (any string field that is present).
 * Tolerates malformed records so that a corrupt token can still be deleted.
 *
 * @param record A token record as stored.
 * @returns One natural key per kind the token has.
 */
export function naturalKeys(record: unknown): NaturalKey[] {
  if (record === null || typeof record !== "object") return [];
  const r = record as Record<string, unknown>;
  const [client, user, access, grant, refresh] = NATURAL_FIELDS.map((name) => {
    const value = field(r, name);
    return value === null ? null : hashValue(value);
  });
  const clientPart = client ?? "";
  const keys: NaturalKey[] = [];
  if (user !== null) keys.push({ kind: "user", group: [user, clientPart] });
  if (access !== null) keys.push({ kind: "access", group: [access] });
  if (grant !== null) keys.push({ kind: "grant", group: [grant, clientPart] });
  if (refresh !== null) {
    keys.push({ kind: "refresh", group: [refresh, clientPart] });
  }
  return keys;
}

/** Where a plan's candidates are listed, and the natural key it owns. */
export interface PlanScope {
  /** The natural kind whose index is listed. */
  readonly kind: NaturalKind;
  /** The group prefix listed: the value's hash, and the client's when given. */
  readonly group: readonly string[];
  /**
   * The natural key a token saved by this plan has: inserting it must find
   * the `uniq` counter of this key at zero.
   */
  readonly own: NaturalKey;
}

const RULE_KIND: Readonly<Record<string, NaturalKind>> = {
  userName: "user",
  accessToken: "access",
  grantToken: "grant",
  refreshToken: "refresh",
};

/**
 * The index range that answers a plan (every rule but `id`).
 *
 * @param plan A plan from `planQuery`, not of rule `id`.
 * @returns The scope.
 */
export function planScope(plan: QueryPlan): PlanScope {
  const kind = RULE_KIND[plan.rule];
  const value = plan.conditions.find(([name]) => name === plan.rule)![1];
  const clientId = plan.conditions.find(([name]) => name === "clientId")?.[1];
  const hashed = hashValue(value);
  if (kind === "access") {
    return { kind, group: [hashed], own: { kind, group: [hashed] } };
  }
  const client = clientId === undefined ? "" : hashValue(clientId);
  return {
    kind,
    group: clientId === undefined ? [hashed] : [hashed, client],
    own: { kind, group: [hashed, client] },
  };
}

/** Builds every key of a store under its prefix. */
export class KvKeys {
  /** The prefix every key starts with. */
  readonly prefix: readonly KvKeyPart[];
  /** Estimated encoded size of the prefix in bytes. */
  readonly prefixBytes: number;

  constructor(prefix: readonly KvKeyPart[]) {
    this.prefix = prefix;
    this.prefixBytes = keyBytes(prefix);
  }

  /** The range of every token record. */
  tokens(): KvKey {
    return [...this.prefix, "token"];
  }
  /** A token record. */
  token(id: string): KvKey {
    return [...this.prefix, "token", id];
  }
  /** The range of index entries of a kind and group prefix. */
  indexRange(kind: NaturalKind, group: readonly string[]): KvKey {
    return [...this.prefix, `by_${kind}`, ...group];
  }
  /** One index entry. */
  index(key: NaturalKey, id: string): KvKey {
    return [...this.prefix, `by_${key.kind}`, ...key.group, id];
  }
  /** The counter of tokens having a natural key. */
  uniq(key: NaturalKey): KvKey {
    return [...this.prefix, "uniq", key.kind, ...key.group];
  }
  /** A lease. */
  lock(key: string): KvKey {
    return [...this.prefix, "lock", key];
  }
  /** A field of a token stored apart from its record. */
  part(id: string, field: string): KvKey {
    return [...this.prefix, "part", id, field];
  }
  /** The range of every token status. */
  statuses(): KvKey {
    return [...this.prefix, "status"];
  }
  /** A token's status. */
  status(id: string): KvKey {
    return [...this.prefix, "status", id];
  }
  /** Which part of the store a key under the prefix belongs to. */
  space(key: KvKey): string | undefined {
    const part = key[this.prefix.length];
    return typeof part === "string" ? part : undefined;
  }
  /** The natural key of an index entry or a `uniq` counter key, if it is one. */
  parseNatural(key: KvKey): { key: NaturalKey; id?: string } | null {
    const rest = key.slice(this.prefix.length);
    if (!rest.every((part) => typeof part === "string")) return null;
    const parts = rest as string[];
    const width = (kind: string) => kind === "access" ? 1 : 2;
    if (parts[0] === "uniq") {
      const kind = parts[1] as NaturalKind;
      if (!NATURAL_KINDS.includes(kind)) return null;
      if (parts.length !== 2 + width(kind)) return null;
      return { key: { kind, group: parts.slice(2) } };
    }
    if (parts[0]?.startsWith("by_")) {
      const kind = parts[0].slice(3) as NaturalKind;
      if (!NATURAL_KINDS.includes(kind)) return null;
      if (parts.length !== 2 + width(kind)) return null;
      return {
        key: { kind, group: parts.slice(1, -1) },
        id: parts[parts.length - 1],
      };
    }
    return null;
  }
}

/**
 * Estimated encoded size of a key (the KV tuple encoding: a type byte, the
 * bytes, a terminator).
 */
export function keyBytes(key: readonly KvKeyPart[]): number {
  let total = 0;
  for (const part of key) {
    if (typeof part === "string") total += encoder.encode(part).length + 2;
    else if (part instanceof Uint8Array) total += part.length + 2;
    else if (typeof part === "bigint") {
      total += part.toString(16).length / 2 + 3;
    } else total += 9;
  }
  return total;
}

/**
 * Checks and copies a key prefix.
 *
 * @throws {TypeError} when it is not an array of key parts or too long.
 */
export function validatePrefix(prefix: unknown): readonly KvKeyPart[] {
  if (!Array.isArray(prefix)) {
    throw new TypeError(
      `Invalid Deno KV prefix: expected an array of key parts, got ${typeof prefix}`,
    );
  }
  for (const part of prefix) {
    const ok = typeof part === "string" || typeof part === "bigint" ||
      typeof part === "boolean" || part instanceof Uint8Array ||
      (typeof part === "number" && !Number.isNaN(part));
    if (!ok) {
      throw new TypeError(
        `Invalid Deno KV prefix part: expected a string, number, bigint, boolean or Uint8Array, got ${
          part === null ? "null" : typeof part
        }`,
      );
    }
  }
  const copy = Object.freeze([...prefix] as KvKeyPart[]);
  const bytes = keyBytes(copy);
  if (bytes > MAX_PREFIX_BYTES) {
    throw new TypeError(
      `Invalid Deno KV prefix: about ${bytes} bytes encoded, at most ${MAX_PREFIX_BYTES} allowed`,
    );
  }
  return copy;
}

/**
 * Turns a stored value back into a token.
 *
 * @throws {TokenStoreError} `CORRUPT` when it is not a valid token record.
 */
export function decodeToken(id: string, value: unknown): OAuthToken {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot read token "${id}" from Deno KV: the stored value is not a token record`,
    );
  }
  let token: OAuthToken;
  try {
    token = new OAuthToken(value as OAuthTokenInit);
  } catch (error) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot read token "${id}" from Deno KV: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (token.id !== id) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot read token "${id}" from Deno KV: the stored record has another id`,
    );
  }
  return token;
}
