/**
 * `fetch` with an OAuth `Authorization` header that refreshes the token once
 * when the API answers 401 because the access token is invalid or expired
 * (design rule 8): never for a scope error, which a refresh cannot fix, and
 * at most once per token per `minRefreshIntervalMs` across processes.
 *
 * @module
 */

import { refreshRejected, type RejectedDeps } from "./cooldown.ts";
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

/**
 * Sends the request with `deps.token`'s access token; on a 401 that a refresh
 * may fix, refreshes once (or picks up another process's refresh during the
 * cooldown) and sends it again. The body is kept by cloning the request
 * before the first send.
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
  const first = await send(base.clone(), token, deps);
  if (first.status !== 401 || base.bodyUsed) return first;
  if (!await refreshMayHelp(first)) return first;
  const next = await refreshRejected(deps, token);
  if (next === null || next.accessToken === token.accessToken) return first;
  await first.body?.cancel();
  return await send(base, next, deps);
}

function send(
  request: Request,
  token: OAuthToken,
  deps: AuthorizedFetchDeps,
): Promise<Response> {
  request.headers.set("authorization", `${deps.scheme} ${token.accessToken}`);
  return deps.fetch(request);
}
