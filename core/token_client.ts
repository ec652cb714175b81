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
import {
  describeQuery,
  resolveClientOptions,
  type RetryOptions,
  type TokenClientOptions,
} from "./_client/options.ts";
import {
  emit,
  type TokenClientEventMap,
  type TokenClientEventType,
} from "./_client/events.ts";
import { isTransient, Persister } from "./_client/persist.ts";
import { type NeedsWork, RefreshCoordinator } from "./_client/coordinator.ts";
import { RefreshWork } from "./_client/work.ts";
import { RotationState } from "./_client/rotation.ts";
import { SkewTracker } from "./_client/skew.ts";
import {
  planKey,
  TokenCache,
  type TokenCacheOptions,
} from "./_client/cache.ts";
import { type EndpointConfig, requestRevoke } from "./_client/endpoint.ts";
import type { DataCenter } from "./data_centers.ts";
import { OAuthError, TokenStoreError } from "./errors.ts";
import { OAuthToken, type OAuthTokenInit } from "./token.ts";
import { Wakeup } from "./_client/wakeup.ts";
import {
  type Lease,
  planQuery,
  type TokenLock,
  type TokenQuery,
  type TokenStore,
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
 * Exchanges, refreshes, persists and revokes OAuth tokens kept in a
 * {@linkcode TokenStore}, with exactly one refresh per expiry.
 *
 * It is an `EventTarget`: `"refresh"`, `"refresherror"`, `"revoked"`,
 * `"persistfailed"` and `"ratelimited"` are `CustomEvent`s whose `detail`
 * ({@linkcode TokenClientEventMap}) holds no secret.
 *
 * @example Get an access token that is always valid
 * ```ts ignore
 * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
 *
 * const store = new MemoryTokenStore();
 * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", dataCenter: "EU" });
 * client.addEventListener("revoked", (event) => {
 *   console.log("authorise again:", (event as CustomEvent).detail.id);
 * });
 * const accessToken = await client.getAccessToken({ userName: "ada@example.com" });
 * ```
 */
export class TokenClient extends EventTarget {
  /** The token endpoint requests go to. */
  readonly tokenUrl: string;
  /** The revocation endpoint. */
  readonly revokeUrl: string;
  #store: TokenStore;
  #clientId: string;
  #clientSecret: string;
  #redirectUrl?: string;
  #now: () => number;
  #fetch: typeof fetch;
  #authScheme: string;
  #endpoint: EndpointConfig;
  #coordinator: RefreshCoordinator;
  #persister: Persister;
  #skew: SkewTracker;
  #refresher: RefreshWork;
  #minRefreshIntervalMs: number;
  #forcedAt = new Map<string, number>();
  #cache: TokenCache;
  /** Refreshes ahead of expiry running in the background. */
  #ahead = new Set<Promise<unknown>>();

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
    this.#store = resolved.store;
    this.#clientId = resolved.clientId;
    this.#clientSecret = resolved.clientSecret;
    this.#redirectUrl = resolved.redirectUrl;
    this.#now = resolved.endpoint.now;
    this.#fetch = resolved.endpoint.fetch;
    this.#authScheme = resolved.authScheme;
    this.#endpoint = resolved.endpoint;
    this.#minRefreshIntervalMs = resolved.minRefreshIntervalMs;
    // what a holder's lease must outlast a request by
    const marginMs = Math.min(resolved.leaseTtlMs, 5_000);
    this.#skew = new SkewTracker(resolved.skewMs, this.#now);
    this.#cache = new TokenCache(resolved.cache);
    const wakeup = new Wakeup(
      resolved.store,
      resolved.customSleep ? resolved.endpoint.sleep : undefined,
    );
    const rotation = new RotationState(
      resolved.rotation,
      resolved.knownRotates,
      resolved.store.lock,
    );
    this.#persister = new Persister({
      store: resolved.store,
      persistTimeoutMs: resolved.persistTimeoutMs,
      baseDelayMs: resolved.endpoint.baseDelayMs,
      maxDelayMs: resolved.endpoint.maxDelayMs,
      sleep: resolved.endpoint.sleep,
      onFailed: (id, error) => emit(this, "persistfailed", { id, error }),
    });
    this.#refresher = new RefreshWork({
      endpoint: resolved.endpoint,
      tokenUrl: resolved.tokenUrl,
      clientId: resolved.clientId,
      clientSecret: resolved.clientSecret,
      redirectUrl: resolved.redirectUrl,
      now: this.#now,
      marginMs,
      rotation,
      skew: this.#skew,
      persister: this.#persister,
      cache: this.#cache,
      events: this,
      readById: (id) => this.#readById(id),
    });
    this.#coordinator = new RefreshCoordinator({
      store: resolved.store,
      leaseTtlMs: resolved.leaseTtlMs,
      holdMs: resolved.endpoint.timeoutMs + marginMs,
      pollIntervalMs: resolved.pollIntervalMs,
      wait: (id, ms) => wakeup.wait(id, ms),
      notify: (id) => wakeup.notify(id),
      read: (id) => this.#readById(id),
    });
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
   * The token matching `query`, with a valid access token: a grant-only
   * token is exchanged and an expired one refreshed before it resolves; one
   * within `refreshSkewMs` of expiry (at most half its lifetime) is served
   * at once and refreshed in the background. A fresh token comes from the
   * cache without touching the store.
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
    if (!this.#expiring(stored)) return stored;
    const id = stored.id!;
    const still = stored.accessToken !== undefined &&
      !stored.isExpired({ now: this.#now() });
    if (!still) {
      return await this.#coordinator.run(
        id,
        this.#expiring,
        this.#refresher.work,
      );
    }
    // Still valid: served now, refreshed in the background (one flight).
    if (!this.#coordinator.inFlight(id)) {
      const ahead = this.#coordinator.run(
        id,
        this.#expiring,
        this.#refresher.work,
      )
        .catch(() => {}) // reported as a "refresherror" event
        .finally(() => this.#ahead.delete(ahead));
      this.#ahead.add(ahead);
    }
    return stored;
  }

  /**
   * Exchanges a grant token (authorization code) and persists the result.
   * A code is single-use: a request with an unknown outcome is not resent.
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
    return (await this.#refresher.exchange(token, undefined)).token;
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
   * @returns The refreshed token.
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
      const { clientId, clientSecret } = this.#refresher.credentials(stored);
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
    this.#persister.drop(stored.id!);
    this.#cache.delete(stored.id!);
    await this.#store.deleteToken(stored.id!);
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
      mayForceRefresh: (token) => this.#mayForceRefresh(token.id!),
      reread: (token) => this.#readById(token.id!),
    });
  }

  /**
   * Resolves once every refresh running ahead of expiry in the background
   * has ended and every save of issued tokens still retried (through a
   * store outage) has landed or given up. Call it before closing the store
   * or exiting a script.
   *
   * @example Usage
   * ```ts ignore
   * await client.getAccessToken({ userName: "ada@example.com" });
   * await client.flush();
   * await store.close?.();
   * ```
   */
  async flush(): Promise<void> {
    while (this.#ahead.size > 0) await Promise.all([...this.#ahead]);
    await this.#persister.settled();
  }

  #expiring: NeedsWork = (token) => this.#skew.isExpiring(token);

  async #find(query: TokenQuery): Promise<OAuthToken> {
    const plan = planQuery(query);
    const key = planKey(plan);
    const cached = this.#cache.get(key, plan);
    if (cached !== undefined) {
      if (!this.#expiring(cached)) return cached;
      // being refreshed ahead of expiry here: no need to ask the store
      const valid = cached.accessToken !== undefined &&
        !cached.isExpired({ now: this.#now() });
      if (valid && this.#coordinator.inFlight(cached.id!)) return cached;
    }
    let stored: OAuthToken | null;
    try {
      stored = await this.#cache.read(key, () => this.#store.findToken(query));
    } catch (error) {
      const pending = this.#persister.matching(plan);
      if (pending !== undefined && isTransient(error)) return pending;
      throw error;
    }
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
    const token = this.#persister.pendingFor(stored.id, stored) ?? stored;
    this.#cache.put(token, key);
    return token;
  }

  /** Token `id` as stored, or the one issued for it and not saved yet. */
  async #readById(id: string): Promise<OAuthToken | null> {
    let stored: OAuthToken | null;
    try {
      stored = await this.#store.findTokenById(id);
    } catch (error) {
      const pending = this.#persister.pendingFor(id, undefined);
      if (pending !== undefined && isTransient(error)) return pending;
      throw error;
    }
    if (stored === null) {
      this.#cache.delete(id);
      return this.#persister.pendingFor(id, stored) ?? null;
    }
    const token = this.#persister.pendingFor(id, stored) ?? stored;
    this.#cache.put(token);
    return token;
  }

  /** Refreshes token `id` unless its access token is no longer `seen`. */
  #refreshUnless(id: string, seen: string | undefined): Promise<OAuthToken> {
    const needsWork: NeedsWork = (token) => token.accessToken === seen;
    return this.#coordinator.run(id, needsWork, this.#refresher.work);
  }

  /**
   * Whether a 401 may force a refresh of token `id` now: once per
   * `minRefreshIntervalMs`, through a lease that is never released (so it
   * holds across processes), or in this process for stores without a lock.
   */
  async #mayForceRefresh(id: string): Promise<boolean> {
    const intervalMs = this.#minRefreshIntervalMs;
    if (intervalMs === 0) return true;
    const lock = this.#store.lock;
    if (lock !== undefined) {
      return await lock.acquire(`forced:${id}`, { ttlMs: intervalMs }) !==
        null;
    }
    const now = this.#now();
    const last = this.#forcedAt.get(id);
    if (last !== undefined && now - last < intervalMs) return false;
    this.#forcedAt.set(id, now);
    return true;
  }
}
