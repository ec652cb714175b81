/**
 * The per-call options of {@linkcode TokenClient}'s methods, and their
 * checks: each invalid one is a `TypeError` naming it.
 *
 * @module
 */

import { TokenStoreError } from "../errors.ts";
import type { OAuthToken } from "../token.ts";

/** Options of `client.getToken` and `client.getAccessToken`. */
export interface GetTokenOptions {
  /**
   * The least time the access token must still have to live, in ms: a token
   * with less is refreshed before the call resolves (once per expiry across
   * processes, as any refresh). Capped at half the token's lifetime, so that
   * a short-lived token is not refreshed on every call. Default: none (a
   * token within `refreshSkewMs` of expiry is served and refreshed in the
   * background).
   */
  minLifetimeMs?: number;
}

/** Options of `client.refresh`. */
export interface RefreshOptions {
  /**
   * The access token an API refused (HTTP 401, invalid or expired token):
   * the refresh is forced only while the stored token still carries it, and
   * at most once per token per `minRefreshIntervalMs` across processes
   * (design rule 8). Within that cooldown the call resolves with the token
   * as stored now. Default: none (refresh now, whatever the token holds).
   */
  rejectedAccessToken?: string;
}

/** Options of `client.exchangeGrantToken`. */
export interface ExchangeOptions {
  /** The user to store the token under. */
  userName?: string;
  /** The redirect URL the code was issued for. Default: the client's `redirectUrl`. */
  redirectUrl?: string;
}

/**
 * The token an `exchangeGrantToken` call resolves: one stored under another
 * user already held the code (the code was exchanged for that user: it is
 * not sent again, and not handed to this one).
 *
 * @throws {TokenStoreError} `CONFLICT` when the users differ.
 */
export function exchangedFor(
  token: OAuthToken,
  options: ExchangeOptions,
): OAuthToken {
  const { userName } = options;
  if (userName === undefined || token.userName === userName) return token;
  throw new TokenStoreError(
    "CONFLICT",
    `Cannot exchange grant token for user "${userName}": token "${token.id}" of another user holds it already`,
  );
}

/**
 * `options.minLifetimeMs` of a `getToken` call, checked.
 *
 * @throws {TypeError} When it is not a finite number ≥ 0.
 */
export function minLifetimeOf(options: GetTokenOptions): number | undefined {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Cannot get token: expected options to be an object");
  }
  const ms = options.minLifetimeMs;
  if (ms === undefined) return undefined;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new TypeError(
      `Cannot get token: "minLifetimeMs" must be a finite number >= 0, got "${ms}"`,
    );
  }
  return ms;
}

/**
 * `options.rejectedAccessToken` of a `refresh` call, checked.
 *
 * @throws {TypeError} When it is not a non-empty string.
 */
export function rejectedOf(options: RefreshOptions): string | undefined {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      "Cannot refresh token: expected options to be an object",
    );
  }
  const rejected = options.rejectedAccessToken;
  if (rejected === undefined) return undefined;
  if (typeof rejected !== "string" || rejected === "") {
    throw new TypeError(
      'Cannot refresh token: "rejectedAccessToken" must be a non-empty string',
    );
  }
  return rejected;
}

/**
 * The grant token and options of an `exchangeGrantToken` call, checked.
 *
 * @throws {TypeError} When the code is not a non-empty string or the options not an object.
 */
export function checkExchange(code: string, options: ExchangeOptions): void {
  if (typeof code !== "string" || code === "") {
    throw new TypeError(
      "Cannot exchange grant token: expected a non-empty string",
    );
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      "Cannot exchange grant token: expected options to be an object",
    );
  }
  for (const name of ["userName", "redirectUrl"] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      throw new TypeError(
        `Cannot exchange grant token: "${name}" must be a non-empty string`,
      );
    }
  }
}
