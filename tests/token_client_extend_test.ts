/**
 * What `TokenClient` offers to code that builds on it (the Zoho SDK bridge,
 * or a user's bridge to another SDK): a minimum remaining lifetime for
 * `getToken`, a refresh forced by a refused access token within rule 8's
 * cooldown, one exchange per grant code across clients sharing a store,
 * the store itself, and `forget` after writing to it directly.
 *
 * @module
 */

import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { setup, START, USER } from "./fixtures/client_setup.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";
import { TokenClient } from "../core/token_client.ts";

/** Real waits: clients sharing a store wait for each other's leases. */
const REAL = {
  sleep: (ms: number) => new Promise<void>((done) => setTimeout(done, ms)),
};

Deno.test("getToken minLifetimeMs: a token with less to live is refreshed before it resolves, once for 50 callers", async () => {
  await using s = await setup();
  const seeded = await s.seed({
    accessToken: "1000.old",
    expiresAt: START + 90_000,
  });
  // 90 s left: fresh by the default 60 s skew
  assertEquals(await s.client.getAccessToken({ userName: USER }), "1000.old");
  assertEquals(s.server.stats().refreshToken, 0);
  const tokens = await Promise.all(
    Array.from(
      { length: 50 },
      () => s.client.getToken({ userName: USER }, { minLifetimeMs: 120_000 }),
    ),
  );
  assertEquals(s.server.stats().refreshToken, 1);
  assertEquals(new Set(tokens.map((t) => t.accessToken)).size, 1);
  assertNotEquals(tokens[0].accessToken, "1000.old");
  assertEquals(tokens[0].id, seeded.id);
  assert(tokens[0].expiresAt! - START >= 120_000);
  // now fresh for the margin too: served from the cache, nothing sent
  await s.client.getToken({ id: seeded.id! }, { minLifetimeMs: 120_000 });
  assertEquals(s.server.stats().refreshToken, 1);
});

Deno.test("getToken minLifetimeMs: capped at half a short lifetime, so each expiry costs one refresh", async () => {
  // tokens live 60 s; the caller asks for 120 s
  await using s = await setup({ expiresInSec: 60 });
  await s.seed();
  const ask = () =>
    s.client.getToken({ userName: USER }, { minLifetimeMs: 120_000 });
  const first = await ask();
  assertEquals(s.server.stats().refreshToken, 1);
  for (let step = 0; step < 10; step++) {
    s.clock.now += 5_000;
    await ask();
  }
  // 50 s later: at most half the 60 s lifetime was kept, so 1 more refresh
  // (at 30 s), not one per call
  assertEquals(s.server.stats().refreshToken, 2);
  assertNotEquals((await ask()).accessToken, first.accessToken);
});

Deno.test("getToken minLifetimeMs: two clients on one store refresh once between them", async () => {
  await using s = await setup({ latencyMs: 50 }, REAL);
  await s.seed({ accessToken: "1000.old", expiresAt: START + 30_000 });
  const other = s.clientWith();
  const results = await Promise.all(
    [s.client, other].flatMap((client) =>
      Array.from(
        { length: 10 },
        () => client.getToken({ userName: USER }, { minLifetimeMs: 60_000 }),
      )
    ),
  );
  assertEquals(s.server.stats().refreshToken, 1);
  assertEquals(new Set(results.map((t) => t.accessToken)).size, 1);
});

Deno.test("getToken minLifetimeMs: an invalid value is a TypeError naming it", async () => {
  await using s = await setup();
  await s.seed();
  for (const bad of [-1, Infinity, Number.NaN, "60000"]) {
    const error = await assertRejects(
      () =>
        s.client.getToken({ userName: USER }, {
          minLifetimeMs: bad as number,
        }),
      TypeError,
    );
    assert(error.message.includes('"minLifetimeMs"'), error.message);
  }
  assertEquals(s.server.stats().token, 0);
});

Deno.test("refresh rejectedAccessToken: forced once per cooldown across clients; a token already replaced is returned as stored", async () => {
  // the cooldown is a lease on the store: it runs on real time
  await using s = await setup({}, { ...REAL, minRefreshIntervalMs: 300 });
  await s.seed({ accessToken: "1000.a", expiresAt: START + 3_600_000 });
  const other = s.clientWith();
  const query = { userName: USER };
  const first = await s.client.refresh(query, {
    rejectedAccessToken: "1000.a",
  });
  assertNotEquals(first.accessToken, "1000.a");
  assertEquals(s.server.stats().refreshToken, 1);
  // the other client saw the same rejection: the store already holds another access token
  const picked = await other.refresh(query, { rejectedAccessToken: "1000.a" });
  assertEquals(picked.accessToken, first.accessToken);
  assertEquals(s.server.stats().refreshToken, 1);
  // the new one refused too, within the cooldown: nothing sent, the stored token
  const held = await other.refresh(query, {
    rejectedAccessToken: first.accessToken,
  });
  assertEquals(held.accessToken, first.accessToken);
  assertEquals(s.server.stats().refreshToken, 1);
  // after the cooldown: forced again
  await REAL.sleep(320);
  const again = await other.refresh(query, {
    rejectedAccessToken: first.accessToken,
  });
  assertNotEquals(again.accessToken, first.accessToken);
  assertEquals(s.server.stats().refreshToken, 2);
  // without the option: a plain forced refresh, no cooldown
  await s.client.refresh(query);
  assertEquals(s.server.stats().refreshToken, 3);
  await assertRejects(
    () => s.client.refresh(query, { rejectedAccessToken: "" }),
    TypeError,
    '"rejectedAccessToken"',
  );
});

Deno.test("exchangeGrantToken: 6 clients on one store exchange one code with one request", async () => {
  await using s = await setup({ latencyMs: 100 }, REAL);
  const code = s.server.issueGrantCode({ userName: USER });
  const clients = Array.from({ length: 6 }, () => s.clientWith());
  const tokens = await Promise.all(
    clients.map((client) =>
      client.exchangeGrantToken(code, { userName: USER })
    ),
  );
  assertEquals(s.server.stats().authorizationCode, 1);
  assertEquals(new Set(tokens.map((t) => t.id)).size, 1);
  assertEquals(new Set(tokens.map((t) => t.accessToken)).size, 1);
  assertEquals((await s.store.getTokens()).length, 1);
});

Deno.test("exchangeGrantToken: two clients on one Deno KV store, one request; the lease key holds no secret", async () => {
  const path = await Deno.makeTempFile({ suffix: ".kv" });
  await using server = await startTokenServer({ latencyMs: 100 });
  const stores = [
    await KvTokenStore.open({ path }),
    await KvTokenStore.open({ path }),
  ];
  try {
    const code = server.issueGrantCode({ userName: USER });
    const clients = stores.map((store) =>
      new TokenClient({
        store,
        clientId: DEFAULT_CLIENT.clientId,
        clientSecret: DEFAULT_CLIENT.clientSecret,
        redirectUrl: DEFAULT_CLIENT.redirectUrl,
        tokenUrl: server.url,
      })
    );
    const keys: string[] = [];
    const acquire = stores[0].lock.acquire.bind(stores[0].lock);
    stores[0].lock.acquire = (key, options) => {
      keys.push(key);
      return acquire(key, options);
    };
    const tokens = await Promise.all(
      clients.flatMap((client) =>
        [1, 2, 3].map(() => client.exchangeGrantToken(code))
      ),
    );
    assertEquals(server.stats().authorizationCode, 1);
    assertEquals(new Set(tokens.map((t) => t.id)).size, 1);
    assert(keys.some((key) => key.startsWith("exchange:")), String(keys));
    assert(keys.every((key) => !key.includes(code)));
  } finally {
    for (const store of stores) await store.close();
    await Deno.remove(path);
  }
});

Deno.test("exchangeGrantToken: a code stored under another user is refused with CONFLICT, nothing sent, nothing stored", async () => {
  await using s = await setup();
  const code = s.server.issueGrantCode({ userName: USER });
  const ada = await s.client.exchangeGrantToken(code, { userName: USER });
  const error = await assertRejects(
    () =>
      s.clientWith().exchangeGrantToken(code, {
        userName: "mallory@example.com",
      }),
    TokenStoreError,
  );
  assertEquals(error.code, "CONFLICT");
  assert(error.message.includes('"mallory@example.com"'), error.message);
  assert(!error.message.includes(code));
  assertEquals(s.server.stats().authorizationCode, 1);
  assertEquals((await s.store.getTokens()).map((t) => t.id), [ada.id]);
  // without a user: the stored token
  assertEquals((await s.clientWith().exchangeGrantToken(code)).id, ada.id);
});

Deno.test("exchangeGrantToken: a stored grant-only token holding the code is exchanged into that token", async () => {
  await using s = await setup({ latencyMs: 50 }, REAL);
  const code = s.server.issueGrantCode({ userName: USER });
  const stored = await s.store.saveToken(
    new OAuthToken({
      userName: USER,
      clientId: DEFAULT_CLIENT.clientId,
      grantToken: code,
    }),
  );
  const [a, b] = await Promise.all([
    s.client.exchangeGrantToken(code),
    s.clientWith().exchangeGrantToken(code),
  ]);
  assertEquals([a.id, b.id], [stored.id, stored.id]);
  assertEquals(a.accessToken, b.accessToken);
  assertEquals(s.server.stats().authorizationCode, 1);
});

Deno.test("store and forget: a token deleted or replaced in the store directly is not served from the cache", async () => {
  await using s = await setup();
  assertEquals(s.client.store, s.store);
  const seeded = await s.seed({
    accessToken: "1000.a",
    expiresAt: START + 3_600_000,
  });
  const other = await s.store.saveToken(
    new OAuthToken({
      userName: "grace@example.com",
      accessToken: "1000.g",
      expiresAt: START + 3_600_000,
    }),
  );
  assertEquals(await s.client.getAccessToken({ id: seeded.id! }), "1000.a");
  assertEquals(await s.client.getAccessToken({ id: other.id! }), "1000.g");
  await s.store.saveToken(seeded.with({ accessToken: "1000.b" }));
  // cached: the direct save is not seen until forgotten
  assertEquals(await s.client.getAccessToken({ id: seeded.id! }), "1000.a");
  s.client.forget(seeded.id);
  assertEquals(await s.client.getAccessToken({ id: seeded.id! }), "1000.b");
  assertEquals(await s.store.deleteToken(seeded.id!), true);
  s.client.forget(seeded.id);
  const error = await assertRejects(
    () => s.client.getAccessToken({ id: seeded.id! }),
    TokenStoreError,
  );
  assertEquals(error.code, "INVALID_QUERY");
  // forget() drops every token
  await s.store.deleteTokens();
  assertEquals(await s.client.getAccessToken({ id: other.id! }), "1000.g");
  s.client.forget();
  await assertRejects(
    () => s.client.getAccessToken({ id: other.id! }),
    TokenStoreError,
  );
  assertThrows(() => s.client.forget(42 as unknown as string), TypeError);
});
