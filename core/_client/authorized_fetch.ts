/**
 * `fetch` with an OAuth `Authorization` header that refreshes the token once
 * when the API answers 401 because the access token is invalid or expired
 * (design rule 8): never for a scope error, which a refresh cannot fix, and
 * at most once per token per `minRefreshIntervalMs` across processes. The
 * header goes only to the origins the token may be sent to (design "Connect"
 * rule 8), redirects included.
 *
 * @module
 */

import { refreshRejected, type RejectedDeps } from "./cooldown.ts";
import { describeOrigin, type OriginPolicy } from "./origins.ts";
import type { OAuthToken } from "../token.ts";
import type { TokenQuery } from "../token_store.ts";

/** `fetch` options plus the query of the token to authorise with. */
export type TokenFetchInit = RequestInit & {
  /** Which token to use, by the store's matching rules. */
  token: TokenQuery;
};

/** What {@linkcode authorizedFetch} works with. */
export interface AuthorizedFetchDeps extends RejectedDeps {
  fetch: typeof fetch;
  scheme: string;
  /** Where access tokens may go. */
  origins: OriginPolicy;
}

/** Zoho's `code`s of an access token that is invalid or expired. */
const ZOHO_INVALID = new Set([
  "INVALID_TOKEN",
  "INVALID_OAUTHTOKEN",
  "OAUTH_TOKEN_EXPIRED",
  "AUTHENTICATION_FAILURE",
]);

/**
 * Whether a 401 answer says the access token is invalid or expired, or gives
 * no reason: then a refresh may help. Zoho's `{"code":"INVALID_TOKEN"}` and
 * RFC 6750's `error="invalid_token"` do; a scope error or any other stated
 * reason does not.
 *
 * @param response The 401 response (its body is read from a clone).
 */
export async function refreshMayHelp(response: Response): Promise<boolean> {
  const challenge = response.headers.get("www-authenticate");
  const error = challenge === null
    ? null
    : /\berror\s*=\s*"?([A-Za-z_]+)"?/i.exec(challenge)?.[1];
  if (error) return error.toLowerCase() === "invalid_token";
  let text = "";
  try {
    text = await response.clone().text();
  } catch {
    return true;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return true;
  }
  if (body === null || typeof body !== "object") return true;
  const { code, error: oauthError } = body as Record<string, unknown>;
  if (typeof code === "string") return ZOHO_INVALID.has(code.toUpperCase());
  if (typeof oauthError === "string") {
    return oauthError.toLowerCase() === "invalid_token";
  }
  return true;
}

/**
 * The query of the token `init` asks for.
 *
 * @throws {TypeError} When `init.token` is missing.
 */
export function fetchQuery(init: TokenFetchInit): TokenQuery {
  if (init === null || typeof init !== "object" || init.token === undefined) {
    throw new TypeError(
      'Cannot fetch with a token: "init.token" (the token query) is missing',
    );
  }
  return init.token;
}

/** The statuses `client.fetch` follows, as `fetch` does. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Redirects followed before giving up, as `fetch` does. */
const MAX_REDIRECTS = 20;
/** Headers that describe a body, dropped with it when a redirect turns the request into a GET. */
const BODY_HEADERS = [
  "content-encoding",
  "content-language",
  "content-location",
  "content-type",
  "content-length",
];

/**
 * Sends the request with `deps.token`'s access token; on a 401 that a refresh
 * may fix, refreshes once (or picks up another process's refresh during the
 * cooldown) and sends it again.
 *
 * The access token goes only where `deps.origins` allows (design "Connect"
 * rule 8): a request to any other origin is a `TypeError` before anything is
 * sent. Redirects are followed here, not by `fetch`, so that the
 * `Authorization` header goes only to allowed origins: a redirect elsewhere
 * is followed without it.
 *
 * @throws {TypeError} When the token may not be sent to the request's origin.
 */
export async function authorizedFetch(
  input: string | URL | Request,
  init: TokenFetchInit,
  deps: AuthorizedFetchDeps & { token: OAuthToken },
): Promise<Response> {
  const { token: _query, ...rest } = init;
  const { token } = deps;
  let target = input;
  if (
    typeof input === "string" && input.startsWith("/") &&
    token.apiDomain !== undefined
  ) {
    target = new URL(input, token.apiDomain);
  }
  const base = new Request(target, rest);
  const url = new URL(base.url);
  const refusal = deps.origins.refusal(token, url);
  if (refusal !== undefined) {
    await base.body?.cancel();
    throw new TypeError(refusal);
  }
  const first = await send(base, rest, token, deps);
  if (first.response.status !== 401 || !first.authorized) {
    return first.response;
  }
  if (!await refreshMayHelp(first.response)) return first.response;
  const next = await refreshRejected(deps, token);
  if (
    next === null || next.accessToken === token.accessToken ||
    !deps.origins.allows(next, url)
  ) {
    return first.response;
  }
  await first.response.body?.cancel();
  return (await send(base, rest, next, deps)).response;
}

/**
 * Sends a copy of `base` (which stays unread, for a resend) and follows its
 * redirects as `fetch` would, adding the `Authorization` header on each hop
 * whose origin `token` may be sent to. Resolves with the last response and
 * whether its request carried the token.
 */
async function send(
  base: Request,
  init: RequestInit,
  token: OAuthToken,
  deps: AuthorizedFetchDeps,
): Promise<{ response: Response; authorized: boolean }> {
  let request = new Request(base.clone(), { redirect: "manual" });
  let method = base.method;
  // whether a redirect turned the request into a GET and dropped its body
  let dropped = false;
  for (let redirects = 0;; redirects++) {
    const url = new URL(request.url);
    const authorized = deps.origins.allows(token, url);
    if (authorized) {
      request.headers.set(
        "authorization",
        `${deps.scheme} ${token.accessToken}`,
      );
    } else {
      request.headers.delete("authorization");
    }
    const response = await deps.fetch(request);
    const location = response.headers.get("location");
    if (
      base.redirect === "manual" || !REDIRECTS.has(response.status) ||
      location === null
    ) {
      return { response, authorized };
    }
    await response.body?.cancel();
    const from = JSON.stringify(describeOrigin(url));
    if (base.redirect === "error") {
      throw new TypeError(
        `Cannot fetch from ${from}: it answered a redirect and "redirect" is "error"`,
      );
    }
    if (redirects >= MAX_REDIRECTS) {
      throw new TypeError(
        `Cannot fetch from ${from}: more than ${MAX_REDIRECTS} redirects`,
      );
    }
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new TypeError(
        `Cannot follow the redirect from ${from}: its "location" is not a URL`,
      );
    }
    if (next.protocol !== "https:" && next.protocol !== "http:") {
      throw new TypeError(
        `Cannot follow the redirect from ${from} to a "${next.protocol}" URL`,
      );
    }
    const status = response.status;
    if (
      (status === 303 && method !== "GET" && method !== "HEAD") ||
      ((status === 301 || status === 302) && method === "POST")
    ) {
      method = "GET";
      dropped = true;
    }
    const headers = new Headers(base.headers);
    if (dropped) {
      for (const name of BODY_HEADERS) headers.delete(name);
    }
    request = new Request(next, {
      ...init,
      signal: base.signal,
      method,
      headers,
      body: dropped || base.body === null
        ? null
        : await base.clone().arrayBuffer(),
      redirect: "manual",
    });
  }
}
