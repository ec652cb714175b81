/**
 * The one place where the endpoint for a token is chosen. Today every token
 * of a client goes to the client's `tokenUrl` / `revokeUrl`; routing each
 * token to its own data center's accounts server (design "Connect" rule 7)
 * changes only {@linkcode EndpointRouter.prototype.for}.
 *
 * @module
 */

import type { OAuthToken } from "../token.ts";

/** Where a token's requests go. */
export interface TokenUrls {
  /** The token endpoint (grant exchange and refresh). */
  tokenUrl: string;
  /** The revocation endpoint. */
  revokeUrl: string;
}

/** Chooses the endpoint of each token's requests. */
export class EndpointRouter {
  #urls: TokenUrls;

  /** @param urls The client's own endpoint. */
  constructor(urls: TokenUrls) {
    this.#urls = { tokenUrl: urls.tokenUrl, revokeUrl: urls.revokeUrl };
  }

  /** The endpoint for `token`'s exchange, refresh and revocation. */
  for(_token: OAuthToken): TokenUrls {
    return this.#urls;
  }
}
