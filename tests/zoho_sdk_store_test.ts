/**
 * The Zoho SDK bridge in one process, with the real SDK classes from npm:
 * what each of the six `TokenStore` methods hands the SDK, the grant and
 * refresh-token flows, `reportInvalid` and its cooldown, the checks of
 * what is passed, and no secret in any error.
 *
 * @module
 */

import * as TS_SDK from "@zohocrm/typescript-sdk-8.0";
import * as NODE_SDK from "@zohocrm/nodejs-sdk-8.0";
import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { createZohoSdkStore } from "../stores/zoho_sdk.ts";
import { setup, START, USER } from "./fixtures/client_setup.ts";
import { DEFAULT_CLIENT } from "./fixtures/token_server.ts";
import { sdkToken } from "./fixtures/zoho_sdk.ts";

const REAL = {
  sleep: (ms: number) => new Promise<void>((done) => setTimeout(done, ms)),
};

/** An SDK token asking for `userName`'s token, as the SDK's builder makes one. */
function askFor(userName: string): TS_SDK.OAuthToken {
  return sdkToken(TS_SDK, { userName });
}

Deno.test("findToken: the SDK's own OAuthToken, refreshed once for 20 concurrent lookups, with the margin to live", async () => {
  await using s = await setup();
  const seeded = await s.seed();
  const sdkStore = createZohoSdkStore({ client: s.client, sdk: TS_SDK });
  const asked = askFor(USER);
  const found = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => sdkStore.findToken(i === 0 ? asked : askFor(USER)),
    ),
  );
  assertEquals(s.server.stats().refreshToken, 1);
  for (const token of found) {
    assertInstanceOf(token, TS_SDK.OAuthToken);
    assertEquals(token.getId(), seeded.id);
    assertEquals(token.getUserSignature()?.getName(), USER);
    assertEquals(token.getRefreshToken(), seeded.refreshToken);
    assertEquals(token.getAPIDomain(), s.server.origin); // from the answer
    assert(s.server.isValid(token.getAccessToken()!));
    // epoch ms as a string, as the SDK keeps it: far from its own 5 s limit
    assertEquals(token.getExpiresIn(), String(START + 3_600_000));
  }
  // the SDK's token learns the id, as the SDK's FileStore does: later calls go by id
  assertEquals(asked.getId(), seeded.id);
  // a fresh token: served from the client's cache, no store round trip
  const reads: string[] = [];
  const find = s.store.findToken.bind(s.store);
  s.store.findToken = (query) => (reads.push("find"), find(query));
  const findById = s.store.findTokenById.bind(s.store);
  s.store.findTokenById = (id) => (reads.push("byId"), findById(id));
  await sdkStore.findTokenById(seeded.id!);
  await sdkStore.findToken(askFor(USER));
  assertEquals(reads, []);
  assertEquals(s.server.stats().refreshToken, 1);
});

Deno.test("findToken: a token with less than marginMs to live is refreshed before the SDK sees it", async () => {
  await using s = await setup();
  const seeded = await s.seed({
    accessToken: "1000.old",
    expiresAt: START + 100_000,
  });
  const sdkStore = createZohoSdkStore({
    client: s.client,
    sdk: TS_SDK,
    marginMs: 120_000,
  });
  const token = await sdkStore.findTokenById(seeded.id!);
  assertNotEquals(token.getAccessToken(), "1000.old");
  assertEquals(s.server.stats().refreshToken, 1);
});

Deno.test("findToken: matches as the SDK's FileStore does (user, access token, grant or refresh token); null when nothing is stored", async () => {
  await using s = await setup();
  const stored = await s.store.saveToken(
    new OAuthToken({
      userName: USER,
      refreshToken: s.server.issueRefreshToken({ userName: USER }),
      accessToken: "1000.a",
      expiresAt: START + 3_600_000,
    }),
  );
  const sdkStore = createZohoSdkStore({ client: s.client, sdk: TS_SDK });
  const byAccess = sdkToken(TS_SDK, { accessToken: "1000.a" });
  assertEquals((await sdkStore.findToken(byAccess))?.getId(), stored.id);
  const byRefresh = sdkToken(TS_SDK, { refreshToken: stored.refreshToken! });
  assertEquals((await sdkStore.findToken(byRefresh))?.getId(), stored.id);
  assertEquals(await sdkStore.findToken(askFor("nobody@example.com")), null);
  assertEquals(s.server.stats().token, 0);
});

Deno.test("findTokenById: an unknown id is a TokenStoreError, never null (the Node.js SDK crashes on null)", async () => {
  await using s = await setup();
  const sdkStore = createZohoSdkStore({ client: s.client, sdk: TS_SDK });
  const error = await assertRejects(
    () => sdkStore.findTokenById("nope"),
    TokenStoreError,
  );
  assertEquals(error.code, "INVALID_QUERY");
  assert(error.message.includes('"nope"'), error.message);
  await assertRejects(() => sdkStore.findTokenById(""), TokenStoreError);
});

Deno.test("grant flow: a grant token the store has never seen is exchanged once for 6 concurrent lookups on 3 clients, all get the stored token", async () => {
  await using s = await setup({ latencyMs: 100 }, REAL);
  const code = s.server.issueGrantCode({ userName: USER });
  const stores = [s.client, s.clientWith(), s.clientWith()].map((client) =>
    createZohoSdkStore({ client, sdk: TS_SDK })
  );
  const ask = () => sdkToken(TS_SDK, { grantToken: code, userName: USER });
  const found = await Promise.all(
    stores.flatMap((sdkStore) =>
      [ask(), ask()].map((t) => sdkStore.findToken(t))
    ),
  );
  assertEquals(s.server.stats().authorizationCode, 1);
  const stored = await s.store.getTokens();
  assertEquals(stored.length, 1);
  assertEquals(stored[0].userName, USER);
  for (const token of found) {
    assertEquals(token?.getId(), stored[0].id);
    assertEquals(token?.getAccessToken(), stored[0].accessToken);
  }
});

Deno.test("refresh-token flow: a refresh token the store does not hold is saved, then refreshed once", async () => {
  await using s = await setup();
  const refreshToken = s.server.issueRefreshToken({ userName: USER });
  const sdkStore = createZohoSdkStore({ client: s.client, sdk: TS_SDK });
  const ask = () => sdkToken(TS_SDK, { refreshToken, userName: USER });
  const [a, b] = await Promise.all([
    sdkStore.findToken(ask()),
    sdkStore.findToken(ask()),
  ]);
  assertEquals(a?.getAccessToken(), b?.getAccessToken());
  assertEquals(s.server.stats().refreshToken, 1);
  const stored = await s.store.getTokens();
  assertEquals(stored.length, 1);
  assertEquals(
    [stored[0].userName, stored[0].refreshToken],
    [USER, refreshToken],
  );
});

Deno.test("saveToken writes what the SDK saves (expiry string, API domain, user); the client's cache follows", async () => {
  await using s = await setup();
  const seeded = await s.seed({
    accessToken: "1000.a",
    expiresAt: START + 3_600_000,
  });
  const sdkStore = createZohoSdkStore({ client: s.client, sdk: TS_SDK });
  const found = await sdkStore.findTokenById(seeded.id!);
  assertEquals(found.getAccessToken(), "1000.a");
  found.setAccessToken("1000.b");
  found.setExpiresIn(String(START + 7_200_000));
  found.setAPIDomain("https://www.zohoapis.in");
  await sdkStore.saveToken(found);
  const stored = await s.store.findTokenById(seeded.id!);
  assertEquals(stored?.accessToken, "1000.b");
  assertEquals(stored?.expiresAt, START + 7_200_000);
  assertEquals(stored?.apiDomain, "https://www.zohoapis.in");
  assertEquals(stored?.userName, USER);
  assertEquals(
    (await sdkStore.findTokenById(seeded.id!)).getAccessToken(),
    "1000.b",
  );
  // a new one gets its id set, as the SDK's stores do
  const fresh = sdkToken(TS_SDK, {
    accessToken: "1000.x",
    userName: "grace@example.com",
  });
  fresh.setExpiresIn(String(START + 3_600_000));
  await sdkStore.saveToken(fresh);
  assert(fresh.getId() !== null);
  assertEquals(
    (await s.store.findTokenById(fresh.getId()!))?.userName,
    "grace@example.com",
  );
  // an expiry that is not epoch ms: refused, nothing written
  fresh.setExpiresIn("tomorrow");
  const error = await assertRejects(
    () => sdkStore.saveToken(fresh),
    TokenStoreError,
  );
  assertEquals(error.code, "INVALID_TOKEN");
  assertEquals((await s.store.getTokens()).length, 2);
});

Deno.test("deleteToken, getTokens, deleteTokens pass through; a deleted token is gone from the client's cache at once", async () => {
  await using s = await setup();
  const seeded = await s.seed({
    accessToken: "1000.a",
    expiresAt: START + 3_600_000,
  });
  const sdkStore = createZohoSdkStore({ client: s.client, sdk: TS_SDK });
  await sdkStore.findTokenById(seeded.id!); // cached now
  const all = await sdkStore.getTokens();
  assertEquals(all.length, 1);
  assertInstanceOf(all[0], TS_SDK.OAuthToken);
  assertEquals(all[0].getId(), seeded.id);
  await sdkStore.deleteToken(seeded.id!);
  await assertRejects(
    () => sdkStore.findTokenById(seeded.id!),
    TokenStoreError,
  );
  const other = await s.seed({
    userName: "grace@example.com",
    accessToken: "1000.g",
    expiresAt: START + 3_600_000,
  });
  await sdkStore.findTokenById(other.id!);
  await sdkStore.deleteTokens();
  assertEquals(await sdkStore.getTokens(), []);
  await assertRejects(() => sdkStore.findTokenById(other.id!), TokenStoreError);
});

Deno.test("reportInvalid: the next lookup refreshes that token, at most once per cooldown across clients", async () => {
  await using s = await setup({}, { ...REAL, minRefreshIntervalMs: 400 });
  const seeded = await s.seed({
    accessToken: "1000.a",
    expiresAt: START + 3_600_000,
  });
  const sdkStore = createZohoSdkStore({ client: s.client, sdk: TS_SDK });
  const otherStore = createZohoSdkStore({
    client: s.clientWith(),
    sdk: TS_SDK,
  });
  assertEquals(
    (await sdkStore.findTokenById(seeded.id!)).getAccessToken(),
    "1000.a",
  );
  sdkStore.reportInvalid("1000.a");
  const refreshed = await sdkStore.findToken(askFor(USER));
  assertNotEquals(refreshed?.getAccessToken(), "1000.a");
  assertEquals(s.server.stats().refreshToken, 1);
  // the other process saw the new one refused too, within the cooldown: not refreshed
  otherStore.reportInvalid(refreshed!.getAccessToken()!);
  const held = await otherStore.findTokenById(seeded.id!);
  assertEquals(held.getAccessToken(), refreshed?.getAccessToken());
  assertEquals(s.server.stats().refreshToken, 1);
  // after the cooldown it is
  await REAL.sleep(420);
  otherStore.reportInvalid(refreshed!.getAccessToken()!);
  const again = await otherStore.findTokenById(seeded.id!);
  assertNotEquals(again.getAccessToken(), refreshed?.getAccessToken());
  assertEquals(s.server.stats().refreshToken, 2);
  // a report for a token no longer stored changes nothing
  sdkStore.reportInvalid("1000.unknown");
  await sdkStore.findTokenById(seeded.id!);
  assertEquals(s.server.stats().refreshToken, 2);
  assertThrows(() => sdkStore.reportInvalid(""), TypeError);
});

Deno.test("Node.js SDK: the store extends its TokenStore class and hands out its OAuthToken", async () => {
  await using s = await setup();
  const seeded = await s.seed();
  const { OAuthToken: SdkToken, UserSignature, TokenStore } = NODE_SDK;
  for (
    const sdk of [{ OAuthToken: SdkToken, UserSignature, TokenStore }, NODE_SDK]
  ) {
    const sdkStore = createZohoSdkStore({ client: s.client, sdk });
    assertInstanceOf(sdkStore, TokenStore.TokenStore);
    const found = await sdkStore.findTokenById(seeded.id!);
    assertInstanceOf(found, SdkToken);
    assertEquals(found.getUserSignature()?.getName(), USER);
  }
  assertEquals(s.server.stats().refreshToken, 1);
});

Deno.test("a wrong client, sdk or marginMs is a TypeError naming what is wrong", async () => {
  await using s = await setup();
  const client = s.client;
  const cases: [unknown, string][] = [
    [{ client: {}, sdk: TS_SDK }, '"client"'],
    [{ client, sdk: null }, '"sdk"'],
    [{ client, sdk: { UserSignature: TS_SDK.UserSignature } }, '"OAuthToken"'],
    [{ client, sdk: { OAuthToken: TS_SDK.OAuthToken } }, '"UserSignature"'],
    [
      {
        client,
        sdk: { OAuthToken: class {}, UserSignature: TS_SDK.UserSignature },
      },
      '"getAccessToken"',
    ],
    [
      { client, sdk: { ...pick(TS_SDK), TokenStore: 42 } },
      '"TokenStore"',
    ],
    [{ client, sdk: TS_SDK, marginMs: -1 }, '"marginMs"'],
  ];
  for (const [options, named] of cases) {
    const error = assertThrows(
      () =>
        createZohoSdkStore(options as Parameters<typeof createZohoSdkStore>[0]),
      TypeError,
    );
    assert(error.message.includes(named), `${named}: ${error.message}`);
  }
  // a token that is not the SDK's
  const sdkStore = createZohoSdkStore({ client, sdk: TS_SDK });
  await assertRejects(
    () => sdkStore.findToken({} as TS_SDK.OAuthToken),
    TypeError,
  );
});

Deno.test("no secret in any error the bridge raises", async () => {
  await using s = await setup();
  const refreshToken = s.server.issueRefreshToken({ userName: USER });
  const sdkStore = createZohoSdkStore({ client: s.client, sdk: TS_SDK });
  const secrets = [refreshToken, DEFAULT_CLIENT.clientSecret];
  const errors: unknown[] = [];
  const bad = sdkToken(TS_SDK, { refreshToken, userName: USER });
  bad.setExpiresIn("soon");
  await sdkStore.saveToken(bad).catch((error) => errors.push(error));
  await sdkStore.findTokenById("42").catch((error) => errors.push(error));
  assertEquals(errors.length, 2);
  for (const error of errors) {
    const text = `${error} ${JSON.stringify(error)} ${Deno.inspect(error)}`;
    for (const secret of secrets) assert(!text.includes(secret), text);
  }
});

function pick(sdk: typeof TS_SDK) {
  return { OAuthToken: sdk.OAuthToken, UserSignature: sdk.UserSignature };
}
