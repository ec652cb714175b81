/**
 * What is known about each token's health, kept in the store beside it
 * (design "Health"): whether it refreshes (`ok`), fails (`failing`), or was
 * refused for good (`revoked`: the user must authorise again), when it last
 * refreshed and failed, and when its refresh token expires. Every built-in
 * store provides a {@linkcode TokenStatusStore} as `store.status`, so every
 * process and every restart sees the same status.
 *
 * @example Check a status before storing it
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { checkTokenStatus, TokenStoreError } from "@tokenstore/tokenstore";
 *
 * const status = checkTokenStatus({ id: "a1", state: "ok", failures: 0, lastRefreshAt: 1_800_000_000_000 });
 * assertEquals(status.state, "ok");
 * assertThrows(() => checkTokenStatus({ id: "a1", state: "fine", failures: 0 }), TokenStoreError);
 * ```
 *
 * @module
 */

import { TokenStoreError } from "./errors.ts";

/** A token's health. */
export interface TokenStatus {
  /** The token's id. */
  id: string;
  /** `revoked`: the stored refresh token was refused; the user must authorise again. */
  state: "ok" | "failing" | "revoked";
  /** Epoch ms of the last successful exchange or refresh. */
  lastRefreshAt?: number;
  /** Epoch ms of the last failed one. */
  lastFailureAt?: number;
  /** The error code of the last failure (an `OAuthError` or `TokenStoreError` code), never a secret. */
  lastError?: string;
  /** Consecutive failed refreshes since the last success. */
  failures: number;
  /** Epoch ms when the refresh token expires, from `refresh_token_expires_in` / `x_refresh_token_expires_in`. */
  refreshTokenExpiresAt?: number;
}

/** Where a store keeps statuses: beside its tokens, never in the Zoho layouts. */
export interface TokenStatusStore {
  /** Token `id`'s status, or `null`. */
  get(id: string): Promise<TokenStatus | null>;
  /** Stores `status` (replacing the one of its id). */
  put(status: TokenStatus): Promise<void>;
  /** Every status. */
  list(): Promise<TokenStatus[]>;
  /** Removes token `id`'s status (nothing when there is none). */
  delete(id: string): Promise<void>;
}

/** The states a status may be in. */
export const TOKEN_STATES: readonly TokenStatus["state"][] = Object.freeze([
  "ok",
  "failing",
  "revoked",
]);

/** The fields of a {@linkcode TokenStatus}, in the order stores keep them. */
export const TOKEN_STATUS_FIELDS: readonly (keyof TokenStatus)[] = Object
  .freeze([
    "id",
    "state",
    "lastRefreshAt",
    "lastFailureAt",
    "lastError",
    "failures",
    "refreshTokenExpiresAt",
  ]);

const TIMES = [
  "lastRefreshAt",
  "lastFailureAt",
  "refreshTokenExpiresAt",
] as const;

/**
 * Checks `value` is a {@linkcode TokenStatus} and returns a clean copy (no
 * other fields; absent optional fields omitted).
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkTokenStatus } from "@tokenstore/tokenstore";
 *
 * assertEquals(checkTokenStatus({ id: "a1", state: "revoked", failures: 2, lastError: "invalid_grant" }), {
 *   id: "a1", state: "revoked", failures: 2, lastError: "invalid_grant",
 * });
 * ```
 *
 * @param value The status to check.
 * @param code The error code when it is not one (`INVALID_TOKEN` for a status being stored, `CORRUPT` for one read back).
 * @returns The status.
 * @throws {TokenStoreError} Naming the field that is wrong.
 */
export function checkTokenStatus(
  value: unknown,
  code: "INVALID_TOKEN" | "CORRUPT" = "INVALID_TOKEN",
): TokenStatus {
  const bad = (why: string) =>
    new TokenStoreError(code, `Invalid token status: ${why}`);
  if (value === null || typeof value !== "object") {
    throw bad("expected an object");
  }
  const v = value as Record<string, unknown>;
  if (typeof v.id !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(v.id)) {
    throw bad('"id" must be a token id');
  }
  if (!TOKEN_STATES.includes(v.state as TokenStatus["state"])) {
    throw bad(`"state" must be one of ${TOKEN_STATES.join(", ")}`);
  }
  if (
    typeof v.failures !== "number" || !Number.isSafeInteger(v.failures) ||
    v.failures < 0
  ) {
    throw bad('"failures" must be a whole number >= 0');
  }
  const status: TokenStatus = {
    id: v.id,
    state: v.state as TokenStatus["state"],
    failures: v.failures,
  };
  for (const field of TIMES) {
    const time = v[field];
    if (time === undefined || time === null) continue;
    if (typeof time !== "number" || !Number.isSafeInteger(time) || time < 0) {
      throw bad(`"${field}" must be epoch milliseconds`);
    }
    status[field] = time;
  }
  if (v.lastError !== undefined && v.lastError !== null) {
    if (
      typeof v.lastError !== "string" || !/^[\w.:-]{1,100}$/.test(v.lastError)
    ) {
      throw bad('"lastError" must be an error code');
    }
    status.lastError = v.lastError;
  }
  return status;
}
