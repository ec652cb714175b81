/**
 * The Redis key layout (private): every key under `{<prefix>}:` (the braces
 * keep every key in one Redis Cluster hash slot). `token:<id>` a hash with
 * Zoho's field names, `idx:<id>` the index keys that name it, index sets
 * `by_user:<h>`, `by_user_client:<h>` (user and client id),
 * `by_access:<h>`, `by_grant:<h>`, `by_refresh:<h>` (`h` the SHA-256 of the
 * value, base64url) holding ids, `tokens` every id,
 * `status:<id>` a status as JSON, `statuses` their ids, `lock:<key>` a
 * lease, and the pub/sub channel `refreshed`.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import type { OAuthToken } from "../../core/token.ts";
import type { QueryPlan } from "../../core/token_store.ts";
import { COLUMN_OF, rowToToken } from "../_sql/rows.ts";
import { sha256Base64Url } from "../_kv/sha256.ts";

/** The default prefix. */
export const DEFAULT_PREFIX = "tokenstore";

/**
 * Checks a prefix.
 *
 * @throws {TypeError} when it is empty, longer than 200 characters, or has
 * braces or whitespace.
 */
export function validatePrefix(prefix: unknown): string {
  if (
    typeof prefix !== "string" || prefix.length === 0 || prefix.length > 200 ||
    /[{}\s]/.test(prefix)
  ) {
    throw new TypeError(
      `Invalid Redis prefix ${
        JSON.stringify(String(prefix).slice(0, 40))
      }: expected 1 to 200 characters without braces or whitespace`,
    );
  }
  return prefix;
}

/** `{prefix}:`, the start of every key. */
export function keyStart(prefix: string): string {
  return `{${prefix}}:`;
}

const INDEXED: readonly (readonly [keyof OAuthToken, string])[] = [
  ["userName", "by_user"],
  ["accessToken", "by_access"],
  ["grantToken", "by_grant"],
  ["refreshToken", "by_refresh"],
];

const RULE_INDEX: Readonly<Record<string, string>> = {
  userName: "by_user",
  accessToken: "by_access",
  grantToken: "by_grant",
  refreshToken: "by_refresh",
};

/**
 * The index of a user and a client id, `by_user_client:<h>` (`h` of both,
 * NUL between them: no field holds a NUL).
 */
function userClientIndex(userName: string, clientId: string): string {
  return `by_user_client:${sha256Base64Url(`${userName}\0${clientId}`)}`;
}

/** The script arguments of a lookup: `id:<id>` or an index key, then the conditions. */
export function lookupArgs(plan: QueryPlan | null): string[] {
  if (plan === null) return ["", "0"];
  const value = plan.conditions[0][1];
  const clientId = plan.conditions.find(([field]) => field === "clientId")?.[1];
  const lookup = plan.rule === "id"
    ? `id:${value}`
    : plan.rule === "userName" && clientId !== undefined
    ? userClientIndex(value, clientId)
    : `${RULE_INDEX[plan.rule]}:${sha256Base64Url(value)}`;
  const args = [lookup, String(plan.conditions.length)];
  for (const [field, v] of plan.conditions) args.push(COLUMN_OF[field], v);
  return args;
}

/** The script arguments of a record: its fields (without `id`), then its index keys. */
export function recordArgs(token: OAuthToken): string[] {
  const record = token.toRecord();
  const fields: string[] = [];
  for (const [field, value] of Object.entries(record)) {
    if (field === "id" || value === undefined) continue;
    fields.push(
      COLUMN_OF[field as keyof typeof COLUMN_OF],
      String(value),
    );
  }
  const indexes: string[] = [];
  for (const [field, name] of INDEXED) {
    const value = record[field as keyof typeof record];
    if (typeof value === "string" && value !== "") {
      indexes.push(`${name}:${sha256Base64Url(value)}`);
    }
  }
  if (record.userName && record.clientId) {
    indexes.push(userClientIndex(record.userName, record.clientId));
  }
  return [
    String(fields.length / 2),
    ...fields,
    String(indexes.length),
    ...indexes,
  ];
}

/**
 * A token from a hash's field/value list.
 *
 * @throws {TokenStoreError} `CORRUPT` when it cannot be a token.
 */
export function fieldsToToken(fields: unknown): OAuthToken {
  if (!Array.isArray(fields)) {
    throw new TokenStoreError(
      "CORRUPT",
      "Cannot read a token from Redis: the stored value is not a hash",
    );
  }
  const row: Record<string, unknown> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    row[String(fields[i])] = fields[i + 1];
  }
  return rowToToken(row, "Redis");
}
