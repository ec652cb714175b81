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
  authorizedFetch,
  type TokenFetchInit,
} from "./_client/authorized_fetch.ts";
import { TokenCache, type TokenCacheOptions } from "./_client/cache.ts";
import { RefreshCooldown } from "./_client/cooldown.ts";
import { RefreshCoordinator } from "./_client/coordinator.ts";
import {
  EventsObserver,
  type TokenClientEventMap,
  type TokenClientEventType,
} from "./_client/events.ts";
import { Observers } from "./_client/observer.ts";
import {
  resolveClientOptions,
  type RetryOptions,
  type TokenClientOptions,
} from "./_client/options.ts";
import { Persister } from "./_client/persist.ts";
import { TokenReader } from "./_client/reader.ts";
import { RotationState } from "./_client/rotation.ts";
import { EndpointRouter } from "./_client/routing.ts";
import { SkewTracker } from "./_client/skew.ts";
import { Wakeup } from "./_client/wakeup.ts";
import { RefreshWork } from "./_client/work.ts";
import type { DataCenter } from "./data_centers.ts";
import { OAuthToken, type OAuthTokenInit } from "./token.ts";
import type {
  Lease,
  TokenLock,
  TokenQuery,
  TokenStore,
} from "./token_store.ts";

export type {
  DataCenter,
  Lease,
  OAuthToken,
  OAuthTokenInit,
  RetryOptions,
  TokenCacheOptions,
  TokenClientEventMap,
  TokenClientEventType,
  TokenClientOptions,
  TokenFetchInit,
  TokenLock,
  TokenQuery,
  TokenStore,
};

/**
 * A listener of the {@linkcode TokenClient} event `K`: a function or an
 * object with `handleEvent`, given a `CustomEvent` whose `detail` is typed.
 *
 * @example Usage
 * ```ts
 * import type { TokenClientListener } from "@tokenstore/tokenstore";
 * import { assertEquals } from "@std/assert";
 *
 * const ids: string[] = [];
 * const listener: TokenClientListener<"revoked"> = (event) => ids.push(event.detail.id);
 * if (typeof listener === "function") {
 *   listener(new CustomEvent("revoked", { detail: { id: "a1" } }));
 * }
 * assertEquals(ids, ["a1"]);
 * ```
 */
export type TokenClientListener<K extends TokenClientEventType> =
  | ((event: CustomEvent<TokenClientEventMap[K]>) => void)
  | { handleEvent(event: CustomEvent<TokenClientEventMap[K]>): void };

/**
 * Exchanges, refreshes, persists and revokes OAuth tokens kept in a
 * {@linkcode TokenStore}, with exactly one refresh per expiry.
 *
 * It is an `EventTarget`: `"refresh"`, `"refresherror"`, `"revoked"`,
 * `"persistfailed"` and `"ratelimited"` are `CustomEvent`s whose `detail`
 * ({@linkcode TokenClientEventMap}) holds no secret.
 *
 * @example Get an access token that is always valid
 * ```ts
 * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
 * import { assertEquals } from "@std/assert";
 *
 * const store = new MemoryTokenStore();
 * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * const client = new TokenClient({
 *   store,
 *   clientId: "1000.C",
 *   clientSecret: "s",
 *   dataCenter: "EU",
 *   // a stand-in for accounts.zoho.eu: each refresh issues an access token
 *   fetch: () => Promise.resolve(Response.json({ access_token: "1000.a", expires_in: 3600 })),
 * });
 * const refreshed: string[] = [];
 * client.addEventListener("refresh", (event) => refreshed.push(event.detail.id!));
 *
 * assertEquals(await client.getAccessToken({ userName: "ada@example.com" }), "1000.a");
 * assertEquals(await client.getAccessToken({ userName: "ada@example.com" }), "1000.a");
 * assertEquals(refreshed.length, 1); // the second call is served from the cache
 * ```
 */
export class TokenClient extends EventTarget {
  /** The token endpoint requests go to. */
  readonly tokenUrl: string;
  /** The revocation endpoint. */
  readonly revokeUrl: string;
  #clientId: string;
  #clientSecret: string;
  #redirectUrl?: string;
  #fetch: typeof fetch;
  #authScheme: string;
  #reader: TokenReader;
  #coordinator: RefreshCoordinator;
  #work: RefreshWork;
  #cooldown: RefreshCooldown;

  /**
   * Creates a client.
   *
   * @param options The store, client credentials, endpoint and tuning.
   * @throws {TypeError} When an option is invalid.
   */
  constructor(options: TokenClientOptions) {
    super();
    const resolved = resolveClientOptions(options);
    const { store, endpoint, leaseTtlMs } = resolved;
    this.tokenUrl = resolved.tokenUrl;
    this.revokeUrl = resolved.revokeUrl;
    this.#clientId = resolved.clientId;
    this.#clientSecret = resolved.clientSecret;
    this.#redirectUrl = resolved.redirectUrl;
    this.#fetch = endpoint.fetch;
    this.#authScheme = resolved.authScheme;
    const observer = new Observers([new EventsObserver(this)]);
    const persister = new Persister({
      store,
      persistTimeoutMs: resolved.persistTimeoutMs,
      baseDelayMs: endpoint.baseDelayMs,
      maxDelayMs: endpoint.maxDelayMs,
      sleep: endpoint.sleep,
      observer,
    });
    this.#reader = new TokenReader({
      store,
      cache: new TokenCache(resolved.cache),
      skew: new SkewTracker(resolved.skewMs, endpoint.now),
      persister,
      now: endpoint.now,
    });
    // what a holder's lease must outlast a request by
    const marginMs = Math.min(leaseTtlMs, 5_000);
    this.#work = new RefreshWork({
      endpoint,
      router: new EndpointRouter(resolved),
      clientId: resolved.clientId,
      clientSecret: resolved.clientSecret,
      redirectUrl: resolved.redirectUrl,
      now: endpoint.now,
      marginMs,
      rotation: new RotationState(
        resolved.rotation,
        resolved.knownRotates,
        store.lock,
      ),
      persister,
      reader: this.#reader,
      observer,
    });
    this.#coordinator = new RefreshCoordinator({
      lock: store.lock,
      leaseTtlMs,
      holdMs: endpoint.timeoutMs + marginMs,
      pollIntervalMs: resolved.pollIntervalMs,
      wakeup: new Wakeup(
        store,
        resolved.customSleep ? endpoint.sleep : undefined,
      ),
      reader: this.#reader,
      work: this.#work,
      observer,
    });
    this.#cooldown = new RefreshCooldown({
      lock: store.lock,
      intervalMs: resolved.minRefreshIntervalMs,
      now: endpoint.now,
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
   * const client = new TokenClient({
   *   store,
   *   clientId: "1000.C",
   *   clientSecret: "s",
   *   fetch: () => Promise.resolve(Response.json({ access_token: "1000.a", refresh_token: "1000.r", expires_in: 3600 })),
   * });
   * // the stored grant token is exchanged on first use
   * assertEquals(await client.getAccessToken({ userName: "ada@example.com" }), "1000.a");
   * assertEquals((await store.findToken({ userName: "ada@example.com" }))?.refreshToken, "1000.r");
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
   * The token matching `query`, with a valid access token: a grant-only
   * token is exchanged and an expired one refreshed before it resolves; one
   * within `refreshSkewMs` of expiry (at most half its lifetime) is served
   * at once and refreshed in the background. A fresh token comes from the
   * cache without touching the store.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * const expiresAt = Date.now() + 3_600_000;
   * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r", accessToken: "1000.a", expiresAt }));
   * const client = new TokenClient({
   *   store,
   *   clientId: "1000.C",
   *   clientSecret: "s",
   *   fetch: () => Promise.reject(new Error("not called: the token is fresh")),
   * });
   * const token = await client.getToken({ userName: "ada@example.com" });
   * assertEquals(token.expiresAt, expiresAt);
   * ```
   *
   * @param query Which token, by the store's matching rules.
   * @returns The fresh stored token.
   * @throws {TokenStoreError} `INVALID_QUERY` when no token matches, `INVALID_TOKEN` when it cannot be refreshed.
   * @throws {OAuthError} When the token endpoint refuses.
   */
  async getToken(query: TokenQuery): Promise<OAuthToken> {
    const reader = this.#reader;
    const lookup = reader.lookup(query);
    let token = lookup.cached;
    if (token === undefined || !this.#servable(token)) {
      token = await reader.find(lookup);
    }
    if (!reader.isExpiring(token)) return token;
    if (!reader.isValid(token)) {
      return await this.#coordinator.run(token.id!, "expiring");
    }
    // Still valid: served now, refreshed in the background (one flight).
    this.#coordinator.ahead(token.id!);
    return token;
  }

  /**
   * Exchanges a grant token (authorization code) and persists the result.
   * A code is single-use: a request with an unknown outcome is not resent.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const client = new TokenClient({
   *   store: new MemoryTokenStore(),
   *   clientId: "1000.C",
   *   clientSecret: "s",
   *   fetch: () => Promise.resolve(Response.json({ access_token: "1000.a", refresh_token: "1000.r", expires_in: 3600 })),
   * });
   * const token = await client.exchangeGrantToken("1000.grant", { userName: "ada@example.com" });
   * assertEquals(token.refreshToken, "1000.r");
   * assertEquals(token.userName, "ada@example.com");
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
    return (await this.#work.exchange(token)).token;
  }

  /**
   * Refreshes the access token now, whatever its expiry, and persists it.
   * Callers refreshing the same token at once share one refresh.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r", accessToken: "1000.old", expiresAt: Date.now() + 3_600_000 }));
   * const client = new TokenClient({
   *   store,
   *   clientId: "1000.C",
   *   clientSecret: "s",
   *   fetch: () => Promise.resolve(Response.json({ access_token: "1000.new", expires_in: 3600 })),
   * });
   * const token = await client.refresh({ userName: "ada@example.com" });
   * assertEquals(token.accessToken, "1000.new");
   * ```
   *
   * @param query Which token, by the store's matching rules.
   * @returns The refreshed token.
   */
  async refresh(query: TokenQuery): Promise<OAuthToken> {
    const reader = this.#reader;
    const stored = await reader.find(reader.lookup(query));
    return await this.#coordinator.run(stored.id!, {
      accessToken: stored.accessToken,
    });
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
   * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
   * const revoked: string[] = [];
   * const client = new TokenClient({
   *   store,
   *   clientId: "1000.C",
   *   clientSecret: "s",
   *   fetch: async (_url, init) => {
   *     revoked.push(new URLSearchParams(String(init?.body)).get("token")!);
   *     return Response.json({});
   *   },
   * });
   * await client.revoke({ userName: "ada@example.com" });
   * assertEquals(revoked, ["1000.r"]);
   * assertEquals(await store.findToken({ userName: "ada@example.com" }), null);
   * ```
   *
   * @param query Which token, by the store's matching rules.
   */
  async revoke(query: TokenQuery): Promise<void> {
    const reader = this.#reader;
    const stored = await reader.find(reader.lookup(query));
    await this.#work.revoke(stored);
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
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * await store.saveToken(new OAuthToken({
   *   userName: "ada@example.com",
   *   accessToken: "1000.a",
   *   expiresAt: Date.now() + 3_600_000,
   *   apiDomain: "https://www.zohoapis.com",
   * }));
   * const client = new TokenClient({
   *   store,
   *   clientId: "1000.C",
   *   clientSecret: "s",
   *   // a stand-in for the CRM API: echoes where the request went and its header
   *   fetch: (input) => {
   *     const request = input as Request;
   *     return Promise.resolve(Response.json({ url: request.url, authorization: request.headers.get("authorization") }));
   *   },
   * });
   * const response = await client.fetch("/crm/v8/Leads", { token: { userName: "ada@example.com" } });
   * assertEquals(await response.json(), {
   *   url: "https://www.zohoapis.com/crm/v8/Leads",
   *   authorization: "Zoho-oauthtoken 1000.a",
   * });
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
      client: this,
      coordinator: this.#coordinator,
      cooldown: this.#cooldown,
      reader: this.#reader,
    });
  }

  /**
   * Resolves once every refresh running ahead of expiry in the background
   * has ended and every save of issued tokens still retried (through a
   * store outage) has landed or given up. Call it before closing the store
   * or exiting a script.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryTokenStore();
   * // 30 s left: served at once and refreshed in the background
   * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r", accessToken: "1000.old", expiresAt: Date.now() + 30_000 }));
   * const client = new TokenClient({
   *   store,
   *   clientId: "1000.C",
   *   clientSecret: "s",
   *   fetch: () => Promise.resolve(Response.json({ access_token: "1000.new", expires_in: 3600 })),
   * });
   * assertEquals(await client.getAccessToken({ userName: "ada@example.com" }), "1000.old");
   * await client.flush();
   * assertEquals((await store.findToken({ userName: "ada@example.com" }))?.accessToken, "1000.new");
   * ```
   */
  async flush(): Promise<void> {
    await this.#coordinator.settled();
  }

  /**
   * Adds a listener of event `type`, typed by {@linkcode TokenClientEventMap}:
   * `event.detail` needs no cast.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const client = new TokenClient({ store: new MemoryTokenStore(), clientId: "1000.C", clientSecret: "s" });
   * let seen: string | undefined;
   * client.addEventListener("revoked", (event) => seen = event.detail.id);
   * client.dispatchEvent(new CustomEvent("revoked", { detail: { id: "a1" } }));
   * assertEquals(seen, "a1");
   * ```
   *
   * @param type The event type.
   * @param listener Called with the `CustomEvent`.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener<K extends TokenClientEventType>(
    type: K,
    listener: TokenClientListener<K> | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Adds a listener of any other event type.
   *
   * @param type The event type.
   * @param listener Called with the event.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes a listener added with {@linkcode TokenClient.addEventListener}.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, TokenClient, type TokenClientListener } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const client = new TokenClient({ store: new MemoryTokenStore(), clientId: "1000.C", clientSecret: "s" });
   * let calls = 0;
   * const listener: TokenClientListener<"refresh"> = () => calls++;
   * client.addEventListener("refresh", listener);
   * client.removeEventListener("refresh", listener);
   * client.dispatchEvent(new CustomEvent("refresh", { detail: { rotated: false, durationMs: 1 } }));
   * assertEquals(calls, 0);
   * ```
   *
   * @param type The event type.
   * @param listener The listener added.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener<K extends TokenClientEventType>(
    type: K,
    listener: TokenClientListener<K> | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes a listener of any other event type.
   *
   * @param type The event type.
   * @param listener The listener added.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }

  /** Whether a cached token may be served without asking the store. */
  #servable(token: OAuthToken): boolean {
    if (!this.#reader.isExpiring(token)) return true;
    // being refreshed ahead of expiry here: no need to ask the store
    return this.#reader.isValid(token) &&
      this.#coordinator.inFlight(token.id!);
  }
}
