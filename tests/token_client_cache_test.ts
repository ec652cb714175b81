/**
 * The client's token cache and hot path (design "Cache"): lookups served
 * from memory within `maxStaleMs`, shared store reads, refresh ahead of
 * expiry, invalidation, LRU bounds, and the durability rules kept.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenQuery, TokenStore } from "../core/token_store.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { setup, START, USER } from "./fixtures/client_setup.ts";

/** The memory store, counting reads. */
function counting(inner: MemoryTokenStore) {
  const reads = { find: 0, byId: 0 };
  const store: TokenStore = {
    lock: inner.lock,
    findToken(query: TokenQuery | OAuthToken) {
      reads.find++;
      return inner.findToken(query);
    },
    findTokenById(id: string) {
      reads.byId++;
      return inner.findTokenById(id);
    },
    saveToken: (t) => inner.saveToken(t),
    deleteToken: (id) => inner.deleteToken(id),
    getTokens: () => inner.getTokens(),
    deleteTokens: () => inner.deleteTokens(),
  };
  return { store, reads };
}

const FRESH = {
  accessToken: "1000.fresh-access",
  expiresAt: START + 3_600_000,
};

Deno.test("a fresh token is served from memory: 1,000 concurrent callers share one store read, later calls make none", async () => {
  await using s = await setup();
  await s.seed(FRESH);
  const { store, reads } = counting(s.store);
  const client = s.clientWith({ store });
  const tokens = await Promise.all(
    Array.from(
      { length: 1000 },
      () => client.getAccessToken({ userName: USER }),
    ),
  );
  assert(tokens.every((t) => t === FRESH.accessToken));
  assertEquals(reads.find, 1, "one shared store read");
  for (let i = 0; i < 100; i++) await client.getAccessToken({ userName: USER });
  assertEquals(reads.find, 1, "cached");
  assertEquals(s.server.stats().token, 0);
  // cache: false reads the store every time
  const uncached = s.clientWith({ store, cache: false });
  for (let i = 0; i < 10; i++) {
    await uncached.getAccessToken({ userName: USER });
  }
  assertEquals(reads.find, 11);
});

Deno.test("maxStaleMs bounds how long a token deleted elsewhere is served", async () => {
  await using s = await setup();
  const seeded = await s.seed(FRESH);
  const client = s.clientWith({ cache: { maxStaleMs: 200 } });
  assertEquals(
    await client.getAccessToken({ userName: USER }),
    FRESH.accessToken,
  );
  await s.store.deleteToken(seeded.id!); // by another process, say
  assertEquals(
    await client.getAccessToken({ userName: USER }),
    FRESH.accessToken,
    "served within the staleness bound",
  );
  await new Promise((resolve) => setTimeout(resolve, 250));
  const error = await assertRejects(
    () => client.getAccessToken({ userName: USER }),
    TokenStoreError,
  );
  assertEquals(error.code, "INVALID_QUERY");
});

Deno.test("revoke through the client stops serving the token at once", async () => {
  await using s = await setup();
  await s.seed(FRESH);
  await s.client.getAccessToken({ userName: USER });
  await s.client.revoke({ userName: USER });
  const error = await assertRejects(
    () => s.client.getAccessToken({ userName: USER }),
    TokenStoreError,
  );
  assertEquals(error.code, "INVALID_QUERY");
});

Deno.test("refresh and saves through the client update the cache at once", async () => {
  await using s = await setup();
  await s.seed(FRESH);
  const { store, reads } = counting(s.store);
  const client = s.clientWith({ store });
  await client.getAccessToken({ userName: USER });
  const refreshed = await client.refresh({ userName: USER });
  const before = reads.find;
  assertEquals(
    await client.getAccessToken({ userName: USER }),
    refreshed.accessToken,
  );
  assertEquals(reads.find, before, "served from the cache");
});

Deno.test("refresh ahead: 100 callers within the skew are served the valid token while exactly one background request refreshes it", async () => {
  await using s = await setup({ latencyMs: 200 });
  await s.seed({ accessToken: "1000.soon", expiresAt: START + 30_000 });
  const started = Date.now();
  const tokens = await Promise.all(
    Array.from(
      { length: 100 },
      () => s.client.getAccessToken({ userName: USER }),
    ),
  );
  const servedMs = Date.now() - started;
  assert(tokens.every((t) => t === "1000.soon"));
  assert(servedMs < 200, `callers waited ${servedMs} ms for the endpoint`);
  await s.client.flush();
  assertEquals(s.server.stats().refreshToken, 1);
  const next = await s.client.getAccessToken({ userName: USER });
  assert(s.server.isValid(next));
  assertEquals(s.server.stats().refreshToken, 1);
});

Deno.test("an expired token is never served from the cache: callers wait for the refresh", async () => {
  await using s = await setup();
  await s.seed({ accessToken: "1000.soon", expiresAt: START + 30_000 });
  await s.client.getAccessToken({ userName: USER });
  await s.client.flush();
  const cached = await s.client.getAccessToken({ userName: USER });
  s.clock.now = START + 2 * 3_600_000; // the refreshed token has expired
  const fresh = await s.client.getAccessToken({ userName: USER });
  assert(fresh !== cached);
  assert(s.server.isValid(fresh));
});

Deno.test("the cache never hides a refresh token rotated by another client: the refresh reads the store", async () => {
  await using s = await setup({
    rotateRefreshTokens: true,
    reuseDetection: true,
  });
  await s.seed(FRESH);
  const other = s.clientWith();
  await s.client.getAccessToken({ userName: USER }); // cached with the first refresh token
  await other.refresh({ userName: USER }); // rotates; the store holds the new one
  s.clock.now = START + 2 * 3_600_000;
  const token = await s.client.getToken({ userName: USER });
  assert(s.server.isValid(token.refreshToken!));
  assertEquals(s.server.presentedTwice(), 0);
  assertEquals(s.server.stats().familiesRevoked, 0);
});

Deno.test("the cache holds at most maxEntries tokens: the least recently used is read again", async () => {
  await using s = await setup();
  for (let i = 0; i < 30; i++) {
    await s.store.saveToken(
      new OAuthToken({ userName: `u${i}@example.com`, ...FRESH }),
    );
  }
  const { store, reads } = counting(s.store);
  const client = s.clientWith({ store, cache: { maxEntries: 10 } });
  for (let i = 0; i < 30; i++) {
    await client.getAccessToken({ userName: `u${i}@example.com` });
  }
  assertEquals(reads.find, 30);
  await client.getAccessToken({ userName: "u29@example.com" }); // recent: cached
  assertEquals(reads.find, 30);
  await client.getAccessToken({ userName: "u0@example.com" }); // evicted
  assertEquals(reads.find, 31);
});

Deno.test("cache options are checked", () => {
  for (
    const cache of [
      { maxEntries: 0 },
      { maxEntries: 1.5 },
      { maxStaleMs: -1 },
      null,
      "yes",
    ]
  ) {
    let thrown: unknown;
    try {
      new TokenClient({
        store: new MemoryTokenStore(),
        clientId: "1000.C",
        clientSecret: "s",
        cache: cache as unknown as false,
      });
    } catch (error) {
      thrown = error;
    }
    assert(thrown instanceof TypeError, JSON.stringify(cache));
    assert((thrown as Error).message.includes('"cache'), String(thrown));
  }
});

Deno.test("one query object changed between calls finds the token the new fields name, never the one planned before", async () => {
  const memory = new MemoryTokenStore();
  for (const userName of ["ada", "bob"]) {
    await memory.saveToken(
      new OAuthToken({ ...FRESH, userName, accessToken: `1000.${userName}` }),
    );
  }
  const client = new TokenClient({
    store: memory,
    clientId: "1000.C",
    clientSecret: "s",
    now: () => START,
    fetch: () => Promise.reject(new Error("not called: the tokens are fresh")),
  });
  const query: TokenQuery = { userName: "ada" };
  assertEquals(await client.getAccessToken(query), "1000.ada");
  query.userName = "bob";
  assertEquals(await client.getAccessToken(query), "1000.bob");
  query.userName = "ada";
  assertEquals(await client.getAccessToken(query), "1000.ada");
  query.userName = "carol";
  await assertRejects(
    () => client.getAccessToken(query),
    TokenStoreError,
    "no stored token matches",
  );
});

/** A client on `memory` whose token requests wait until `answer` is called. */
function heldEndpoint(memory: MemoryTokenStore) {
  let offsetMs = 0;
  const pending: (() => void)[] = [];
  let requests = 0;
  const client = new TokenClient({
    store: memory,
    clientId: "1000.C",
    clientSecret: "s",
    tokenUrl: "https://accounts.example.com/oauth/v2/token",
    now: () => START + offsetMs,
    fetch: () => {
      requests++;
      return new Promise<Response>((resolve) =>
        pending.push(() =>
          resolve(
            Response.json({
              access_token: `1000.new${requests}`,
              expires_in: 3600,
            }),
          )
        )
      );
    },
  });
  return {
    client,
    expire: () => offsetMs += 2 * 3_600_000,
    answer: () => pending.splice(0).forEach((send) => send()),
    requests: () => requests,
  };
}

Deno.test("callers of an expired cached token while its refresh runs share one promise per query, and all get the refreshed token", async () => {
  const memory = new MemoryTokenStore();
  const { id } = await memory.saveToken(
    new OAuthToken({ ...FRESH, userName: USER, refreshToken: "1000.r" }),
  );
  const e = heldEndpoint(memory);
  const byUser = { userName: USER };
  assertEquals(await e.client.getAccessToken(byUser), FRESH.accessToken);
  assertEquals(await e.client.getAccessToken({ id: id! }), FRESH.accessToken);
  e.expire();
  const first = e.client.getAccessToken(byUser); // starts the refresh
  const joined = Array.from(
    { length: 500 },
    () => e.client.getAccessToken({ userName: USER }),
  );
  const byId = Array.from(
    { length: 500 },
    () => e.client.getAccessToken({ id: id! }),
  );
  assert(joined.every((p) => p === joined[0]), "one promise for the query");
  assert(byId.every((p) => p === byId[0]), "one promise for the other query");
  assert(joined[0] !== byId[0] && joined[0] !== first);
  while (e.requests() === 0) await new Promise((r) => setTimeout(r, 1));
  e.answer();
  const tokens = await Promise.all([first, ...joined, ...byId]);
  assert(tokens.every((t) => t === "1000.new1"), "every caller, the new token");
  assertEquals(e.requests(), 1);
  // the refresh ended: later callers are served from the cache, not shared
  assertEquals(await e.client.getAccessToken(byUser), "1000.new1");
});

Deno.test("a token deleted while callers wait for its refresh: they get the token their query matches now", async () => {
  const memory = new MemoryTokenStore();
  const { id } = await memory.saveToken(
    new OAuthToken({ ...FRESH, userName: USER, refreshToken: "1000.r" }),
  );
  const e = heldEndpoint(memory);
  assertEquals(
    await e.client.getAccessToken({ userName: USER }),
    FRESH.accessToken,
  );
  e.expire();
  // another process holds the refresh lease: the callers wait for it
  const lease = await memory.lock.acquire(`refresh:${id}`, { ttlMs: 60_000 });
  const callers = Array.from(
    { length: 100 },
    () => e.client.getAccessToken({ userName: USER }),
  );
  // it deletes the token and saves a fresh one for the user, then lets go
  await memory.deleteToken(id!);
  await memory.saveToken(
    new OAuthToken({
      userName: USER,
      accessToken: "1000.replacement",
      expiresAt: START + 4 * 3_600_000,
    }),
  );
  await lease!.release();
  const tokens = await Promise.all(callers);
  assert(tokens.every((t) => t === "1000.replacement"), String(tokens[0]));
  assertEquals(e.requests(), 0);
});
