/**
 * Typed errors raised by token stores and by the refresh client.
 *
 * Every error extends `Error`, sets `name`, keeps the underlying `cause` and
 * never contains a secret (client secret, grant, refresh or access token) in
 * its message.
 *
 * @example Handling a store error
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MemoryTokenStore, TokenStoreError } from "@tokenstore/tokenstore";
 *
 * let code: string | undefined;
 * try {
 *   await new MemoryTokenStore().findToken({}); // nothing to match on
 * } catch (error) {
 *   if (error instanceof TokenStoreError) code = error.code;
 * }
 * assertEquals(code, "INVALID_QUERY");
 * ```
 *
 * @module
 */

/** Error codes of {@linkcode TokenStoreError}. */
export type TokenStoreErrorCode =
  | "INVALID_QUERY"
  | "INVALID_TOKEN"
  | "BACKEND"
  | "CORRUPT"
  | "CONFLICT";

/**
 * A store could not do what was asked: a bad query or token, a backend
 * failure, unreadable stored data, or a write conflict that persisted.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TokenStoreError } from "@tokenstore/tokenstore";
 *
 * const error = new TokenStoreError("CORRUPT", 'Cannot parse "tokens.json"');
 * assertEquals(error.code, "CORRUPT");
 * assertEquals(error.name, "TokenStoreError");
 * ```
 */
export class TokenStoreError extends Error {
  /** What kind of failure this is. */
  readonly code: TokenStoreErrorCode;

  /**
   * Creates a store error.
   *
   * @param code What kind of failure this is.
   * @param message A sentence-case message without secrets.
   * @param options The underlying cause, if any.
   */
  constructor(
    code: TokenStoreErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "TokenStoreError";
    this.code = code;
  }
}

/** Options of {@linkcode OAuthError}. */
export interface OAuthErrorOptions extends ErrorOptions {
  /** The `error_description` the server gave, if any (secrets removed). */
  description?: string;
  /** The HTTP status of the response, if there was one. */
  status?: number;
  /**
   * The whole message, for an error that did not come from the token
   * endpoint: one the authorization server sent to the callback, or a
   * refusal decided before any request. Default: `Token endpoint answered
   * "<code>"`, with the status and description.
   */
  message?: string;
}

/**
 * The token endpoint refused a request, or answered something that is not a
 * valid token response.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OAuthError } from "@tokenstore/tokenstore";
 *
 * const error = new OAuthError("invalid_client", { status: 401 });
 * assertEquals([error.code, error.status], ["invalid_client", 401]);
 * ```
 */
export class OAuthError extends Error {
  /** The OAuth error code, such as `"invalid_grant"` or `"invalid_client"`. */
  readonly code: string;
  /** The server's description, if it gave one. */
  readonly description?: string;
  /** The HTTP status of the response, if there was one. */
  readonly status?: number;

  /**
   * Creates an OAuth error.
   *
   * @param code The OAuth error code.
   * @param options Description, HTTP status and cause.
   */
  constructor(code: string, options: OAuthErrorOptions = {}) {
    const detail = options.description ? `: ${options.description}` : "";
    const status = options.status !== undefined
      ? ` (HTTP ${options.status})`
      : "";
    super(
      options.message ?? `Token endpoint answered "${code}"${status}${detail}`,
      { cause: options.cause },
    );
    this.name = "OAuthError";
    this.code = code;
    this.description = options.description;
    this.status = options.status;
  }
}

/** Options of {@linkcode RateLimitError}. */
export interface RateLimitErrorOptions extends OAuthErrorOptions {
  /** How long the server asked to wait, in milliseconds, when it said so. */
  retryAfterMs?: number;
}

/**
 * The token endpoint is rate limiting: Zoho's "Access Denied ... too many
 * requests" or HTTP 429.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OAuthError, RateLimitError } from "@tokenstore/tokenstore";
 *
 * const error = new RateLimitError("access_denied", {
 *   status: 429,
 *   retryAfterMs: 2000,
 * });
 * assertEquals(error.retryAfterMs, 2000);
 * assertEquals(error instanceof OAuthError, true);
 * ```
 */
export class RateLimitError extends OAuthError {
  /** How long the server asked to wait, in milliseconds, when it said so. */
  readonly retryAfterMs?: number;

  /**
   * Creates a rate-limit error.
   *
   * @param code The OAuth error code.
   * @param options Description, HTTP status, retry delay and cause.
   */
  constructor(code: string, options: RateLimitErrorOptions = {}) {
    super(code, options);
    this.name = "RateLimitError";
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The grant or refresh token is no longer valid (`invalid_code`,
 * `invalid_grant`): the user has to authorise again.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TokenRevokedError } from "@tokenstore/tokenstore";
 *
 * const error = new TokenRevokedError("invalid_grant", { status: 400 });
 * assertEquals(error.name, "TokenRevokedError");
 * ```
 */
export class TokenRevokedError extends OAuthError {
  /**
   * Creates a revoked-token error.
   *
   * @param code The OAuth error code.
   * @param options Description, HTTP status and cause.
   */
  constructor(code: string, options: OAuthErrorOptions = {}) {
    super(code, options);
    this.name = "TokenRevokedError";
  }
}
