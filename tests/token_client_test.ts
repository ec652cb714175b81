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
import { TokenRevokedError } from "../core/errors.ts";
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
  // still valid: served at once and refreshed in the background
  assertEquals(
    await s.client.getAccessToken({ userName: USER }),
    "1000.old-access",
  );
  await s.client.flush();
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

  // The same code again: the stored token holds it, so nothing is sent.
  assertEquals(
    (await restarted.exchangeGrantToken(code, { userName: USER })).id,
    token.id,
  );
  assertEquals(s.server.stats().authorizationCode, 1);

  // A grant code is single use: sent again from a store that does not hold
  // it, the exchange fails and is not retried.
  const elsewhere = s.clientWith({ store: new MemoryTokenStore() });
  const error = await assertRejects(
    () => elsewhere.exchangeGrantToken(code, { userName: USER }),
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
