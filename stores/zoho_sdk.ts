/**
 * Any tokenstore store as the custom `TokenStore` of the official Zoho CRM
 * SDKs (`@zohocrm/typescript-sdk-8.0`, `@zohocrm/nodejs-sdk-8.0`), with
 * refreshes through a {@linkcode TokenClient}: exactly one per expiry across
 * every process and every SDK call.
 *
 * The SDKs read their store before every API call and refresh by themselves
 * when the access token has less than 5 s to live — with no lock, not even
 * single flight in one process, and never after a 401 — so a fleet of SDK
 * processes soon spends Zoho's 10 access tokens per refresh token per 10
 * minutes. The bridge hands the SDK tokens with at least `marginMs` to live,
 * refreshed by the client under its leases, served from the client's cache
 * (an SDK call costs no store round trip); a grant token the store has never
 * seen is exchanged once however many processes start with it.
 *
 * The package never imports an SDK: pass its classes. With the TypeScript
 * SDK, the module itself; with the Node.js SDK, `{ OAuthToken, UserSignature,
 * TokenStore }` (or its module): the store then extends its `TokenStore`
 * class, as that SDK requires.
 *
 * @example The TypeScript SDK on a Deno KV store
 * ```ts ignore
 * import * as ZOHOCRMSDK from "npm:@zohocrm/typescript-sdk-8.0";
 * import { TokenClient } from "@tokenstore/tokenstore";
 * import { KvTokenStore } from "@tokenstore/tokenstore/kv";
 * import { createZohoSdkStore } from "@tokenstore/tokenstore/zoho-sdk";
 *
 * const client = new TokenClient({
 *   store: await KvTokenStore.open({ path: "tokens.kv" }),
 *   clientId: Deno.env.get("ZOHO_CLIENT_ID")!,
 *   clientSecret: Deno.env.get("ZOHO_CLIENT_SECRET")!,
 * });
 * const token = new ZOHOCRMSDK.OAuthBuilder()
 *   .clientId(Deno.env.get("ZOHO_CLIENT_ID")!)
 *   .clientSecret(Deno.env.get("ZOHO_CLIENT_SECRET")!)
 *   .grantToken(Deno.env.get("ZOHO_GRANT_TOKEN")!)
 *   .userSignature(new ZOHOCRMSDK.UserSignature("ada@example.com"))
 *   .build();
 * await (await new ZOHOCRMSDK.InitializeBuilder())
 *   .environment(ZOHOCRMSDK.USDataCenter.PRODUCTION())
 *   .token(token)
 *   .store(createZohoSdkStore({ client, sdk: ZOHOCRMSDK }))
 *   .initialize();
 * ```
 *
 * @module
 */

import { TokenClient } from "../core/token_client.ts";
import {
  storeClass,
  ZohoSdkBridge,
  type ZohoSdkStore,
} from "./_zoho_sdk/bridge.ts";
import {
  checkSdk,
  type ZohoSdk,
  type ZohoSdkOAuthToken,
  type ZohoSdkUserSignature,
} from "./_zoho_sdk/sdk.ts";

export type { ZohoSdk, ZohoSdkOAuthToken, ZohoSdkStore, ZohoSdkUserSignature };

/** Options of {@linkcode createZohoSdkStore}. */
export interface ZohoSdkStoreOptions<T extends ZohoSdkOAuthToken> {
  /** The client that refreshes and exchanges; its store keeps the tokens. */
  client: TokenClient;
  /**
   * The SDK's classes: the TypeScript SDK module, or the Node.js SDK's
   * `{ OAuthToken, UserSignature, TokenStore }`.
   */
  sdk: ZohoSdk<T>;
  /**
   * The least time an access token handed to the SDK still has to live, in
   * ms (at most half its lifetime). Default 60 000. The SDK refreshes by
   * itself below 5 000, so keep it above that.
   */
  marginMs?: number;
}

/**
 * Makes the custom `TokenStore` to give the SDK's `InitializeBuilder`:
 * `client`'s store, with refreshes and grant exchanges through `client`.
 *
 * @example The SDK asks for a user's token: refreshed once, then served from the cache
 * ```ts
 * import * as ZOHOCRMSDK from "@zohocrm/typescript-sdk-8.0";
 * import { assertEquals, assertInstanceOf } from "@std/assert";
 * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore";
 * import { createZohoSdkStore } from "@tokenstore/tokenstore/zoho-sdk";
 *
 * const store = new MemoryTokenStore();
 * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * let sent = 0; // `fetch` stands in for accounts.zoho.com
 * const fetch = () => (sent++, Promise.resolve(Response.json({ access_token: "1000.a", expires_in: 3600 })));
 * const client = new TokenClient({ store, clientId: "1000.C", clientSecret: "s", fetch });
 * const sdkStore = createZohoSdkStore({ client, sdk: ZOHOCRMSDK });
 *
 * const ada = new ZOHOCRMSDK.UserSignature("ada@example.com");
 * const ask = () => new ZOHOCRMSDK.OAuthToken(null, null, null, null, null, null, null, ada);
 * const [first, second] = await Promise.all([sdkStore.findToken(ask()), sdkStore.findToken(ask())]);
 * assertInstanceOf(first, ZOHOCRMSDK.OAuthToken);
 * assertEquals([first?.getAccessToken(), second?.getAccessToken(), sent], ["1000.a", "1000.a", 1]);
 * assertEquals(Number(first?.getExpiresIn()) > Date.now() + 60_000, true); // the SDK will not refresh it
 * ```
 *
 * @param options The client, the SDK's classes and the margin.
 * @returns The store, an instance of the SDK's `TokenStore` class when it has one.
 * @throws {TypeError} When `client` is not a `TokenClient`, `sdk` lacks a class or method (named), or `marginMs` is invalid.
 */
export function createZohoSdkStore<T extends ZohoSdkOAuthToken>(
  options: ZohoSdkStoreOptions<T>,
): ZohoSdkStore<T> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      "Invalid Zoho SDK bridge options: expected { client, sdk, marginMs? }",
    );
  }
  const { client, sdk, marginMs = 60_000 } = options;
  if (!(client instanceof TokenClient)) {
    throw new TypeError(
      'Invalid Zoho SDK bridge option "client": expected a TokenClient',
    );
  }
  if (
    typeof marginMs !== "number" || !Number.isFinite(marginMs) || marginMs < 0
  ) {
    throw new TypeError(
      `Invalid Zoho SDK bridge option "marginMs": expected a finite number >= 0, got "${marginMs}"`,
    );
  }
  const Store = storeClass(checkSdk(sdk as ZohoSdk));
  return new Store(new ZohoSdkBridge(client, sdk, marginMs));
}
