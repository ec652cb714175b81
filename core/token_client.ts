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
 * @example Keep a Zoho token fresh (real credentials from the environment)
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
 * await client.fetch("/crm/v8/users?type=CurrentUser", { token: { userName: "ada@example.com" } });
 * ```
 *
 * @module
 */

import {
  authorizedFetch,
  fetchQuery,
  type TokenFetchInit,
} from "./_client/authorized_fetch.ts";
import type { TokenCacheOptions } from "./_client/cache.ts";
import {
  checkExchange,
  exchangedFor,
  type ExchangeOptions,
  type GetTokenOptions,
  minLifetimeOf,
  type RefreshOptions,
  rejectedOf,
} from "./_client/call_options.ts";
import { refreshRejected } from "./_client/cooldown.ts";
import { EventsObserver } from "./_client/events.ts";
import {
  keepAlive,
  type KeepAliveOptions,
  type KeepAliveReport,
} from "./_client/keep_alive.ts";
import {
  type Authorization,
  type AuthorizeOptions,
  type CallbackResult,
  Connector,
} from "./_connect/connector.ts";
import {
  resolveClientOptions,
  type RetryOptions,
  type TokenClientOptions,
} from "./_client/options.ts";
import { createPipeline, type Pipeline } from "./_client/pipeline.ts";
import type { Lookup } from "./_client/reader.ts";
import { SharedCalls } from "./_client/shared_calls.ts";
import type { OAuthToken } from "./token.ts";
import {
  type TokenClientEventMap,
  TokenClientEventTarget,
  type TokenClientEventType,
  type TokenClientListener,
} from "./token_client_events.ts";
import type { TokenQuery, TokenStore } from "./token_store.ts";
import type { TokenStatus } from "./token_status.ts";
import { TokenStoreError } from "./errors.ts";

export { TokenClientEventTarget };
export type {
  Authorization,
  AuthorizeOptions,
  CallbackResult,
  ExchangeOptions,
  GetTokenOptions,
  KeepAliveOptions,
  KeepAliveReport,
  RefreshOptions,
  RetryOptions,
  TokenCacheOptions,
  TokenClientEventMap,
  TokenClientEventType,
  TokenClientListener,
  TokenClientOptions,
  TokenFetchInit,
};

/**
 * Exchanges, refreshes, persists and revokes OAuth tokens kept in a
 * {@linkcode TokenStore}, with exactly one refresh per expiry.
 *
 * It is an `EventTarget`: `"refresh"`, `"refresherror"`, `"revoked"`,
 * `"persistfailed"`, `"ratelimited"` and `"recovered"` are `CustomEvent`s whose `detail`
 * ({@linkcode TokenClientEventMap}) holds no secret; listeners are typed by
 * event name.
 *
 * @example Get an access token that is always valid
 * ```ts
 * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
 * import { assertEquals } from "@std/assert";
 *
 * const store = new MemoryTokenStore();
 * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * // `fetch` stands in for accounts.zoho.eu: each refresh issues an access token
 * const answer = { access_token: "1000.a", expires_in: 3600 };
 * const fetch = () => Promise.resolve(Response.json(answer));
 * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", dataCenter: "EU", fetch });
 * const refreshed: string[] = [];
 * client.addEventListener("refresh", (event) => refreshed.push(event.detail.id!));
 * assertEquals(await client.getAccessToken({ userName: "ada@example.com" }), "1000.a");
 * assertEquals(await client.getAccessToken({ userName: "ada@example.com" }), "1000.a");
 * assertEquals(refreshed.length, 1); // the second call is served from the cache
 * ```
 */
export class TokenClient extends TokenClientEventTarget {
  /** The token endpoint requests go to. */
  readonly tokenUrl: string;
  /** The revocation endpoint. */
  readonly revokeUrl: string;
  /**
   * The store the client keeps tokens in. After changing it directly (a
   * delete, a save of your own), call
   * {@linkcode TokenClient.prototype.forget} so that the client's cache
   * follows at once.
   */
  readonly store: TokenStore;
  #pipeline: Pipeline;
  #connector: Connector;
  /** The promises callers of a refresh running here share (see `getAccessToken`). */
  #shared = new SharedCalls();

  /**
   * Creates a client.
   *
   * @param options The store, client credentials, endpoint and tuning.
   * @throws {TypeError} When an option is invalid.
   */
  constructor(options: TokenClientOptions) {
    super();
    const resolved = resolveClientOptions(options);
    this.tokenUrl = resolved.tokenUrl;
    this.revokeUrl = resolved.revokeUrl;
    this.store = resolved.store;
    this.#pipeline = createPipeline(resolved, [new EventsObserver(this)]);
    this.#connector = new Connector({
      ...resolved,
      now: resolved.endpoint.now,
      lock: resolved.store.lock,
      work: this.#pipeline.work,
    });
  }

  /**
   * A valid access token for the token matching `query`: exchanges a stored
   * grant token or refreshes an expiring access token first, as needed.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * await store.saveToken(new OAuthToken({ userName: "ada@example.com", grantToken: "1000.g" }));
   * const answer = { access_token: "1000.a", refresh_token: "1000.r", expires_in: 3600 };
   * const fetch = () => Promise.resolve(Response.json(answer));
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch });
   * // the stored grant token is exchanged on first use
   * assertEquals(await client.getAccessToken({ userName: "ada@example.com" }), "1000.a");
   * assertEquals((await store.findToken({ userName: "ada@example.com" }))?.refreshToken, "1000.r");
   * ```
   *
   * @param query Which token, by the store's matching rules.
   * @param options `minLifetimeMs`: the least time the access token must have to live.
   * @returns The access token.
   * @throws {TokenStoreError} `INVALID_QUERY` when no token matches.
   * @throws {OAuthError} When the token endpoint refuses.
   */
  getAccessToken(
    query: TokenQuery,
    options?: GetTokenOptions,
  ): Promise<string> {
    let lookup: Lookup;
    try {
      lookup = this.#pipeline.reader.lookup(query);
    } catch (error) {
      return Promise.reject(error);
    }
    if (options === undefined) {
      const { reader, coordinator } = this.#pipeline;
      const cached = lookup.cached;
      if (cached !== undefined && !reader.isExpiring(cached)) {
        return Promise.resolve(cached.accessToken!);
      }
      // Expired while a refresh of it runs here: the callers of the same
      // query share one promise of its access token (a stampede's 1,000
      // callers allocate and resume nothing each).
      if (cached !== undefined && !reader.isValid(cached)) {
        const start = () => this.#token(lookup, undefined).then(accessTokenOf);
        const flight = coordinator.flight(cached.id!);
        return flight === undefined
          ? start()
          : this.#shared.share(flight, lookup.key, start);
      }
    }
    return this.#token(lookup, options).then(accessTokenOf);
  }

  /**
   * The token matching `query`, with a valid access token: a grant-only
   * token is exchanged and an expired one refreshed before it resolves; one
   * within `refreshSkewMs` of expiry (at most half its lifetime) is served
   * at once and refreshed in the background. A fresh token comes from the
   * cache without touching the store.
   *
   * With `minLifetimeMs`, a token with less than that to live (at most half
   * its lifetime) is refreshed before the call resolves: for a caller that
   * hands the token on to code that must not see it expire (an SDK that
   * would refresh it by itself).
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * const expiresAt = Date.now() + 3_600_000;
   * await store.saveToken(new OAuthToken({ userName: "ada@example.com", accessToken: "1000.a", expiresAt }));
   * const fetch = () => Promise.reject(new Error("not called: the token is fresh"));
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch });
   * assertEquals((await client.getToken({ userName: "ada@example.com" })).expiresAt, expiresAt);
   * ```
   *
   * @example A minimum remaining lifetime
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * // 90 s to live: fresh by the default skew (60 s), too short for 120 s
   * await store.saveToken(new OAuthToken({ userName: "ada", refreshToken: "1000.r", accessToken: "1000.old", expiresAt: Date.now() + 90_000 }));
   * const fetch = () => Promise.resolve(Response.json({ access_token: "1000.new", expires_in: 3600 }));
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch });
   * assertEquals((await client.getToken({ userName: "ada" })).accessToken, "1000.old");
   * assertEquals((await client.getToken({ userName: "ada" }, { minLifetimeMs: 120_000 })).accessToken, "1000.new");
   * ```
   *
   * @param query Which token, by the store's matching rules.
   * @param options `minLifetimeMs`: the least time the access token must have to live.
   * @returns The fresh stored token.
   * @throws {TokenStoreError} `INVALID_QUERY` when no token matches, `INVALID_TOKEN` when it cannot be refreshed.
   * @throws {OAuthError} When the token endpoint refuses.
   */
  async getToken(
    query: TokenQuery,
    options?: GetTokenOptions,
  ): Promise<OAuthToken> {
    return await this.#token(this.#pipeline.reader.lookup(query), options);
  }

  async #token(
    lookup: Lookup,
    options: GetTokenOptions | undefined,
  ): Promise<OAuthToken> {
    const marginMs = options === undefined ? undefined : minLifetimeOf(options);
    const { reader, coordinator } = this.#pipeline;
    const cached = lookup.cached;
    if (
      cached !== undefined &&
      (marginMs === undefined || !reader.isExpiring(cached, marginMs))
    ) {
      if (!reader.isExpiring(cached)) return cached;
      // being refreshed ahead of expiry here: no need to ask the store
      const id = cached.id!;
      if (reader.isValid(cached) && coordinator.inFlight(id)) return cached;
      if (!reader.isValid(cached)) {
        // Expired: straight to the lease, whose holder reads the token
        // anyway (a read before it would be one more store round trip on
        // the refreshing caller's path).
        try {
          return await coordinator.run(id, "expiring", cached);
        } catch (error) {
          // deleted meanwhile: another token may match the query now
          if (!isGone(error)) throw error;
        }
      }
    }
    const token = await reader.find(lookup);
    if (marginMs !== undefined && reader.isExpiring(token, marginMs)) {
      return await coordinator.run(token.id!, { marginMs }, token);
    }
    if (!reader.isExpiring(token)) return token;
    if (!reader.isValid(token)) {
      return await coordinator.run(token.id!, "expiring", token);
    }
    // Still valid: served now, refreshed in the background (one flight).
    coordinator.ahead(token.id!);
    return token;
  }

  /**
   * Exchanges a grant token (authorization code) and persists the result.
   * A code is single-use: it is sent at most once across every process
   * sharing the store (under a lease per code, the store is read again and
   * a token already holding the code is returned), and a request with an
   * unknown outcome is not resent.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * let sent = 0;
   * const answer = { access_token: "1000.a", refresh_token: "1000.r", expires_in: 3600 };
   * const fetch = () => (sent++, Promise.resolve(Response.json(answer)));
   * const client = new TokenClient({ store: new MemoryTokenStore(), clientId: "1000.C", clientSecret: "s", fetch });
   * const token = await client.exchangeGrantToken("1000.grant", { userName: "ada@example.com" });
   * assertEquals([token.userName, token.refreshToken], ["ada@example.com", "1000.r"]);
   * // the same code again: the stored token, nothing sent
   * assertEquals((await client.exchangeGrantToken("1000.grant")).id, token.id);
   * assertEquals(sent, 1);
   * ```
   *
   * @param code The grant token.
   * @param options `userName` to store the token under; `redirectUrl` the code was issued for.
   * @returns The stored token.
   * @throws {TokenRevokedError} When the code is invalid or used.
   * @throws {TokenStoreError} `CONFLICT` when a token of another user holds the code.
   */
  async exchangeGrantToken(
    code: string,
    options: ExchangeOptions = {},
  ): Promise<OAuthToken> {
    checkExchange(code, options);
    const { work, coordinator } = this.#pipeline;
    const token = await coordinator.exchange(
      code,
      work.codeQuery(code),
      (lease) => work.exchangeCode(code, options, lease),
    );
    return exchangedFor(token, options);
  }

  /**
   * Starts connecting a user (authorization code flow with PKCE S256):
   * resolves the provider's authorization URL to redirect the browser to,
   * and the state cookie to set with that redirect. The cookie carries the
   * state and the PKCE verifier sealed with a key derived from the client
   * secret (`HttpOnly; SameSite=Lax; Path=/; Max-Age=600`, `Secure` with a
   * `__Host-` name unless the redirect URL is `http:` on a loopback host):
   * nothing is kept in memory, so the callback may reach any process or
   * isolate. With Zoho the scopes are joined with `,` and the URL asks for
   * `access_type=offline` and `prompt=consent`.
   *
   * @example Redirect a user to Zoho's consent page
   * ```ts
   * import { MemoryTokenStore, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const client = new TokenClient({
   *   store: new MemoryTokenStore(), clientId: "1000.C", clientSecret: "s",
   *   redirectUrl: "https://app.example.com/callback", dataCenter: "EU",
   * });
   * const { url, cookie } = await client.authorize({ scope: ["ZohoCRM.users.READ", "ZohoCRM.modules.ALL"], userName: "ada@example.com" });
   * assertEquals(url.origin + url.pathname, "https://accounts.zoho.eu/oauth/v2/auth");
   * assertEquals(url.searchParams.get("scope"), "ZohoCRM.users.READ,ZohoCRM.modules.ALL");
   * assertEquals(url.searchParams.get("code_challenge_method"), "S256");
   * assertEquals(cookie.startsWith("__Host-tokenstore_state="), true);
   * // answer: new Response(null, { status: 302, headers: { location: url.href, "set-cookie": cookie } })
   * ```
   *
   * @param options `scope`, and `redirectUrl`, `userName`, `params` if needed.
   * @returns The authorization URL and the state cookie.
   * @throws {TypeError} When an option is invalid, or the client has no authorization URL.
   */
  async authorize(options: AuthorizeOptions): Promise<Authorization> {
    return await this.#connector.authorize(options);
  }

  /**
   * Completes a connection: checks the callback request the provider sent
   * the user back with, exchanges its code (with the PKCE verifier) at the
   * user's data center, and saves the token with the user's name, the
   * redirect URL and its API domain. Before anything is sent it refuses
   * with `OAuthError` `"invalid_state"` a callback whose state is missing,
   * differs from the cookie's, was not made by this client, is older than
   * 10 minutes, or was used before (single use across every process sharing
   * the store); with the provider's `error` (e.g. `"access_denied"`); and
   * with `"invalid_request"` one naming an accounts server that is neither
   * a Zoho data center's nor the token URL's.
   *
   * @example A callback whose state does not match is refused, nothing sent
   * ```ts
   * import { MemoryTokenStore, OAuthError, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals, assertRejects } from "@std/assert";
   *
   * let sent = 0;
   * const fetch = () => (sent++, Promise.resolve(Response.json({})));
   * const client = new TokenClient({
   *   store: new MemoryTokenStore(), clientId: "1000.C", clientSecret: "s",
   *   redirectUrl: "https://app.example.com/callback", fetch,
   * });
   * const { cookie } = await client.authorize({ scope: "ZohoCRM.users.READ" });
   * const request = new Request("https://app.example.com/callback?code=1000.c&state=forged", {
   *   headers: { cookie: cookie.split(";")[0] },
   * });
   * const error = await assertRejects(() => client.handleCallback(request), OAuthError);
   * assertEquals([error.code, sent], ["invalid_state", 0]);
   * ```
   *
   * @param request The callback request, with its `Cookie` header.
   * @returns The stored token, and the `Set-Cookie` value that clears the state cookie.
   * @throws {OAuthError} `invalid_state`, the provider's error, `invalid_request`, or what the token endpoint answered.
   */
  async handleCallback(request: Request): Promise<CallbackResult> {
    return await this.#connector.handleCallback(request);
  }

  /**
   * Refreshes the access token now, whatever its expiry, and persists it.
   * Callers refreshing the same token at once share one refresh.
   *
   * With `rejectedAccessToken` (an API answered 401 for it), the refresh is
   * forced as `client.fetch` forces one: only while the stored token still
   * carries that access token, and at most once per token per
   * `minRefreshIntervalMs` across processes; within that cooldown the call
   * resolves with the token as stored now.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * const expiresAt = Date.now() + 3_600_000;
   * await store.saveToken(new OAuthToken({ userName: "ada", refreshToken: "1000.r", accessToken: "1000.old", expiresAt }));
   * let issued = 0;
   * const fetch = () => Promise.resolve(Response.json({ access_token: `1000.new${++issued}`, expires_in: 3600 }));
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch });
   * assertEquals((await client.refresh({ userName: "ada" })).accessToken, "1000.new1");
   * // an API refused "1000.new1": refreshed once, then the cooldown holds
   * const rejected = { rejectedAccessToken: "1000.new1" };
   * assertEquals((await client.refresh({ userName: "ada" }, rejected)).accessToken, "1000.new2");
   * assertEquals((await client.refresh({ userName: "ada" }, { rejectedAccessToken: "1000.new2" })).accessToken, "1000.new2");
   * ```
   *
   * @param query Which token, by the store's matching rules.
   * @param options `rejectedAccessToken`: the access token an API refused.
   * @returns The refreshed token (or, within the cooldown, the stored one).
   */
  async refresh(
    query: TokenQuery,
    options: RefreshOptions = {},
  ): Promise<OAuthToken> {
    const rejected = rejectedOf(options);
    const { reader, coordinator } = this.#pipeline;
    const stored = await reader.find(reader.lookup(query));
    if (rejected === undefined) {
      return await coordinator.run(stored.id!, {
        accessToken: stored.accessToken,
      });
    }
    if (stored.accessToken !== rejected) return stored;
    const next = await refreshRejected(this.#pipeline.fetch, stored);
    if (next === null) {
      throw new TokenStoreError(
        "INVALID_QUERY",
        `Cannot refresh token "${stored.id}": it was deleted`,
      );
    }
    return next;
  }

  /**
   * Revokes the token's refresh token (or, without one, its access token) at
   * the server, then deletes the token from the store.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * await store.saveToken(new OAuthToken({ userName: "ada", refreshToken: "1000.r" }));
   * const revoked: (string | null)[] = [];
   * const fetch = (_url: RequestInfo | URL, init?: RequestInit) => {
   *   revoked.push(new URLSearchParams(String(init?.body)).get("token"));
   *   return Promise.resolve(Response.json({}));
   * };
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch });
   * await client.revoke({ userName: "ada" });
   * assertEquals(revoked, ["1000.r"]);
   * assertEquals(await store.findToken({ userName: "ada" }), null);
   * ```
   *
   * @param query Which token, by the store's matching rules.
   */
  async revoke(query: TokenQuery): Promise<void> {
    const { reader, work } = this.#pipeline;
    const stored = await reader.find(reader.lookup(query));
    await work.revoke(stored);
    await reader.delete(stored.id!);
  }

  /**
   * `fetch` with `Authorization: <authScheme> <access token>` for the token
   * matching `init.token`. On a 401 answer that says the access token is
   * invalid or expired (or gives no reason) the token is refreshed once
   * (shared with concurrent callers) and the request sent again; a scope
   * error is returned as it is. Such forced refreshes happen at most once per
   * token per `minRefreshIntervalMs` across processes; in between, a token
   * another process refreshed is picked up. A path starting with `/` is
   * resolved against the token's `apiDomain`.
   *
   * The access token goes only to the origin of the token's `apiDomain` or
   * to one in `allowedOrigins`; a token without an `apiDomain` goes to any
   * `https:` origin (or `http:` on a loopback host) unless `allowedOrigins`
   * is set, then only to those. Any other URL is a `TypeError` before the
   * request is sent. Redirects are followed as `fetch` follows them, but the
   * `Authorization` header goes only to those origins: a redirect elsewhere
   * is followed without it.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   * const store = new MemoryTokenStore();
   * const apiDomain = "https://www.zohoapis.com";
   * await store.saveToken(new OAuthToken({ userName: "ada", accessToken: "1000.a", expiresAt: Date.now() + 3_600_000, apiDomain }));
   * // `fetch` stands in for the CRM API: it echoes where the request went and its header
   * const fetch = (request: RequestInfo | URL) =>
   *   Promise.resolve(Response.json([String((request as Request).url), (request as Request).headers.get("authorization")]));
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch });
   * const response = await client.fetch("/crm/v8/Leads", { token: { userName: "ada" } });
   * assertEquals(await response.json(), [`${apiDomain}/crm/v8/Leads`, "Zoho-oauthtoken 1000.a"]);
   * ```
   *
   * @param input The URL or request.
   * @param init Request options and `token`, the query of the token to use.
   * @returns The response.
   * @throws {TypeError} When the token may not be sent to the URL's origin.
   */
  async fetch(
    input: string | URL | Request,
    init: TokenFetchInit,
  ): Promise<Response> {
    const token = await this.getToken(fetchQuery(init));
    return await authorizedFetch(input, init, {
      ...this.#pipeline.fetch,
      token,
    });
  }

  /**
   * Drops token `id` (without an id: every token) from the client's memory:
   * its cached copy, and a save of it still retried in the background. The
   * next lookup reads the store. Call it after deleting or saving tokens
   * through {@linkcode TokenClient.prototype.store} directly.
   *
   * @example Delete a token the client has cached
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient, TokenStoreError } from "@tokenstore/tokenstore";
   * import { assertEquals, assertRejects } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * const { id } = await store.saveToken(new OAuthToken({ userName: "ada", accessToken: "1000.a", expiresAt: Date.now() + 3_600_000 }));
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s" });
   * assertEquals(await client.getAccessToken({ id: id! }), "1000.a"); // cached now
   * assertEquals(await client.store.deleteToken(id!), true);
   * client.forget(id);
   * await assertRejects(() => client.getAccessToken({ id: id! }), TokenStoreError);
   * ```
   *
   * @param id The token to forget; every token when omitted.
   * @throws {TypeError} When `id` is given and not a string.
   */
  forget(id?: string): void {
    if (id !== undefined && typeof id !== "string") {
      throw new TypeError(
        `Cannot forget token: expected its id as a string, got ${typeof id}`,
      );
    }
    this.#pipeline.reader.forget(id);
    this.#pipeline.status?.forget(id);
  }

  /**
   * Resolves once every refresh running ahead of expiry in the background
   * has ended, every save of issued tokens still retried (through a store
   * outage) has landed or given up, and every status record has been
   * written. Call it before closing the store or exiting a script.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * // 30 s to live: served at once and refreshed in the background
   * await store.saveToken(new OAuthToken({ userName: "ada", refreshToken: "1000.r", accessToken: "1000.old", expiresAt: Date.now() + 30_000 }));
   * const fetch = () => Promise.resolve(Response.json({ access_token: "1000.new", expires_in: 3600 }));
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch });
   * assertEquals(await client.getAccessToken({ userName: "ada" }), "1000.old");
   * await client.flush();
   * assertEquals((await store.findToken({ userName: "ada" }))?.accessToken, "1000.new");
   * ```
   */
  async flush(): Promise<void> {
    await this.#pipeline.settled();
  }

  /**
   * The health of the token matching `query` (design "Health"), as the store
   * keeps it for every process: `"ok"`, `"failing"` (with the consecutive
   * `failures` and the `lastError` code) or `"revoked"` (the user must
   * authorise again); `null` when nothing is recorded yet or the store
   * keeps no statuses. Every exchange and refresh of a client records it.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * await store.saveToken(new OAuthToken({ userName: "ada", refreshToken: "1000.r" }));
   * const answer = { access_token: "1000.a", expires_in: 3600, refresh_token_expires_in: 7_776_000 };
   * const fetch = () => Promise.resolve(Response.json(answer));
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch, now: () => 1_800_000_000_000 });
   * await client.refresh({ userName: "ada" });
   * const status = await client.status({ userName: "ada" });
   * assertEquals([status?.state, status?.failures, status?.lastRefreshAt], ["ok", 0, 1_800_000_000_000]);
   * assertEquals(status?.refreshTokenExpiresAt, 1_800_000_000_000 + 7_776_000_000);
   * ```
   *
   * @param query Which token, by the store's matching rules.
   * @returns Its status, or `null`.
   * @throws {TokenStoreError} `INVALID_QUERY` when no token matches.
   */
  async status(query: TokenQuery): Promise<TokenStatus | null> {
    const { reader, status } = this.#pipeline;
    const { id } = await reader.find(reader.lookup(query));
    if (this.store.status === undefined) return null;
    await status?.pending(id!);
    return await this.store.status.get(id!);
  }

  /**
   * The statuses of every stored token that has one (see
   * {@linkcode TokenClient.prototype.status}); `[]` when the store keeps
   * none.
   *
   * @example Find the users who must authorise again
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient, TokenRevokedError } from "@tokenstore/tokenstore";
   * import { assertEquals, assertRejects } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * await store.saveToken(new OAuthToken({ userName: "ada", refreshToken: "1000.r" }));
   * const fetch = () => Promise.resolve(Response.json({ error: "invalid_code" })); // Zoho: the refresh token is dead
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch });
   * await assertRejects(() => client.refresh({ userName: "ada" }), TokenRevokedError);
   * const revoked = (await client.statuses()).filter((s) => s.state === "revoked");
   * assertEquals(revoked.length, 1);
   * ```
   *
   * @returns The statuses.
   */
  async statuses(): Promise<TokenStatus[]> {
    const { status } = this.#pipeline;
    if (this.store.status === undefined) return [];
    await status?.settled();
    const [tokens, statuses] = await Promise.all([
      this.store.getTokens(),
      this.store.status.list(),
    ]);
    const ids = new Set(tokens.map((token) => token.id));
    return statuses.filter((s) => ids.has(s.id));
  }

  /**
   * Refreshes every stored token with a refresh token that was not
   * refreshed for `idleMs` (or has no status), or whose refresh token
   * expires within `refreshTokenMarginMs`, skipping `revoked` ones: it
   * keeps refresh tokens that expire when idle alive, and finds revoked
   * users before they next call (run it daily, e.g. with `Deno.cron`). At
   * most `concurrency` refreshes run at once, under the same leases as any
   * refresh: two runs at once, in any processes, refresh each token once. A
   * refresh's failure is counted, not thrown.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * await store.saveToken(new OAuthToken({ userName: "ada", refreshToken: "1000.r" }));
   * await store.saveToken(new OAuthToken({ userName: "bob", accessToken: "1000.b", expiresAt: Date.now() + 3_600_000 }));
   * const fetch = () => Promise.resolve(Response.json({ access_token: "1000.a", expires_in: 3600 }));
   * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch });
   * // bob has no refresh token: skipped
   * assertEquals(await client.keepAlive(), { checked: 2, refreshed: 1, failed: 0, revoked: 0, skipped: 1 });
   * ```
   *
   * @param options `idleMs` (default one day), `refreshTokenMarginMs` (default seven days), `concurrency` (default 4).
   * @returns How many tokens were checked, refreshed, failed, found revoked and skipped.
   * @throws {TypeError} When an option is invalid.
   */
  async keepAlive(options?: KeepAliveOptions): Promise<KeepAliveReport> {
    return await keepAlive(this.#pipeline.keepAlive, options);
  }
}

/** The access token of a token a lookup resolved with (it always has one). */
function accessTokenOf(token: OAuthToken): string {
  return token.accessToken!;
}

/** Whether `error` says the token being refreshed was deleted meanwhile. */
function isGone(error: unknown): boolean {
  return error instanceof TokenStoreError && error.code === "INVALID_QUERY";
}
