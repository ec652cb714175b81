/**
 * The refresh client: an access token that is always valid, with exactly one
 * refresh per expiry however many callers, processes or edge isolates ask at
 * once.
 *
 * {@linkcode TokenClient} exchanges grant tokens, refreshes access tokens
 * before they expire (in one flight per token per process and, when the store
 * has a lock, under a lease shared by every process), persists rotated refresh
 * tokens, revokes tokens, and wraps `fetch` with the `Authorization` header.
 * It talks to Zoho's accounts servers (see {@linkcode DATA_CENTERS}) or to any
 * RFC 6749 token endpoint, and uses only Web APIs.
 *
 * @example Keep a Zoho token fresh
 * ```ts ignore
 * import { TokenClient } from "@tokenstore/tokenstore";
 * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
 *
 * const client = new TokenClient({
 *   store: await KvTokenStore.open({ path: "tokens.kv" }),
 *   clientId: Deno.env.get("ZOHO_CLIENT_ID")!,
 *   clientSecret: Deno.env.get("ZOHO_CLIENT_SECRET")!,
 *   dataCenter: "EU",
 * });
 * await client.exchangeGrantToken(Deno.env.get("ZOHO_GRANT_TOKEN")!, { userName: "ada@example.com" });
 * const response = await client.fetch("/crm/v6/users?type=CurrentUser", {
 *   token: { userName: "ada@example.com" },
 * });
 * console.log(response.status);
 * ```
 *
 * @module
 */

import {
  type NeedsWork,
  RefreshCoordinator,
  type Work,
} from "./_refresh_coordinator.ts";
import { describeQuery, resolveClientOptions } from "./_client_options.ts";
import {
  type EndpointConfig,
  requestRevoke,
  requestToken,
  type TokenGrant,
} from "./_token_endpoint.ts";
import type { DataCenter } from "./data_centers.ts";
import { OAuthError, TokenStoreError } from "./errors.ts";
import { OAuthToken, type OAuthTokenInit } from "./token.ts";
import type {
  Lease,
  TokenLock,
  TokenQuery,
  TokenStore,
} from "./token_store.ts";
import { authorizedFetch } from "./_authorized_fetch.ts";

export type {
  DataCenter,
  Lease,
  OAuthToken,
  OAuthTokenInit,
  TokenLock,
  TokenQuery,
  TokenStore,
};

/** `fetch` options plus the query of the token to authorise with. */
export type TokenFetchInit = RequestInit & {
  /** Which token to use, by the store's matching rules. */
  token: TokenQuery;
};

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
  /** Refresh this long before expiry. Default 60 000 ms. */
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
  /** Lifetime of the refresh lease if its holder dies. Default 30 000 ms. */
  leaseTtlMs?: number;
  /** How often a process waiting for another's refresh reads the store. Default 250 ms. */
  pollIntervalMs?: number;
  /** Waits between retries and polls. Default: a `setTimeout` promise. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Exchanges, refreshes, persists and revokes OAuth tokens kept in a
 * {@linkcode TokenStore}, with exactly one refresh per expiry.
 *
 * @example Get an access token that is always valid
 * ```ts ignore
 * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
 *
 * const store = new MemoryTokenStore();
 * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", dataCenter: "EU" });
 * const accessToken = await client.getAccessToken({ userName: "ada@example.com" });
 * ```
 */
export class TokenClient {
  /** The token endpoint requests go to. */
  readonly tokenUrl: string;
  /** The revocation endpoint. */
  readonly revokeUrl: string;
  #store: TokenStore;
  #clientId: string;
  #clientSecret: string;
  #redirectUrl?: string;
  #skewMs: number;
  #now: () => number;
  #fetch: typeof fetch;
  #authScheme: string;
  #endpoint: EndpointConfig;
  #coordinator: RefreshCoordinator;

  /**
   * Creates a client.
   *
   * @param options The store, client credentials, endpoint and tuning.
   * @throws {TypeError} When an option is invalid.
   */
  constructor(options: TokenClientOptions) {
    const resolved = resolveClientOptions(options);
    this.tokenUrl = resolved.tokenUrl;
    this.revokeUrl = resolved.revokeUrl;
    this.#store = resolved.store;
    this.#clientId = resolved.clientId;
    this.#clientSecret = resolved.clientSecret;
    this.#redirectUrl = resolved.redirectUrl;
    this.#skewMs = resolved.skewMs;
    this.#now = resolved.endpoint.now;
    this.#fetch = resolved.endpoint.fetch;
    this.#authScheme = resolved.authScheme;
    this.#endpoint = resolved.endpoint;
    this.#coordinator = new RefreshCoordinator(resolved.coordinator);
  }

  /**
   * A valid access token for the token matching `query`: exchanges a stored
   * grant token or refreshes an expiring access token first, as needed.
   *
   * @example Usage
   * ```ts ignore
   * const accessToken = await client.getAccessToken({ userName: "ada@example.com" });
   * ```
   *
   * @param query Which token, by the store's matching rules.
   * @returns The access token.
   * @throws {TokenStoreError} `INVALID_QUERY` when no token matches.
   * @throws {OAuthError} When the token endpoint refuses.
   */
  async getAccessToken(query: TokenQuery): Promise<string> {
    const token = await this.getToken(query);
    return token.accessToken!;
  }

  /**
   * The token matching `query`, with an access token valid for at least
   * `refreshSkewMs`: a grant-only token is exchanged, an expiring one
   * refreshed, and the result persisted.
   *
   * @example Usage
   * ```ts ignore
   * const token = await client.getToken({ userName: "ada@example.com" });
   * console.log(token.expiresAt);
   * ```
   *
   * @param query Which token, by the store's matching rules.
   * @returns The fresh stored token.
   * @throws {TokenStoreError} `INVALID_QUERY` when no token matches, `INVALID_TOKEN` when it cannot be refreshed.
   * @throws {OAuthError} When the token endpoint refuses.
   */
  async getToken(query: TokenQuery): Promise<OAuthToken> {
    const stored = await this.#find(query);
    const needsWork: NeedsWork = (token) =>
      token.isExpired({ now: this.#now(), skewMs: this.#skewMs });
    if (!needsWork(stored)) return stored;
    return await this.#coordinator.run(stored.id!, needsWork, this.#work);
  }

  /**
   * Exchanges a grant token (authorization code) and persists the result.
   *
   * @example Usage
   * ```ts ignore
   * const token = await client.exchangeGrantToken("1000.grant", { userName: "ada@example.com" });
   * ```
   *
   * @param code The grant token.
   * @param options `userName` to store the token under.
   * @returns The stored token.
   * @throws {TokenRevokedError} When the code is invalid or used.
   */
  async exchangeGrantToken(
    code: string,
    options: { userName?: string } = {},
  ): Promise<OAuthToken> {
    if (typeof code !== "string" || code === "") {
      throw new TypeError(
        "Cannot exchange grant token: expected a non-empty string",
      );
    }
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        "Cannot exchange grant token: expected options to be an object",
      );
    }
    const token = new OAuthToken({
      userName: options.userName,
      clientId: this.#clientId,
      clientSecret: this.#clientSecret,
      redirectUrl: this.#redirectUrl,
      grantToken: code,
    });
    return await this.#exchange(token, undefined);
  }

  /**
   * Refreshes the access token now, whatever its expiry, and persists it.
   * Callers refreshing the same token at once share one refresh.
   *
   * @example Usage
   * ```ts ignore
   * const token = await client.refresh({ userName: "ada@example.com" });
   * ```
   *
   * @param query Which token, by the store's matching rules.
   * @returns The refreshed stored token.
   */
  async refresh(query: TokenQuery): Promise<OAuthToken> {
    const stored = await this.#find(query);
    return await this.#refreshUnless(stored.id!, stored.accessToken);
  }

  /**
   * Revokes the token's refresh token (or, without one, its access token) at
   * the server, then deletes the token from the store.
   *
   * @example Usage
   * ```ts ignore
   * await client.revoke({ userName: "ada@example.com" });
   * ```
   *
   * @param query Which token, by the store's matching rules.
   */
  async revoke(query: TokenQuery): Promise<void> {
    const stored = await this.#find(query);
    const secret = stored.refreshToken ?? stored.accessToken;
    if (secret !== undefined) {
      const { clientId, clientSecret } = this.#credentials(stored);
      try {
        await requestRevoke(this.#endpoint, {
          url: this.revokeUrl,
          params: {
            token: secret,
            client_id: clientId,
            client_secret: clientSecret,
          },
          secrets: [secret, clientSecret, stored.accessToken],
        });
      } catch (error) {
        // Already revoked or unknown: the token is dead either way.
        const dead = error instanceof OAuthError &&
          ["invalid_token", "invalid_grant", "invalid_code"].includes(
            error.code,
          );
        if (!dead) throw error;
      }
    }
    await this.#store.deleteToken(stored.id!);
  }

  /**
   * `fetch` with `Authorization: <authScheme> <access token>` for the token
   * matching `init.token`. On a 401 answer the token is refreshed once (shared
   * with concurrent callers) and the request sent again. A path starting with
   * `/` is resolved against the token's `apiDomain`.
   *
   * @example Usage
   * ```ts ignore
   * const response = await client.fetch("/crm/v6/Leads", { token: { userName: "ada@example.com" } });
   * ```
   *
   * @param input The URL or request.
   * @param init Request options and `token`, the query of the token to use.
   * @returns The response.
   */
  fetch(
    input: string | URL | Request,
    init: TokenFetchInit,
  ): Promise<Response> {
    return authorizedFetch(input, init, {
      fetch: this.#fetch,
      scheme: this.#authScheme,
      getToken: (query) => this.getToken(query),
      refresh: (token) => this.#refreshUnless(token.id!, token.accessToken),
    });
  }

  async #find(query: TokenQuery): Promise<OAuthToken> {
    const stored = await this.#store.findToken(query);
    if (stored === null) {
      throw new TokenStoreError(
        "INVALID_QUERY",
        `Cannot find token ${describeQuery(query)}: no stored token matches`,
      );
    }
    if (stored.id === undefined) {
      throw new TokenStoreError(
        "BACKEND",
        "Cannot use token: the store returned it without an id",
      );
    }
    return stored;
  }

  /** Refreshes token `id` unless its access token is no longer `seen`. */
  #refreshUnless(id: string, seen: string | undefined): Promise<OAuthToken> {
    const needsWork: NeedsWork = (token) => token.accessToken === seen;
    return this.#coordinator.run(id, needsWork, this.#work);
  }

  #credentials(token: OAuthToken) {
    return {
      clientId: token.clientId ?? this.#clientId,
      clientSecret: token.clientSecret ?? this.#clientSecret,
      redirectUrl: token.redirectUrl ?? this.#redirectUrl,
    };
  }

  /** Refreshes (or exchanges the grant of) a stored token and saves it. */
  #work: Work = async (token, deadline) => {
    if (token.refreshToken !== undefined) {
      const { clientId, clientSecret } = this.#credentials(token);
      const grant = await requestToken(this.#endpoint, {
        url: this.tokenUrl,
        params: {
          grant_type: "refresh_token",
          refresh_token: token.refreshToken,
          client_id: clientId,
          client_secret: clientSecret,
        },
        secrets: [token.refreshToken, clientSecret, token.accessToken],
        deadline,
      });
      return await this.#save(token, grant, deadline);
    }
    if (token.grantToken !== undefined && token.accessToken === undefined) {
      return await this.#exchange(token, deadline);
    }
    if (!token.isExpired({ now: this.#now() })) return token;
    throw new TokenStoreError(
      "INVALID_TOKEN",
      `Cannot refresh token "${token.id}": it has no refreshToken${
        token.grantToken === undefined ? " or grantToken" : ""
      }`,
    );
  };

  async #exchange(
    token: OAuthToken,
    deadline: number | undefined,
  ): Promise<OAuthToken> {
    const { clientId, clientSecret, redirectUrl } = this.#credentials(token);
    const grant = await requestToken(this.#endpoint, {
      url: this.tokenUrl,
      params: {
        grant_type: "authorization_code",
        code: token.grantToken,
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uri: redirectUrl,
      },
      secrets: [token.grantToken, clientSecret],
      deadline,
    });
    return await this.#save(token, grant, deadline);
  }

  /**
   * Saves the grant into the stored token, keeping its id and other fields.
   * A transient store failure (`BACKEND`, `CONFLICT`) is retried with the
   * endpoint's backoff: the tokens just issued (a rotated refresh token
   * above all) exist nowhere else.
   */
  async #save(
    token: OAuthToken,
    grant: TokenGrant,
    deadline?: number,
  ): Promise<OAuthToken> {
    const fresh = token.with({
      accessToken: grant.accessToken,
      expiresAt: grant.expiresAt,
      refreshToken: grant.refreshToken ?? token.refreshToken,
      apiDomain: grant.apiDomain ?? token.apiDomain,
    });
    const { maxAttempts, baseDelayMs, maxDelayMs, sleep } = this.#endpoint;
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#store.saveToken(fresh);
      } catch (error) {
        const transient = error instanceof TokenStoreError &&
          (error.code === "BACKEND" || error.code === "CONFLICT");
        const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)) *
          (0.5 + Math.random() / 2);
        const late = deadline !== undefined && Date.now() + delay >= deadline;
        if (!transient || attempt >= maxAttempts || late) throw error;
        await sleep(delay);
      }
    }
  }
}
