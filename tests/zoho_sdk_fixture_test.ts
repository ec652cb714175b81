/**
 * The official Zoho CRM SDKs, run for real against the fixture token server
 * (tests/fixtures/zoho_sdk.ts): they initialise with a refresh token the
 * fixture issued, refresh it there (multipart), call the fixture's CRM users
 * API and parse its answer; on a 401 they do not refresh; a token with less
 * than 5 s to live is refreshed by every concurrent call. Also the baseline
 * custom store (tests/fixtures/zoho_sdk_plain_store.ts) with both SDKs.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { OAuthToken } from "../core/token.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";
import { refresh } from "./fixtures/token_server_http.ts";
import {
  currentUser,
  currentUserCall,
  initializeSdk,
  loadSdk,
  NODE_SDK,
  SDK_SPECIFIERS,
  sdkEnvironment,
  sdkToken,
  TS_SDK,
} from "./fixtures/zoho_sdk.ts";
import {
  createPlainSdkStore,
  PlainSdkStore,
} from "./fixtures/zoho_sdk_plain_store.ts";

/**
 * A user name of its own for each test: the Node.js SDK keys its
 * initialisations by user name alone, and while a new one for a name runs it
 * still uses the previous one's store.
 */
const newUser = () => `user-${crypto.randomUUID().slice(0, 8)}@example.com`;

Deno.test("zoho sdk fixture: the SDKs loaded are the versions the specifiers name", async () => {
  assertEquals(TS_SDK, "npm:@zohocrm/typescript-sdk-8.0@3.0.0");
  assertEquals(NODE_SDK, "npm:@zohocrm/nodejs-sdk-8.0@2.0.0");
  assertEquals(SDK_SPECIFIERS, { ts: TS_SDK, node: NODE_SDK });
  // deno.json maps the bare names to "^3" and "^2": these are what load.
  assertEquals((await loadSdk("ts")).Constants.SDK_VERSION, "3.0.0");
  assertEquals((await loadSdk("node")).Constants.SDK_VERSION, "2.0.0");
});

Deno.test({
  name:
    "zoho sdk fixture: the TypeScript SDK with its own FileStore refreshes once at the fixture and calls its CRM API",
  async fn() {
    await using server = await startTokenServer();
    const USER = newUser();
    const dir = await Deno.makeTempDir({ prefix: "zoho_sdk_fixture_" });
    try {
      const sdk = await loadSdk("ts");
      const file = join(dir, "sdk_tokens.txt");
      const refreshToken = server.issueRefreshToken({ userName: USER });
      await initializeSdk(sdk, {
        environment: sdkEnvironment(sdk, server),
        token: sdkToken(sdk, { userName: USER, refreshToken }),
        store: new sdk.FileStore(file),
        resourcePath: dir,
      });
      assertEquals(await currentUser(sdk), { status: 200, email: USER });
      assertEquals(await currentUserCall(sdk), 200);
      const stats = server.stats();
      assertEquals(
        [stats.token, stats.refreshToken, stats.crm, stats.crm401],
        [1, 1, 2, 0],
      );
      assertEquals(server.requests.map((r) => [r.encoding, r.outcome]), [
        ["multipart", "issued"],
      ]);
      const [header, row, ...rest] = (await Deno.readTextFile(file)).split(
        "\n",
      );
      assertEquals(rest, []);
      // TypeScript SDK 3.0.0 names column 2 "user_mail" (DESIGN: user_name).
      assertEquals(
        header,
        "id,user_mail,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain",
      );
      const fields = row.split(",");
      assertEquals(fields.slice(0, 5), [
        "1",
        USER,
        DEFAULT_CLIENT.clientId,
        DEFAULT_CLIENT.clientSecret,
        refreshToken,
      ]);
      assert(server.isValid(fields[5]), "the stored access token is live");
      assert(Math.abs(Number(fields[7]) - (Date.now() + 3_600_000)) < 60_000);
      assertEquals(fields[9], server.origin);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "zoho sdk fixture: on a 401 the TypeScript SDK does not refresh: every call fails until the token expires by its clock",
  async fn() {
    await using server = await startTokenServer();
    const USER = newUser();
    const dir = await Deno.makeTempDir({ prefix: "zoho_sdk_fixture_" });
    try {
      const sdk = await loadSdk("ts");
      await initializeSdk(sdk, {
        environment: sdkEnvironment(sdk, server),
        token: sdkToken(sdk, {
          userName: USER,
          refreshToken: server.issueRefreshToken({ userName: USER }),
        }),
        store: new sdk.FileStore(join(dir, "sdk_tokens.txt")),
        resourcePath: dir,
      });
      assertEquals(await currentUserCall(sdk), 200);
      server.expireAccessTokens();
      for (let i = 0; i < 3; i++) {
        assertEquals(await currentUser(sdk), {
          status: 401,
          code: "INVALID_TOKEN",
        });
      }
      const stats = server.stats();
      assertEquals([stats.refreshToken, stats.crm, stats.crm401], [1, 4, 3]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "zoho sdk fixture: the TypeScript SDK refreshes a token with less than 5 s to live in every concurrent call (no single flight)",
  async fn() {
    // Tokens living 5 s are always within the SDK's 5 s refresh margin.
    await using server = await startTokenServer({
      expiresInSec: 5,
      rateLimit: false,
      latencyMs: 50,
    });
    const USER = newUser();
    const sdk = await loadSdk("ts");
    const store = new MemoryTokenStore();
    await initializeSdk(sdk, {
      environment: sdkEnvironment(sdk, server),
      token: sdkToken(sdk, {
        userName: USER,
        refreshToken: server.issueRefreshToken({ userName: USER }),
      }),
      store: new PlainSdkStore(sdk, store),
    });
    assertEquals(server.stats().refreshToken, 1);
    const statuses = await Promise.all(
      Array.from({ length: 10 }, () => currentUserCall(sdk)),
    );
    // Each call refreshed; all but the last token issued are stale already.
    assertEquals(server.stats().refreshToken, 11);
    assert(statuses.includes(200), `statuses ${statuses}`);
    assertEquals(statuses.length, 10);
  },
});

for (const flavour of ["ts", "node"] as const) {
  Deno.test({
    name:
      `zoho sdk fixture: the ${flavour} SDK with the baseline store refreshes an expired stored token once and saves it`,
    async fn() {
      await using server = await startTokenServer();
      const USER = newUser();
      const sdk = await loadSdk(flavour);
      const store = new MemoryTokenStore();
      const refreshToken = server.issueRefreshToken({ userName: USER });
      const seeded = await store.saveToken(
        new OAuthToken({
          userName: USER,
          clientId: DEFAULT_CLIENT.clientId,
          clientSecret: DEFAULT_CLIENT.clientSecret,
          refreshToken,
          accessToken: "1000.expired",
          expiresAt: Date.now() - 60_000,
          apiDomain: server.origin,
        }),
      );
      const sdkStore = createPlainSdkStore(sdk, store);
      if (flavour === "ts") assert(sdkStore instanceof PlainSdkStore);
      else {
        const base = (sdk.TokenStore as unknown as { TokenStore: object })
          .TokenStore as new () => object;
        assert(sdkStore instanceof base, "extends the Node SDK's TokenStore");
      }
      await initializeSdk(sdk, {
        environment: sdkEnvironment(sdk, server),
        token: sdkToken(sdk, { userName: USER, refreshToken }),
        store: sdkStore,
      });
      assertEquals(await currentUser(sdk), { status: 200, email: USER });
      assertEquals(server.stats().refreshToken, 1);
      const stored = await store.findToken({ userName: USER });
      assertEquals(stored?.id, seeded.id);
      assertEquals(stored?.refreshToken, refreshToken);
      assert(server.isValid(stored!.accessToken!), "the new access token");
      assert(stored!.expiresAt! > Date.now() + 3_500_000);
      assertEquals((await store.getTokens()).length, 1);

      const byId = await sdkStore.findTokenById(seeded.id!);
      assertEquals(byId.getAccessToken(), stored!.accessToken);
      assertEquals(byId.getExpiresIn(), String(stored!.expiresAt));
      assertEquals(byId.getUserSignature()?.getName(), USER);
      await assertRejects(
        () => sdkStore.findTokenById("nope"),
        Error,
        'No token with id "nope"',
      );
      assertEquals((await sdkStore.getTokens()).length, 1);
    },
  });
}

for (const flavour of ["ts", "node"] as const) {
  Deno.test(`zoho sdk fixture: the ${flavour} SDK with the baseline store uses a fresh stored token and requests none`, async () => {
    await using server = await startTokenServer();
    const USER = newUser();
    const sdk = await loadSdk(flavour);
    const store = new MemoryTokenStore();
    const refreshToken = server.issueRefreshToken({ userName: USER });
    const { body } = await refresh(server, refreshToken);
    await store.saveToken(
      new OAuthToken({
        userName: USER,
        clientId: DEFAULT_CLIENT.clientId,
        clientSecret: DEFAULT_CLIENT.clientSecret,
        refreshToken,
        accessToken: body.access_token as string,
        expiresAt: Date.now() + 3_000_000,
        apiDomain: server.origin,
      }),
    );
    // The SDK's own token knows the user name only: the rest comes from the store.
    await initializeSdk(sdk, {
      environment: sdkEnvironment(sdk, server),
      token: sdkToken(sdk, { userName: USER }),
      store: createPlainSdkStore(sdk, store),
    });
    assertEquals(await currentUser(sdk), { status: 200, email: USER });
    assertEquals(server.stats().refreshToken, 1, "only the seeding refresh");
  });
}
