/**
 * Talking to an OAuth token endpoint: form POSTs with a per-request timeout,
 * bounded retries with exponential backoff and full jitter, and the mapping
 * of Zoho's and RFC 6749's answers to the {@linkcode OAuthError} family.
 *
 * Uses Web APIs only (fetch, URLSearchParams, AbortController, setTimeout).
 *
 * @module
 */

import { redact, scrub } from "../_redact.ts";
import { retry } from "../_retry.ts";
import { OAuthError, RateLimitError, TokenRevokedError } from "../errors.ts";
import { MAX_EXPIRES_AT } from "../token.ts";
import { storableApiDomain } from "./origins.ts";

/** How the client reaches the endpoint; every field resolved. */
export interface EndpointConfig {
  fetch: typeof fetch;
  /** The clock for `Retry-After` HTTP dates and token expiry (epoch ms). */
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  timeoutMs: number;
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** A successful token response. */
export interface TokenGrant {
  accessToken: string;
  /** Epoch ms, from `expires_in` and the config's clock. */
  expiresAt: number;
  /** The lifetime the server gave, ms. */
  lifetimeMs: number;
  refreshToken?: string;
  /** `api_domain`, only when it is `https:` (or `http:` on a loopback host). */
  apiDomain?: string;
  /**
   * Epoch ms when the refresh token expires, from `refresh_token_expires_in`
   * or `x_refresh_token_expires_in` (seconds) when the answer says.
   */
  refreshTokenExpiresAt?: number;
}

/** One request: where, what, and which secrets it carries (for scrubbing). */
export interface FormRequest {
  url: string;
  params: Record<string, string | undefined>;
  secrets: readonly (string | undefined)[];
  /**
   * Whether an attempt whose outcome is unknown (timeout, connection lost
   * after sending) may be sent again. Default `true`; `false` for a refresh
   * token on a server that rotates them (presenting it twice revokes it).
   */
  resendUnknown?: boolean;
  /**
   * Runs before every attempt is sent, with the attempt's timeout: the
   * refresh holder extends its lease past it here. Throwing stops the
   * request before anything is sent.
   */
  beforeSend?: (timeoutMs: number) => Promise<void>;
  /** Called with each failed attempt's error (rate limits are reported from here). */
  onError?: (error: unknown) => void;
}

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** `expires_in` used when a server leaves it out (Zoho's lifetime), seconds. */
const DEFAULT_EXPIRES_IN_SEC = 3600;
const MAX_DESCRIPTION = 300;
/** Zoho-shaped tokens (`1000.` and hex): redacted even when not ours. */
const ZOHO_TOKEN = /\b\d{4}\.[0-9a-f]{16,}(?:\.[0-9a-f]+)?\b/gi;

/** Server text made safe to show: our secrets and any Zoho token redacted. */
function clean(
  text: string,
  secrets: readonly (string | undefined)[],
): string {
  return clip(scrub(text, secrets).replace(ZOHO_TOKEN, (t) => redact(t)!));
}

/**
 * POSTs a token request (retrying as configured) and parses the grant.
 */
export async function requestToken(
  config: EndpointConfig,
  request: FormRequest,
): Promise<TokenGrant> {
  const json = await postForm(config, request);
  return parseGrant(json, config.now());
}

/**
 * POSTs a revocation request (retrying as configured). A 2xx answer with an
 * empty body (RFC 7009) or a JSON object without `error` (Zoho) is success.
 */
export async function requestRevoke(
  config: EndpointConfig,
  request: FormRequest,
): Promise<void> {
  await postForm(config, request, { allowEmpty: true });
}

async function postForm(
  config: EndpointConfig,
  request: FormRequest,
  options: { allowEmpty?: boolean } = {},
): Promise<Record<string, unknown>> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(request.params)) {
    if (value !== undefined) params.set(name, value);
  }
  const body = params.toString();
  return await retry(async () => {
    await request.beforeSend?.(config.timeoutMs);
    try {
      const response = await send(config, request, body);
      return interpret(response, request, config.now(), options);
    } catch (error) {
      request.onError?.(error);
      throw error;
    }
  }, {
    maxAttempts: config.maxAttempts,
    baseDelayMs: config.baseDelayMs,
    maxDelayMs: config.maxDelayMs,
    sleep: config.sleep,
    isRetriable: (error) =>
      isRetryable(error) &&
      (request.resendUnknown !== false || !isOutcomeUnknown(error)),
    retryAfterMs: (error) =>
      error instanceof RateLimitError ? error.retryAfterMs : undefined,
  });
}

/** Errors of attempts that may have reached the server before failing. */
const maybeReceived = new WeakSet<Error>();

/**
 * Whether `error` is a failed attempt that the server may still have
 * received and acted on: a timeout, or a connection lost after it was made.
 * Refused connections and answered errors are not.
 */
export function isOutcomeUnknown(error: unknown): boolean {
  return error instanceof Error && maybeReceived.has(error);
}

/** Deno's, Node's and Bun's words for a connection that was never made. */
const NOT_CONNECTED =
  /\(Connect\)|tcp connect error|connection refused|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|dns error|failed to lookup address|Unable to connect/i;

/** Network errors, timeouts, 5xx and rate limits; never `invalid_*`. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof OAuthError)) return false;
  if (error.code.startsWith("invalid_")) return false;
  if (error instanceof RateLimitError) return true;
  if (error.code === "network_error" || error.code === "timeout") return true;
  return error.status !== undefined && error.status >= 500;
}

async function send(
  config: EndpointConfig,
  request: FormRequest,
  body: string,
): Promise<RawResponse> {
  const timeoutMs = config.timeoutMs;
  const where = JSON.stringify(request.url);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    const response = await config.fetch(request.url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json",
      },
      body,
      signal: controller.signal,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text };
  } catch (error) {
    if (timedOut) {
      const timeout = new OAuthError("timeout", {
        description: `No answer from ${where} within ${timeoutMs} ms`,
        cause: error,
      });
      maybeReceived.add(timeout);
      throw timeout;
    }
    const reason = error instanceof Error
      ? `${error.message} ${String(error.cause ?? "")}`
      : String(error);
    const lost = new OAuthError("network_error", {
      description: `Cannot reach ${where}: ${
        clean(error instanceof Error ? error.message : reason, request.secrets)
      }`,
      cause: error,
    });
    if (!NOT_CONNECTED.test(reason)) maybeReceived.add(lost);
    throw lost;
  } finally {
    clearTimeout(timer);
  }
}

function interpret(
  response: RawResponse,
  request: FormRequest,
  now: number,
  options: { allowEmpty?: boolean },
): Record<string, unknown> {
  const { status, headers, text } = response;
  let json: unknown = undefined;
  try {
    json = text.trim() === "" ? undefined : JSON.parse(text);
  } catch {
    // not JSON: handled below
  }
  const object = json !== null && typeof json === "object" &&
      !Array.isArray(json)
    ? json as Record<string, unknown>
    : undefined;
  const retryAfterMs = parseRetryAfter(headers.get("retry-after"), now);
  if (object && typeof object.error === "string") {
    const description = typeof object.error_description === "string"
      ? object.error_description
      : undefined;
    throw oauthError(object.error, {
      description,
      status,
      retryAfterMs,
      secrets: request.secrets,
    });
  }
  if (status === 429) {
    throw new RateLimitError("too_many_requests", {
      status,
      description: "The token endpoint is rate limiting",
      retryAfterMs,
    });
  }
  if (status >= 500) {
    throw new OAuthError("server_error", {
      status,
      description: `The token endpoint failed (${describeBody(response)})`,
    });
  }
  if (
    options.allowEmpty && status >= 200 && status < 300 && text.trim() === ""
  ) {
    return {};
  }
  if (status >= 300 || object === undefined) {
    throw new OAuthError("invalid_response", {
      status,
      description: `Expected a JSON token response, got ${
        describeBody(response)
      }`,
    });
  }
  return object;
}

/** Maps an `error` code (Zoho's or RFC 6749's) to the right error class. */
function oauthError(
  rawCode: string,
  options: {
    description?: string;
    status: number;
    retryAfterMs?: number;
    secrets: readonly (string | undefined)[];
  },
): OAuthError {
  const code = clean(rawCode, options.secrets).trim().toLowerCase()
    .replace(/[\s-]+/g, "_") || "unknown_error";
  const description = options.description === undefined
    ? undefined
    : clean(options.description, options.secrets);
  const base = { description, status: options.status };
  const tooMany = /too many requests/i.test(description ?? "");
  if (
    options.status === 429 || code === "too_many_requests" ||
    code === "rate_limit_exceeded" || (code === "access_denied" && tooMany)
  ) {
    return new RateLimitError(code, {
      ...base,
      retryAfterMs: options.retryAfterMs,
    });
  }
  if (code === "invalid_code" || code === "invalid_grant") {
    return new TokenRevokedError(code, base);
  }
  return new OAuthError(code, base);
}

/** Reads a token response: `access_token`, `expires_in` and the optional rest. */
function parseGrant(json: Record<string, unknown>, now: number): TokenGrant {
  const accessToken = json.access_token;
  if (typeof accessToken !== "string" || accessToken === "") {
    throw new OAuthError("invalid_response", {
      description: 'Token response has no "access_token"',
    });
  }
  let expiresInMs = DEFAULT_EXPIRES_IN_SEC * 1000;
  if (json.expires_in !== undefined) {
    const value = Number(json.expires_in);
    if (!Number.isFinite(value) || value < 0) {
      throw new OAuthError("invalid_response", {
        description: `Token response has an invalid "expires_in" ${
          JSON.stringify(clip(String(json.expires_in)))
        }`,
      });
    }
    // Zoho's older answers carry `expires_in_sec`, and then `expires_in` is in ms.
    expiresInMs = json.expires_in_sec !== undefined ? value : value * 1000;
  }
  // A lifetime past the largest Date (`expires_in: 1e17`) is kept as that
  // date: every store can hold it, and the issued token is not dropped.
  const grant: TokenGrant = {
    accessToken,
    expiresAt: Math.min(now + expiresInMs, MAX_EXPIRES_AT),
    lifetimeMs: expiresInMs,
  };
  if (typeof json.refresh_token === "string" && json.refresh_token !== "") {
    grant.refreshToken = json.refresh_token;
  }
  // Not https (or loopback http): not stored, so access tokens never follow it.
  const apiDomain = storableApiDomain(json.api_domain);
  if (apiDomain !== undefined) grant.apiDomain = apiDomain;
  const refreshExpiresAt = refreshTokenExpiry(json, now);
  if (refreshExpiresAt !== undefined) {
    grant.refreshTokenExpiresAt = refreshExpiresAt;
  }
  return grant;
}

/**
 * When the refresh token expires (epoch ms), from `refresh_token_expires_in`
 * or `x_refresh_token_expires_in` in seconds (a number or a numeric
 * string). Only informative: a value that is not a finite number >= 0 is
 * ignored rather than failing an answer that issued tokens.
 */
function refreshTokenExpiry(
  json: Record<string, unknown>,
  now: number,
): number | undefined {
  const raw = json.refresh_token_expires_in ?? json.x_refresh_token_expires_in;
  if (typeof raw !== "number" && typeof raw !== "string") return undefined;
  const seconds = typeof raw === "string" && raw.trim() === ""
    ? NaN
    : Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) return undefined;
  return Math.min(Math.round(now + seconds * 1000), MAX_EXPIRES_AT);
}

/** `Retry-After` as delay-seconds or an HTTP date, in ms from `now`. */
export function parseRetryAfter(
  value: string | null,
  now: number,
): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

function describeBody(response: RawResponse): string {
  const type = response.headers.get("content-type") ?? "no content type";
  return `HTTP ${response.status}, ${JSON.stringify(type)}, ${
    new TextEncoder().encode(response.text).length
  } bytes`;
}

function clip(text: string): string {
  return text.length > MAX_DESCRIPTION
    ? `${text.slice(0, MAX_DESCRIPTION)}…`
    : text;
}
