/**
 * Validation and defaults of {@linkcode TokenClientOptions}.
 *
 * @module
 */

import { redact } from "../_redact.ts";
import type { TokenCacheOptions } from "./cache.ts";
import type { EndpointConfig } from "./endpoint.ts";
import {
  DATA_CENTERS,
  type DataCenter,
  isDataCenter,
} from "../data_centers.ts";
import { SECRET_FIELDS } from "../token.ts";
import type { TokenQuery, TokenStore } from "../token_store.ts";

/** Retry settings for requests to the token endpoint. */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 4. */
  maxAttempts?: number;
  /** Backoff before the second attempt (doubled each time, full jitter). Default 500 ms. */
  baseDelayMs?: number;
  /** Longest wait between attempts; a longer `Retry-After` ends the retries. Default 10 000 ms. */
  maxDelayMs?: number;
}

/** Options of {@linkcode TokenClient}. */
export interface TokenClientOptions {
  /** Where tokens are kept. With a `lock`, refreshes are coordinated across processes. */
  store: TokenStore;
  /** OAuth client id, used when a stored token has none. */
  clientId: string;
  /** OAuth client secret, used when a stored token has none. */
  clientSecret: string;
  /** Redirect URL registered for the client, sent with grant exchanges. */
  redirectUrl?: string;
  /** Zoho data center whose accounts server to use. Default `"US"`. */
  dataCenter?: DataCenter;
  /** Token endpoint; overrides `dataCenter` (any RFC 6749 endpoint). */
  tokenUrl?: string | URL;
  /** Revocation endpoint. Default: the token URL + `/revoke`. */
  revokeUrl?: string | URL;
  /**
   * Authorization endpoint `client.authorize` sends users to. Default: the
   * data center's `<accountsUrl>/oauth/v2/auth`; with a `tokenUrl` and no
   * `authorizeUrl`, `authorize` is unavailable.
   */
  authorizeUrl?: string | URL;
  /**
   * Origins (`https://host[:port]`) `client.fetch` may send a token's access
   * token to, besides the origin of the token's `apiDomain`. When set, a
   * token without an `apiDomain` goes only to these.
   */
  allowedOrigins?: string[];
  /**
   * Refresh this long before expiry. Default 60 000 ms. A token living
   * shorter than twice this is refreshed at half its lifetime.
   */
  refreshSkewMs?: number;
  /** The `fetch` to use. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** The clock (epoch ms) for expiry. Default `Date.now`. */
  now?: () => number;
  /** Scheme of the `Authorization` header `fetch` adds. Default `"Zoho-oauthtoken"`. */
  authScheme?: string;
  /** Timeout of each request to the token endpoint. Default 15 000 ms. */
  requestTimeoutMs?: number;
  /** Retries of network errors, 5xx and rate limits. */
  retry?: RetryOptions;
  /**
   * Lifetime of the refresh lease if its holder dies. Default 30 000 ms.
   * Before each token request the holder extends it past the request's
   * timeout, and it renews it while a save is retried.
   */
  leaseTtlMs?: number;
  /** How often a process waiting for another's refresh reads the store. Default 250 ms. */
  pollIntervalMs?: number;
  /** Waits between retries and polls. Default: a `setTimeout` promise. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * How long saving freshly issued tokens is retried through a store outage
   * before a `"persistfailed"` event. Default 120 000 ms.
   */
  persistTimeoutMs?: number;
  /**
   * Whether the server rotates refresh tokens: then a refresh token whose
   * request had an unknown outcome is never presented again. `"auto"`
   * (default) learns it from the server's answers, and until then assumes
   * it may (Zoho's data centers do not rotate).
   */
  rotation?: "auto" | boolean;
  /**
   * Least time between two refreshes of one token forced by 401 answers,
   * across every process sharing the store. Default 120 000 ms.
   */
  minRefreshIntervalMs?: number;
  /**
   * The in-process token cache: a fresh token is served without touching
   * the store for at most `maxStaleMs` (default 30 000) after the client
   * last read or saved it, for at most `maxEntries` tokens (default 10 000,
   * least recently used out first). `false` reads the store on every call.
   */
  cache?: false | TokenCacheOptions;
}

/** Every option of a client, checked and with its default. */
export interface ResolvedClientOptions {
  store: TokenStore;
  clientId: string;
  clientSecret: string;
  redirectUrl?: string;
  tokenUrl: string;
  revokeUrl: string;
  /** `authorizeUrl`, or the data center's; `undefined` for a `tokenUrl` without one. */
  authorizeUrl: string | undefined;
  /** The data center, when the client uses one (no `tokenUrl`): tokens are routed to theirs. */
  dataCenter: DataCenter | undefined;
  /** `allowedOrigins` as origins, if given. */
  allowedOrigins: readonly string[] | undefined;
  skewMs: number;
  authScheme: string;
  endpoint: EndpointConfig;
  leaseTtlMs: number;
  pollIntervalMs: number;
  persistTimeoutMs: number;
  /** `rotation` as given, and what `"auto"` starts from. */
  rotation: "auto" | boolean;
  knownRotates: boolean | undefined;
  minRefreshIntervalMs: number;
  cache: false | Required<TokenCacheOptions>;
  /** Whether `sleep` was injected (then waits use it instead of timers). */
  customSleep: boolean;
}

const AUTH_SCHEME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Checks the options and fills in the defaults.
 *
 * @throws {TypeError} Naming the first invalid option.
 */
export function resolveClientOptions(
  options: TokenClientOptions,
): ResolvedClientOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Invalid TokenClient options: expected an object");
  }
  const store = options.store;
  if (
    store === null || typeof store !== "object" ||
    typeof store.findToken !== "function"
  ) {
    throw new TypeError(
      'Invalid TokenClient option "store": expected a TokenStore',
    );
  }
  const dataCenter = options.dataCenter ?? "US";
  if (!isDataCenter(dataCenter)) {
    throw new TypeError(
      `Invalid TokenClient option "dataCenter": ${
        JSON.stringify(dataCenter)
      } is not one of ${Object.keys(DATA_CENTERS).join(", ")}`,
    );
  }
  const tokenUrl = options.tokenUrl === undefined
    ? DATA_CENTERS[dataCenter].tokenUrl
    : httpUrl("tokenUrl", options.tokenUrl);
  const authScheme = options.authScheme ?? "Zoho-oauthtoken";
  if (typeof authScheme !== "string" || !AUTH_SCHEME.test(authScheme)) {
    throw new TypeError(
      `Invalid TokenClient option "authScheme": ${
        JSON.stringify(authScheme)
      } is not an HTTP auth scheme`,
    );
  }
  const sleep = optionalFunction("sleep", options.sleep) ??
    ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const retry = options.retry ?? {};
  const rotation = options.rotation ?? "auto";
  if (rotation !== "auto" && typeof rotation !== "boolean") {
    throw new TypeError(
      `Invalid TokenClient option "rotation": expected "auto", true or false, got ${
        JSON.stringify(rotation)
      }`,
    );
  }
  return {
    store,
    clientId: requiredString("clientId", options.clientId),
    clientSecret: requiredString("clientSecret", options.clientSecret),
    redirectUrl: options.redirectUrl === undefined
      ? undefined
      : requiredString("redirectUrl", options.redirectUrl),
    tokenUrl,
    revokeUrl: options.revokeUrl === undefined
      ? `${tokenUrl.replace(/\/+$/, "")}/revoke`
      : httpUrl("revokeUrl", options.revokeUrl),
    authorizeUrl: options.authorizeUrl !== undefined
      ? httpUrl("authorizeUrl", options.authorizeUrl)
      : options.tokenUrl === undefined
      ? DATA_CENTERS[dataCenter].authorizeUrl
      : undefined,
    dataCenter: options.tokenUrl === undefined ? dataCenter : undefined,
    allowedOrigins: origins("allowedOrigins", options.allowedOrigins),
    skewMs: nonNegative("refreshSkewMs", options.refreshSkewMs, 60_000),
    authScheme,
    endpoint: {
      fetch: optionalFunction("fetch", options.fetch) ??
        ((input, init) => fetch(input, init)),
      now: optionalFunction("now", options.now) ?? Date.now,
      sleep,
      timeoutMs: nonNegative(
        "requestTimeoutMs",
        options.requestTimeoutMs,
        15_000,
      ),
      maxAttempts: Math.max(
        1,
        Math.floor(nonNegative("retry.maxAttempts", retry.maxAttempts, 4)),
      ),
      baseDelayMs: nonNegative("retry.baseDelayMs", retry.baseDelayMs, 500),
      maxDelayMs: nonNegative("retry.maxDelayMs", retry.maxDelayMs, 10_000),
    },
    leaseTtlMs: positive("leaseTtlMs", options.leaseTtlMs, 30_000),
    pollIntervalMs: nonNegative(
      "pollIntervalMs",
      options.pollIntervalMs,
      250,
    ),
    persistTimeoutMs: nonNegative(
      "persistTimeoutMs",
      options.persistTimeoutMs,
      120_000,
    ),
    rotation,
    // Zoho's accounts servers do not rotate refresh tokens.
    knownRotates: options.tokenUrl === undefined ? false : undefined,
    minRefreshIntervalMs: nonNegative(
      "minRefreshIntervalMs",
      options.minRefreshIntervalMs,
      120_000,
    ),
    cache: cacheOptions(options.cache),
    customSleep: options.sleep !== undefined,
  };
}

function origins(
  name: string,
  value: string[] | undefined,
): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    throw new TypeError(
      `Invalid TokenClient option "${name}": expected an array of origins`,
    );
  }
  return Object.freeze(value.map((entry, index) => {
    let url: URL | undefined;
    try {
      url = typeof entry === "string" ? new URL(entry) : undefined;
    } catch {
      url = undefined;
    }
    if (
      url === undefined ||
      (url.protocol !== "https:" && url.protocol !== "http:")
    ) {
      throw new TypeError(
        `Invalid TokenClient option "${name}": entry ${index} is not an http(s) URL`,
      );
    }
    return url.origin;
  }));
}

function cacheOptions(
  cache: false | TokenCacheOptions | undefined,
): false | Required<TokenCacheOptions> {
  if (cache === false) return false;
  if (cache !== undefined && (cache === null || typeof cache !== "object")) {
    throw new TypeError(
      `Invalid TokenClient option "cache": expected false or an object, got ${
        cache === null ? "null" : typeof cache
      }`,
    );
  }
  const maxEntries = positive("cache.maxEntries", cache?.maxEntries, 10_000);
  if (!Number.isInteger(maxEntries)) {
    throw new TypeError(
      `Invalid TokenClient option "cache.maxEntries": expected a whole number, got ${maxEntries}`,
    );
  }
  return {
    maxEntries,
    maxStaleMs: nonNegative("cache.maxStaleMs", cache?.maxStaleMs, 30_000),
  };
}

function positive(
  name: string,
  value: number | undefined,
  fallback: number,
): number {
  const checked = nonNegative(name, value, fallback);
  if (checked === 0) {
    throw new TypeError(
      `Invalid TokenClient option "${name}": expected a positive number, got 0`,
    );
  }
  return checked;
}

/** A query described without secrets, for error messages. */
export function describeQuery(query: TokenQuery): string {
  const shown: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    shown[field] = (SECRET_FIELDS as readonly string[]).includes(field)
      ? redact(String(value))
      : value;
  }
  return JSON.stringify(shown);
}

function nonNegative(
  name: string,
  value: number | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new TypeError(
      `Invalid TokenClient option "${name}": expected a non-negative number, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}

function optionalFunction<T>(
  name: string,
  value: T | undefined,
): T | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(
      `Invalid TokenClient option "${name}": expected a function, got ${
        value === null ? "null" : typeof value
      }`,
    );
  }
  return value;
}

function requiredString(name: string, value: unknown): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(
      `Invalid TokenClient option "${name}": expected a non-empty string`,
    );
  }
  return value;
}

function httpUrl(name: string, value: string | URL): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // not echoed: a malformed URL may still hold credentials
    throw new TypeError(
      `Invalid TokenClient option "${name}": expected an http(s) URL, got ${
        typeof value === "string" ? "text that is not a URL" : typeof value
      }`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TypeError(
      `Invalid TokenClient option "${name}": expected an http(s) URL, got "${url.protocol}"`,
    );
  }
  return url.href;
}
