/**
 * The Zoho SDK bridge's store: the six methods of the SDKs' `TokenStore`
 * over a {@linkcode TokenClient}, using only the client's public API.
 * Lookups come from the client (its cache, its single flight and leases, a
 * minimum remaining lifetime so the SDK never refreshes by itself); writes
 * go to `client.store` and are followed by `client.forget`.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import type { OAuthToken } from "../../core/token.ts";
import type { TokenClient } from "../../core/token_client.ts";
import type { TokenQuery } from "../../core/token_store.ts";
import { fieldsOf, queriesOf, toSdkToken, toToken } from "./convert.ts";
import type { ZohoSdk, ZohoSdkOAuthToken } from "./sdk.ts";

/** Access tokens reported invalid and not refreshed yet, at most. */
const MAX_REPORTED = 1_000;

/**
 * A custom `TokenStore` for the official Zoho CRM SDKs, backed by a
 * {@linkcode TokenClient} and its store.
 */
export interface ZohoSdkStore<
  T extends ZohoSdkOAuthToken = ZohoSdkOAuthToken,
> {
  /**
   * The stored token matching `token` (by id, user name, access token, then
   * grant or refresh token, as the SDK's `FileStore` matches), with at least
   * `marginMs` to live. A grant token no stored token holds is exchanged
   * (once across processes); a refresh token the store does not hold is
   * saved and refreshed. `null` when nothing matches and there is nothing to
   * exchange.
   */
  findToken(token: T): Promise<T | null>;
  /**
   * Token `id`, with at least `marginMs` to live.
   *
   * @throws {TokenStoreError} `INVALID_QUERY` when no token has that id.
   */
  findTokenById(id: string): Promise<T>;
  /** Saves what the SDK saves, and sets the stored id on `token`. */
  saveToken(token: T): Promise<void>;
  /** Deletes token `id`; the client forgets it at once. */
  deleteToken(id: string): Promise<void>;
  /** Every stored token, as the SDK's tokens (none refreshed). */
  getTokens(): Promise<T[]>;
  /** Deletes every token; the client forgets them at once. */
  deleteTokens(): Promise<void>;
  /**
   * Reports that an API answered 401 `INVALID_TOKEN` for `accessToken`: the
   * next lookup of its token refreshes it, at most once per token per the
   * client's `minRefreshIntervalMs` across processes.
   */
  reportInvalid(accessToken: string): void;
}

/** The bridge's logic, shared by the store classes. */
export class ZohoSdkBridge<T extends ZohoSdkOAuthToken> {
  #client: TokenClient;
  #sdk: ZohoSdk<T>;
  #marginMs: number;
  /** Access tokens reported invalid, and the refresh of each once started. */
  #reported = new Map<string, Promise<OAuthToken> | undefined>();

  constructor(client: TokenClient, sdk: ZohoSdk<T>, marginMs: number) {
    this.#client = client;
    this.#sdk = sdk;
    this.#marginMs = marginMs;
  }

  async findToken(asked: T): Promise<T | null> {
    checkToken(asked, this.#sdk);
    for (const query of queriesOf(asked)) {
      const token = await this.#fresh(query);
      if (token !== null) return this.#handOver(token, asked);
    }
    const fields = fieldsOf(asked);
    if (fields.grantToken !== undefined) {
      const token = await this.#client.exchangeGrantToken(fields.grantToken, {
        userName: fields.userName,
        redirectUrl: fields.redirectUrl,
      });
      return this.#handOver(token, asked);
    }
    if (fields.refreshToken === undefined) return null;
    // a refresh token the store does not hold yet: kept, then refreshed
    // under the client's lease like any stored token
    const saved = await this.#client.store.saveToken(
      toToken(asked).with({ id: undefined }),
    );
    this.#client.forget(saved.id);
    const token = await this.#fresh({ id: saved.id! });
    return token === null ? null : this.#handOver(token, asked);
  }

  async findTokenById(id: string): Promise<T> {
    checkId(id);
    const token = await this.#client.getToken({ id }, {
      minLifetimeMs: this.#marginMs,
    });
    return toSdkToken(this.#sdk, await this.#unreported(token));
  }

  async saveToken(sdkToken: T): Promise<void> {
    checkToken(sdkToken, this.#sdk);
    const saved = await this.#client.store.saveToken(toToken(sdkToken));
    this.#client.forget(saved.id);
    sdkToken.setId(saved.id ?? null);
  }

  async deleteToken(id: string): Promise<void> {
    checkId(id);
    await this.#client.store.deleteToken(id);
    this.#client.forget(id);
  }

  async getTokens(): Promise<T[]> {
    const tokens = await this.#client.store.getTokens();
    return tokens.map((token) => toSdkToken(this.#sdk, token));
  }

  async deleteTokens(): Promise<void> {
    await this.#client.store.deleteTokens();
    this.#client.forget();
  }

  reportInvalid(accessToken: string): void {
    if (typeof accessToken !== "string" || accessToken === "") {
      throw new TypeError(
        "Cannot report an invalid access token: expected a non-empty string",
      );
    }
    if (this.#reported.has(accessToken)) return;
    this.#reported.set(accessToken, undefined);
    if (this.#reported.size > MAX_REPORTED) {
      this.#reported.delete(this.#reported.keys().next().value!);
    }
  }

  /** The SDK token handed to the SDK; `asked` learns the stored id, as with the SDK's `FileStore`. */
  #handOver(token: OAuthToken, asked: T): T {
    if (asked.getId() === null || asked.getId() === undefined) {
      asked.setId(token.id ?? null);
    }
    return toSdkToken(this.#sdk, token, asked);
  }

  /** The token `query` finds, with at least the margin to live; `null` when none is stored. */
  async #fresh(query: TokenQuery): Promise<OAuthToken | null> {
    let token: OAuthToken;
    try {
      token = await this.#client.getToken(query, {
        minLifetimeMs: this.#marginMs,
      });
    } catch (error) {
      const missing = error instanceof TokenStoreError &&
        error.code === "INVALID_QUERY" &&
        await this.#client.store.findToken(query) === null;
      if (missing) return null;
      throw error;
    }
    return await this.#unreported(token);
  }

  /**
   * `token`, refreshed first when its access token was reported invalid
   * (concurrent lookups share that refresh).
   */
  async #unreported(token: OAuthToken): Promise<OAuthToken> {
    const accessToken = token.accessToken;
    if (accessToken === undefined || !this.#reported.has(accessToken)) {
      return token;
    }
    let refresh = this.#reported.get(accessToken);
    if (refresh === undefined) {
      refresh = this.#client.refresh({ id: token.id! }, {
        rejectedAccessToken: accessToken,
      }).finally(() => this.#reported.delete(accessToken));
      this.#reported.set(accessToken, refresh);
    }
    return await refresh;
  }
}

/**
 * A store class for the SDK whose `TokenStore` is `base` (the Node.js SDK
 * checks `instanceof` it; `Object` otherwise), delegating to a bridge.
 */
export function storeClass(
  base: abstract new () => object,
): new <T extends ZohoSdkOAuthToken>(
  bridge: ZohoSdkBridge<T>,
) => ZohoSdkStore<T> {
  let made = STORE_CLASSES.get(base);
  if (made === undefined) {
    // deno-lint-ignore no-explicit-any
    const Base = base as unknown as new () => any;
    class BridgeStore extends Base {
      // deno-lint-ignore no-explicit-any
      #bridge: ZohoSdkBridge<any>;
      // deno-lint-ignore no-explicit-any
      constructor(bridge: ZohoSdkBridge<any>) {
        super();
        this.#bridge = bridge;
      }
      findToken(token: ZohoSdkOAuthToken) {
        return this.#bridge.findToken(token);
      }
      findTokenById(id: string) {
        return this.#bridge.findTokenById(id);
      }
      saveToken(token: ZohoSdkOAuthToken) {
        return this.#bridge.saveToken(token);
      }
      deleteToken(id: string) {
        return this.#bridge.deleteToken(id);
      }
      getTokens() {
        return this.#bridge.getTokens();
      }
      deleteTokens() {
        return this.#bridge.deleteTokens();
      }
      reportInvalid(accessToken: string) {
        this.#bridge.reportInvalid(accessToken);
      }
    }
    made = BridgeStore;
    STORE_CLASSES.set(base, made);
  }
  return made as unknown as new <T extends ZohoSdkOAuthToken>(
    bridge: ZohoSdkBridge<T>,
  ) => ZohoSdkStore<T>;
}

const STORE_CLASSES = new WeakMap<abstract new () => object, unknown>();

function checkId(id: string): void {
  if (typeof id !== "string" || id === "") {
    throw new TokenStoreError(
      "INVALID_QUERY",
      `Cannot find token: expected an id as a non-empty string, got ${
        id === "" ? '""' : typeof id
      }`,
    );
  }
}

function checkToken(token: unknown, sdk: ZohoSdk): void {
  if (!(token instanceof sdk.OAuthToken)) {
    throw new TypeError(
      "Cannot use token: expected an instance of the SDK's OAuthToken",
    );
  }
}
