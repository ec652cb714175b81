/**
 * The Zoho SDK bridge under the official Zoho CRM Node.js SDK
 * (`@zohocrm/nodejs-sdk-8.0`), run for real under Deno against the fixture
 * token server — the scenario tests/runtimes/_zoho_sdk_checks.mjs runs under
 * Node and Bun on the package as JSR builds it: the SDK, initialised with the
 * bridge's store over a `TokenClient` whose stored token has an expired
 * access token, makes 25 API calls at once (`UsersOperations.getUsers`,
 * `type=CurrentUser`, answered 200 for the current access token only): all
 * answered 200, after exactly one refresh — the client's, never the SDK's
 * own (which it posts as `multipart/form-data`).
 *
 * @module
 */

import * as NODE_SDK from "@zohocrm/nodejs-sdk-8.0";
import { assert, assertEquals, assertInstanceOf } from "@std/assert";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { createZohoSdkStore } from "../stores/zoho_sdk.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";
import {
  currentUser,
  initializeSdk,
  sdkEnvironment,
  sdkToken,
  type ZohoSdk,
} from "./fixtures/zoho_sdk.ts";

/** The SDK calls made at once. */
const CALLS = 25;

/**
 * The Node.js SDK module (untyped JavaScript with the TypeScript SDK's API),
 * as the fixture's helpers take it.
 */
const sdk: ZohoSdk = NODE_SDK;

Deno.test("Node.js SDK on the bridge: 25 concurrent API calls on an expired access token, 1 refresh (the client's), 25 × 200", async () => {
  await using server = await startTokenServer({ latencyMs: 100 });
  // A user of its own: the SDK keys its initialisations by user name.
  const user = `node-sdk-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const refreshToken = server.issueRefreshToken({ userName: user });
  const resources = await Deno.makeTempDir({ prefix: "zoho_sdk_node_" });
  try {
    const store = new MemoryTokenStore();
    await store.saveToken(
      new OAuthToken({
        userName: user,
        refreshToken,
        accessToken: "1000.expired",
        expiresAt: Date.now() - 60_000,
        apiDomain: server.origin,
      }),
    );
    const client = new TokenClient({
      store,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      tokenUrl: server.url,
    });
    // As the bridge's guide has a Node.js SDK user write it.
    const { OAuthToken: SdkOAuthToken, UserSignature, TokenStore } = NODE_SDK;
    const sdkStore = createZohoSdkStore({
      client,
      sdk: { OAuthToken: SdkOAuthToken, UserSignature, TokenStore },
    });
    // The class the SDK's custom-store guide has a store extend.
    assertInstanceOf(sdkStore, NODE_SDK.TokenStore.TokenStore);

    // API calls and token requests all go to the fixture; the SDK silent.
    await initializeSdk(sdk, {
      environment: sdkEnvironment(sdk, server),
      token: sdkToken(sdk, { userName: user, refreshToken }),
      store: sdkStore,
      resourcePath: resources,
    });

    const answers = await Promise.all(
      Array.from({ length: CALLS }, () => currentUser(sdk)),
    );
    assertEquals(
      answers,
      Array.from({ length: CALLS }, () => ({ status: 200, email: user })),
    );
    const stats = server.stats();
    assertEquals(
      [stats.token, stats.refreshToken, stats.crm, stats.crm401],
      [1, 1, CALLS, 0],
    );
    // the one refresh is the client's (urlencoded), none is the SDK's (multipart)
    assertEquals(
      server.requests.map((r) => [r.encoding, r.grantType, r.outcome]),
      [["urlencoded", "refresh_token", "issued"]],
    );
    const stored = await store.findToken({ userName: user });
    assert(server.isValid(stored?.accessToken ?? ""), "stored token stale");
  } finally {
    await Deno.remove(resources, { recursive: true });
  }
});
