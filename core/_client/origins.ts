/**
 * Which origins may receive a token (design "Connect" rules 7 and 8): the
 * loopback and `https:` checks, the origin of a stored `apiDomain`, and the
 * policy `client.fetch` applies before it adds an access token to a request.
 * Web APIs only.
 *
 * @module
 */

import type { OAuthToken } from "../token.ts";

/** 127.0.0.0/8, `::1` and `localhost`, as `URL.hostname` spells them. */
const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/** Whether `hostname` (as `URL.hostname` gives it) is a loopback host. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}

/**
 * Whether a secret may travel to `url` at all: `https:`, or `http:` on a
 * loopback host (where nothing crosses a network).
 */
export function isTrustworthy(url: URL): boolean {
  return url.protocol === "https:" ||
    (url.protocol === "http:" && isLoopbackHost(url.hostname));
}

/** `value` parsed as an absolute URL, or `undefined`. */
function parse(value: string | URL): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** The origin of `value` when it is a trustworthy URL, else `undefined`. */
export function trustworthyOrigin(value: string | URL): string | undefined {
  const url = parse(value);
  return url !== undefined && isTrustworthy(url) ? url.origin : undefined;
}

/**
 * An `api_domain` from a token answer as it may be stored: the value when it
 * is an `https:` (or loopback `http:`) URL, else `undefined` (not stored: the
 * token keeps its previous `apiDomain`).
 */
export function storableApiDomain(value: unknown): string | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  return trustworthyOrigin(value) === undefined ? undefined : value;
}

/** How a URL is named in an error: its origin, or its scheme when it has none. */
export function describeOrigin(url: URL): string {
  return url.origin === "null" ? url.protocol : url.origin;
}

/**
 * Where `client.fetch` may send a token's access token: the origin of the
 * token's `apiDomain` (when that is trustworthy) and `allowedOrigins`; a
 * token without an `apiDomain` anywhere trustworthy unless `allowedOrigins`
 * is set, then only there.
 */
export class OriginPolicy {
  #allowed: ReadonlySet<string> | undefined;

  /** @param allowedOrigins The client's `allowedOrigins`, already origins. */
  constructor(allowedOrigins: readonly string[] | undefined) {
    this.#allowed = allowedOrigins === undefined
      ? undefined
      : new Set(allowedOrigins);
  }

  /** Whether `token`'s access token may be sent to `url`. */
  allows(token: OAuthToken, url: URL): boolean {
    return this.refusal(token, url) === undefined;
  }

  /**
   * Why `token`'s access token may not be sent to `url` (a sentence that
   * names the origin refused and no secret), or `undefined` when it may.
   */
  refusal(token: OAuthToken, url: URL): string | undefined {
    const origin = url.origin;
    if (origin !== "null" && this.#allowed?.has(origin)) return undefined;
    const apiDomain = token.apiDomain;
    const where = `Cannot send the access token of token "${
      token.id ?? "(unsaved)"
    }" to "${describeOrigin(url)}"`;
    if (apiDomain !== undefined) {
      const own = trustworthyOrigin(apiDomain);
      if (own !== undefined && own === origin) return undefined;
      return `${where}: it is not the origin of the token's apiDomain ${
        JSON.stringify(own ?? apiDomain)
      }${this.#allowed === undefined ? "" : ' or in "allowedOrigins"'}`;
    }
    if (this.#allowed !== undefined) {
      return `${where}: the token has no apiDomain and the origin is not in "allowedOrigins"`;
    }
    if (isTrustworthy(url)) return undefined;
    return `${where}: the token has no apiDomain and the origin is neither https nor http on a loopback host`;
  }
}
