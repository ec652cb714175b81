/**
 * TokenClient against the fixture token server (a real HTTP server on
 * 127.0.0.1) and real stores: data centers, skew, grant exchange, refresh
 * coordination, rotation, response fields, revoke and fetch. The clock and
 * the retry waits are injected, so nothing sleeps longer than needed.
 */

import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "@std/assert";
import { DATA_CENTERS } from "../core/data_centers.ts";
import {
  OAuthError,
  TokenRevokedError,
  TokenStoreError,
} from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStore } from "../core/token_store.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { DEFAULT_CLIENT } from "./fixtures/token_server.ts";
import { setup, START, USER } from "./fixtures/client_setup.ts";

Deno.test("TokenClient resolves the token URL from the data center; tokenUrl overrides it", () => {
  const store = new MemoryTokenStore();
  const base = { store, clientId: "1000.C", clientSecret: "s3cret" };
  assertEquals(
    new TokenClient(base).tokenUrl,
    "https://accounts.zoho.com/oauth/v2/token",
  );
  const expected = {
    US: ["accounts.zoho.com", "www.zohoapis.com"],
    EU: ["accounts.zoho.eu", "www.zohoapis.eu"],
    IN: ["accounts.zoho.in", "www.zohoapis.in"],
    CN: ["accounts.zoho.com.cn", "www.zohoapis.com.cn"],
    JP: ["accounts.zoho.jp", "www.zohoapis.jp"],
    AU: ["accounts.zoho.com.au", "www.zohoapis.com.au"],
    CA: ["accounts.zohocloud.ca", "www.zohoapis.ca"],
    SA: ["accounts.zoho.sa", "www.zohoapis.sa"],
  } as const;
  assertEquals(Object.keys(DATA_CENTERS).sort(), Object.keys(expected).sort());
  for (const [dc, [accounts, api]] of Object.entries(expected)) {
    const info = DATA_CENTERS[dc as keyof typeof expected];
    assertEquals(info.tokenUrl, `https://${accounts}/oauth/v2/token`);
    assertEquals(info.revokeUrl, `https://${accounts}/oauth/v2/token/revoke`);
    assertEquals(info.apiDomain, `https://${api}`);
    const client = new TokenClient({
      ...base,
      dataCenter: dc as keyof typeof expected,
    });
    assertEquals(client.tokenUrl, info.tokenUrl);
    assertEquals(client.revokeUrl, info.revokeUrl);
  }
  const custom = new TokenClient({
    ...base,
    dataCenter: "EU",
    tokenUrl: "https://auth.example.com/token",
  });
  assertEquals(custom.tokenUrl, "https://auth.example.com/token");
  assertEquals(custom.revokeUrl, "https://auth.example.com/token/revoke");
  assertThrows(
    // @ts-expect-error: not a data center
    () => new TokenClient({ ...base, dataCenter: "XX" }),
    TypeError,
    '"XX" is not one of US, EU, IN, CN, JP, AU, CA, SA',
  );
  assertThrows(
    () => new TokenClient({ ...base, tokenUrl: "ftp://example.com/token" }),
    TypeError,
    "expected an http(s) URL",
  );
  assertThrows(
    () => new TokenClient({ ...base, clientSecret: "" }),
    TypeError,
    '"clientSecret": expected a non-empty string',
  );
  assertThrows(
    () => new TokenClient({ ...base, refreshSkewMs: -1 }),
    TypeError,
    '"refreshSkewMs"',
  );
  assertThrows(
    () => new TokenClient({ ...base, authScheme: "Bad scheme" }),
    TypeError,
    '"authScheme"',
  );
});

Deno.test("getAccessToken refreshes only within refreshSkewMs of expiry", async () => {
  await using s = await setup();
  await s.seed({ accessToken: "1000.old-access", expiresAt: START + 90_000 });
  assertEquals(
    await s.client.getAccessToken({ userName: USER }),
    "1000.old-access",
  );
  assertEquals(s.server.stats().token, 0);

  s.clock.now = START + 31_000; // expires in 59 s, within the 60 s default skew
  const fresh = await s.client.getToken({ userName: USER });
  assertNotEquals(fresh.accessToken, "1000.old-access");
  assertEquals(fresh.expiresAt, s.clock.now + 3_600_000);
  assertEquals(s.server.stats().refreshToken, 1);
  assertEquals(
    (await s.store.findToken({ userName: USER }))?.accessToken,
    fresh.accessToken,
  );

  // A skew of 0 uses the token until its last millisecond.
  const noSkew = s.clientWith({ refreshSkewMs: 0 });
  s.clock.now = fresh.expiresAt! - 1;
  assertEquals(
    await noSkew.getAccessToken({ userName: USER }),
    fresh.accessToken,
  );
  assertEquals(s.server.stats().refreshToken, 1);
  s.clock.now = fresh.expiresAt!;
  assertNotEquals(
    await noSkew.getAccessToken({ userName: USER }),
    fresh.accessToken,
  );
  assertEquals(s.server.stats().refreshToken, 2);
});

Deno.test("exchangeGrantToken persists the token; later calls and new clients reuse it", async () => {
  await using s = await setup();
  const code = s.server.issueGrantCode({ userName: USER });
  const token = await s.client.exchangeGrantToken(code, { userName: USER });
  assertEquals(s.server.stats().authorizationCode, 1);
  assert(token.id !== undefined);
  assertEquals(token.userName, USER);
  assertEquals(token.clientId, DEFAULT_CLIENT.clientId);
  assertEquals(token.apiDomain, s.server.origin);
  assertEquals(token.expiresAt, START + 3_600_000);
  assert(s.server.isValid(token.refreshToken!));
  assert(s.server.isValid(token.accessToken!));
  assertEquals(
    (await s.store.findToken({ userName: USER }))?.toRecord(),
    token.toRecord(),
  );

  const restarted = s.clientWith();
  assertEquals(
    await restarted.getAccessToken({ userName: USER }),
    token.accessToken,
  );
  assertEquals(s.server.stats().token, 1);

  // A grant code is single use: the second exchange fails and is not retried.
  const error = await assertRejects(
    () => s.client.exchangeGrantToken(code, { userName: USER }),
    TokenRevokedError,
  );
  assertEquals(error.code, "invalid_code");
  assertEquals(s.server.stats().authorizationCode, 2);
  assertEquals(s.sleeps, []);
});

Deno.test("getToken exchanges a stored grant-only token once", async () => {
  await using s = await setup();
  const code = s.server.issueGrantCode({ userName: USER });
  const stored = await s.store.saveToken(
    new OAuthToken({ userName: USER, grantToken: code }),
  );
  const tokens = await Promise.all(
    Array.from({ length: 20 }, () => s.client.getToken({ userName: USER })),
  );
  assertEquals(s.server.stats().authorizationCode, 1);
  assertEquals(new Set(tokens.map((t) => t.accessToken)).size, 1);
  const after = await s.store.findTokenById(stored.id!);
  assertEquals(after?.refreshToken, tokens[0].refreshToken);
  assert(s.server.isValid(after!.refreshToken!));
  assertEquals(
    await s.client.getAccessToken({ grantToken: code }),
    after?.accessToken,
  );
  assertEquals(s.server.stats().token, 1);
});

/** The memory store without its lock: coordination is then in-process only. */
function withoutLock(store: TokenStore): TokenStore {
  return {
    findToken: (q) => store.findToken(q),
    saveToken: (t) => store.saveToken(t),
    deleteToken: (id) => store.deleteToken(id),
    getTokens: () => store.getTokens(),
    deleteTokens: () => store.deleteTokens(),
    findTokenById: (id) => store.findTokenById(id),
  };
}

for (const locked of [true, false]) {
  Deno.test(`200 concurrent getAccessToken on an expired token make exactly 1 token request (store ${locked ? "with" : "without"} a lock)`, async () => {
    await using s = await setup({ latencyMs: 20 });
    await s.seed({ accessToken: "1000.expired", expiresAt: START - 1 });
    const client = s.clientWith({
      store: locked ? s.store : withoutLock(s.store),
    });
    const results = await Promise.all(
      Array.from(
        { length: 200 },
        () => client.getAccessToken({ userName: USER }),
      ),
    );
    console.log(
      `[single-flight] 200 callers: ${s.server.stats().refreshToken} token request(s)`,
    );
    assertEquals(s.server.stats().refreshToken, 1);
    assertEquals(new Set(results).size, 1);
    assertEquals(
      results[0],
      (await s.store.findToken({ userName: USER }))?.accessToken,
    );
  });
}

Deno.test("two clients sharing a locked store refresh once between them", async () => {
  await using s = await setup({ latencyMs: 30 });
  await s.seed();
  const real = {
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
  };
  const a = s.clientWith({ pollIntervalMs: 5, ...real });
  const b = s.clientWith({ pollIntervalMs: 5, ...real });
  const results = await Promise.all(
    Array.from(
      { length: 100 },
      (_, i) => (i % 2 ? a : b).getAccessToken({ userName: USER }),
    ),
  );
  assertEquals(s.server.stats().refreshToken, 1);
  assertEquals(new Set(results).size, 1);
});

Deno.test("a waiting client returns the token the lease holder saved, without a request", async () => {
  await using s = await setup();
  const stored = await s.seed();
  const lease = await s.store.lock.acquire(`refresh:${stored.id}`, {
    ttlMs: 60_000,
  });
  assert(lease !== null);
  const waiting = s.clientWith({
    pollIntervalMs: 5,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  }).getAccessToken({ userName: USER });
  await new Promise((r) => setTimeout(r, 30));
  await s.store.saveToken(
    stored.with({
      accessToken: "1000.by-holder",
      expiresAt: START + 3_600_000,
    }),
  );
  await lease.release();
  assertEquals(await waiting, "1000.by-holder");
  assertEquals(s.server.stats().token, 0);
});

Deno.test("a waiting client takes over after the holder's lease expires", async () => {
  await using s = await setup();
  const stored = await s.seed();
  const ttlMs = 300;
  const taken = Date.now();
  // Taken and never released: the holder "died".
  assert(
    await s.store.lock.acquire(`refresh:${stored.id}`, { ttlMs }) !== null,
  );
  const client = s.clientWith({
    pollIntervalMs: 10,
    leaseTtlMs: ttlMs,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  });
  const access = await client.getAccessToken({ userName: USER });
  const waited = Date.now() - taken;
  assert(
    waited >= ttlMs,
    `took over after ${waited} ms, before the ${ttlMs} ms lease expired`,
  );
  assertEquals(s.server.stats().refreshToken, 1);
  assert(s.server.isValid(access));
});

Deno.test("a rotated refresh token replaces the stored one; a missing one keeps it", async () => {
  {
    await using s = await setup({ rotateRefreshTokens: true });
    const stored = await s.seed();
    const first = await s.client.refresh({ userName: USER });
    assertEquals(first.id, stored.id);
    assertNotEquals(first.refreshToken, stored.refreshToken);
    assert(!s.server.isValid(stored.refreshToken!));
    const second = await s.client.refresh({ userName: USER });
    assertNotEquals(second.refreshToken, first.refreshToken);
    assertEquals(
      (await s.store.findTokenById(stored.id!))?.refreshToken,
      second.refreshToken,
    );
    assertEquals(s.server.stats().refreshToken, 2);
    assertEquals((await s.store.getTokens()).length, 1);
  }
  {
    await using s = await setup();
    const stored = await s.seed();
    const refreshed = await s.client.refresh({ userName: USER });
    assertEquals(refreshed.refreshToken, stored.refreshToken);
    assert(refreshed.accessToken !== undefined);
  }
});

Deno.test("expires_in is milliseconds when expires_in_sec is present; api_domain is stored", async () => {
  {
    await using s = await setup({ legacyExpiresIn: true, expiresInSec: 1800 });
    await s.seed({ apiDomain: "https://old.example.com" });
    const token = await s.client.getToken({ userName: USER });
    assertEquals(token.expiresAt, START + 1_800_000);
    assertEquals(token.apiDomain, s.server.origin);
  }
  {
    await using s = await setup({ mode: "standard", expiresInSec: 1800 });
    await s.seed({ apiDomain: "https://kept.example.com" });
    const token = await s.client.getToken({ userName: USER });
    assertEquals(token.expiresAt, START + 1_800_000);
    assertEquals(token.apiDomain, "https://kept.example.com");
  }
});

Deno.test("revoke revokes the refresh token at the server and deletes the token", async () => {
  for (const mode of ["zoho", "standard"] as const) {
    await using s = await setup({ mode });
    const stored = await s.seed();
    await s.store.saveToken(
      new OAuthToken({
        userName: "other@example.com",
        refreshToken: "1000.other-refresh",
      }),
    );
    await s.client.revoke({ userName: USER });
    assertEquals(s.server.stats().revoke, 1);
    assert(!s.server.isValid(stored.refreshToken!));
    assertEquals(await s.store.findTokenById(stored.id!), null);
    assertEquals((await s.store.getTokens()).map((t) => t.userName), [
      "other@example.com",
    ]);
    const error = await assertRejects(
      () => s.client.getAccessToken({ userName: USER }),
      TokenStoreError,
    );
    assertEquals(error.code, "INVALID_QUERY");
    // A token the server no longer knows is deleted all the same.
    await s.client.revoke({ userName: "other@example.com" });
    assertEquals(await s.store.getTokens(), []);
  }
  await using s = await setup();
  await s.seed();
  s.server.setFailures([{ status: 400, body: '{"error":"invalid_client"}' }]);
  await assertRejects(() => s.client.revoke({ userName: USER }), OAuthError);
  assertEquals(
    (await s.store.getTokens()).length,
    1,
    "kept when the server refused",
  );
});

Deno.test("fetch sends the Authorization header and refreshes once after a 401", async () => {
  await using s = await setup();
  await s.seed();
  const token = { userName: USER };
  const first = await s.client.fetch("/api/echo", {
    token,
    method: "POST",
    body: "payload",
  });
  assertEquals(first.status, 200);
  assertEquals(await first.json(), {
    ok: true,
    scheme: "Zoho-oauthtoken",
    method: "POST",
    path: "/api/echo",
    body: "payload",
    userName: USER,
  });
  assertEquals(s.server.stats().refreshToken, 1);

  s.server.expireAccessTokens();
  const retried = await s.client.fetch(s.server.apiUrl, {
    token,
    method: "PUT",
    body: "again",
  });
  assertEquals(retried.status, 200);
  assertEquals((await retried.json()).body, "again");
  assertEquals([s.server.stats().refreshToken, s.server.stats().api401], [
    2,
    1,
  ]);

  s.server.expireAccessTokens();
  const request = new Request(s.server.apiUrl, {
    method: "POST",
    body: "from a Request",
  });
  const replayed = await s.client.fetch(request, { token });
  assertEquals((await replayed.json()).body, "from a Request");
  assertEquals(s.server.stats().refreshToken, 3);

  // Many callers hitting 401 at once share one refresh.
  s.server.expireAccessTokens();
  const many = await Promise.all(
    Array.from(
      { length: 30 },
      () => s.client.fetch(s.server.apiUrl, { token }),
    ),
  );
  assert(many.every((r) => r.status === 200));
  await Promise.all(many.map((r) => r.body?.cancel()));
  assertEquals(s.server.stats().refreshToken, 4);

  const bearer = await s.clientWith({ authScheme: "Bearer" }).fetch(
    s.server.apiUrl,
    { token },
  );
  assertEquals((await bearer.json()).scheme, "Bearer");
  // A second 401 is returned as it is: one refresh, one retry.
  const refused = await s.clientWith({ authScheme: "Basic" }).fetch(
    s.server.apiUrl,
    { token },
  );
  assertEquals(refused.status, 401);
  await refused.body?.cancel();
  assertEquals(s.server.stats().refreshToken, 5);
});

Deno.test("getToken fails clearly for a missing token or one that cannot be refreshed", async () => {
  await using s = await setup();
  const missing = await assertRejects(
    () =>
      s.client.getToken({
        userName: "nobody@example.com",
        refreshToken: "1000.secret-refresh-value",
      }),
    TokenStoreError,
  );
  assertEquals(missing.code, "INVALID_QUERY");
  assert(missing.message.includes('"nobody@example.com"'), missing.message);
  assert(!missing.message.includes("secret-refresh-value"), missing.message);
  await assertRejects(
    () => s.client.getToken({}),
    TokenStoreError,
    "Cannot match token",
  );

  await s.store.saveToken(
    new OAuthToken({
      userName: "valid@example.com",
      accessToken: "1000.only-access",
      expiresAt: START + 30_000,
    }),
  );
  assertEquals(
    await s.client.getAccessToken({ userName: "valid@example.com" }),
    "1000.only-access",
  );
  s.clock.now = START + 30_000;
  const stale = await assertRejects(
    () => s.client.getToken({ userName: "valid@example.com" }),
    TokenStoreError,
  );
  assertEquals(stale.code, "INVALID_TOKEN");
  assertEquals(s.server.stats().token, 0);
});
