/**
 * `fetch` with an OAuth `Authorization` header that refreshes the token once
 * when the API answers 401.
 *
 * @module
 */

import type { OAuthToken } from "./token.ts";
import type { TokenQuery } from "./token_store.ts";

import type { TokenFetchInit } from "./token_client.ts";

/** What {@linkcode authorizedFetch} needs from the client. */
export interface AuthorizedFetchDeps {
  fetch: typeof fetch;
  scheme: string;
  getToken: (query: TokenQuery) => Promise<OAuthToken>;
  /** Refreshes unless someone already replaced this token's access token. */
  refresh: (token: OAuthToken) => Promise<OAuthToken>;
}

/**
 * Sends the request with the token's access token; on 401 refreshes once and
 * sends it again (the body is kept by cloning the request before the first
 * send).
 */
export async function authorizedFetch(
  input: string | URL | Request,
  init: TokenFetchInit,
  deps: AuthorizedFetchDeps,
): Promise<Response> {
  if (init === null || typeof init !== "object" || init.token === undefined) {
    throw new TypeError(
      'Cannot fetch with a token: "init.token" (the token query) is missing',
    );
  }
  const { token: query, ...rest } = init;
  let token = await deps.getToken(query);
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
  await first.body?.cancel();
  token = await deps.refresh(token);
  return await send(base, token, deps);
}

function send(
  request: Request,
  token: OAuthToken,
  deps: AuthorizedFetchDeps,
): Promise<Response> {
  request.headers.set("authorization", `${deps.scheme} ${token.accessToken}`);
  return deps.fetch(request);
}
