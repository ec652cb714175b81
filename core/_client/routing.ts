/**
 * The one place where the endpoint for a token is chosen (design "Connect"
 * rule 7). A client with a `tokenUrl` sends every token there. A client
 * that uses a Zoho data center sends each token to the accounts server of
 * the data center its `apiDomain` names, so that one client serves users of
 * every data center; a token with no or an unknown `apiDomain` goes to the
 * client's own.
 *
 * @module
 */

import { DATA_CENTERS, type DataCenter } from "../data_centers.ts";
import type { OAuthToken } from "../token.ts";
import { trustworthyOrigin } from "./origins.ts";

/** Where a token's requests go. */
export interface TokenUrls {
  /** The token endpoint (grant exchange and refresh). */
  tokenUrl: string;
  /** The revocation endpoint. */
  revokeUrl: string;
}

/** What the router is built from. */
export interface RouterOptions extends TokenUrls {
  /** The client's data center when it uses one (no `tokenUrl`). */
  dataCenter?: DataCenter;
}

/** Each data center's endpoints by the origin of its API domain. */
const BY_API_ORIGIN: ReadonlyMap<string, TokenUrls> = new Map(
  Object.values(DATA_CENTERS).map((info) => [
    new URL(info.apiDomain).origin,
    { tokenUrl: info.tokenUrl, revokeUrl: info.revokeUrl },
  ]),
);

/** Chooses the endpoint of each token's requests. */
export class EndpointRouter {
  #urls: TokenUrls;
  #own: string | undefined;

  /** @param options The client's own endpoint, and its data center if it uses one. */
  constructor(options: RouterOptions) {
    this.#urls = { tokenUrl: options.tokenUrl, revokeUrl: options.revokeUrl };
    this.#own = options.dataCenter === undefined
      ? undefined
      : new URL(DATA_CENTERS[options.dataCenter].apiDomain).origin;
  }

  /**
   * The endpoint for `token`'s exchange, refresh and revocation: with a data
   * center, that of the data center whose API domain has the origin of the
   * token's `apiDomain`; otherwise (and for the client's own data center,
   * whose `revokeUrl` may be configured) the client's.
   */
  for(token: OAuthToken): TokenUrls {
    if (this.#own === undefined || token.apiDomain === undefined) {
      return this.#urls;
    }
    const origin = trustworthyOrigin(token.apiDomain);
    if (origin === undefined || origin === this.#own) return this.#urls;
    return BY_API_ORIGIN.get(origin) ?? this.#urls;
  }
}
