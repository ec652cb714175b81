/**
 * Validation and defaults of {@linkcode TokenClientOptions}.
 *
 * @module
 */

import type { CoordinatorConfig } from "./_refresh_coordinator.ts";
import { redact } from "./_redact.ts";
import type { EndpointConfig } from "./_token_endpoint.ts";
import { DATA_CENTERS, isDataCenter } from "./data_centers.ts";
import { SECRET_FIELDS } from "./token.ts";
import type { TokenClientOptions } from "./token_client.ts";
import type { TokenQuery, TokenStore } from "./token_store.ts";

/** Every option of a client, checked and with its default. */
export interface ResolvedClientOptions {
  store: TokenStore;
  clientId: string;
  clientSecret: string;
  redirectUrl?: string;
  tokenUrl: string;
  revokeUrl: string;
  skewMs: number;
  authScheme: string;
  endpoint: EndpointConfig;
  coordinator: CoordinatorConfig;
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
    coordinator: {
      store,
      leaseTtlMs: nonNegative("leaseTtlMs", options.leaseTtlMs, 30_000),
      pollIntervalMs: nonNegative(
        "pollIntervalMs",
        options.pollIntervalMs,
        250,
      ),
      sleep,
    },
  };
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
