import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import type { OAuthToken } from "../core/token.ts";
import type { TokenStore } from "../core/token_store.ts";
import type { MemoryTokenStore } from "../stores/memory.ts";
import { setup, USER } from "./fixtures/client_setup.ts";

/**
 * The real memory store, with saves that fail `failures` times with `code`
 * before they reach it: a store outage right after the token endpoint issued
 * new tokens.
 */
function failingSaves(
  inner: MemoryTokenStore,
  failures: number,
  code: "BACKEND" | "INVALID_TOKEN" = "BACKEND",
): TokenStore & { attempts: number } {
  const store = {
    attempts: 0,
    lock: inner.lock,
    findToken: inner.findToken.bind(inner),
    deleteToken: inner.deleteToken.bind(inner),
    getTokens: inner.getTokens.bind(inner),
    deleteTokens: inner.deleteTokens.bind(inner),
    findTokenById: inner.findTokenById.bind(inner),
    saveToken(token: OAuthToken): Promise<OAuthToken> {
      store.attempts++;
      if (store.attempts <= failures) {
        return Promise.reject(
          new TokenStoreError(code, "Cannot write: injected outage"),
        );
      }
      return inner.saveToken(token);
    },
  };
  return store;
}

/** Collects a client's events of `type`. */
function events(client: EventTarget, type: string): unknown[] {
  const seen: unknown[] = [];
  client.addEventListener(type, (event) => {
    seen.push((event as CustomEvent).detail);
  });
  return seen;
}

Deno.test("a refreshed (rotated) token is served at once and saved in the background when the store fails twice first", async () => {
  await using s = await setup({ rotateRefreshTokens: true });
  const seeded = await s.seed();
  const store = failingSaves(s.store, 2);
  const client = s.clientWith({ store });
  const failed = events(client, "persistfailed");
  const token = await client.refresh({ userName: USER });
  assertNotEquals(token.refreshToken, seeded.refreshToken);
  assert(s.server.isValid(token.accessToken!), "callers get the new token");
  // served from memory while the save is retried, without a second refresh
  assertEquals(
    await client.getAccessToken({ userName: USER }),
    token.accessToken,
  );
  await client.flush();
  assertEquals(store.attempts, 3);
  assertEquals(s.server.stats().refreshToken, 1);
  const stored = await s.store.findTokenById(seeded.id!);
  assertEquals(stored?.refreshToken, token.refreshToken);
  assert(
    s.server.isValid(stored!.refreshToken!),
    "the stored refresh token is the live one",
  );
  assertEquals(failed, []);
  assertEquals(
    await s.store.lock.acquire(`refresh:${seeded.id}`, { ttlMs: 1000 }) !==
      null,
    true,
    "the lease was released once the save landed",
  );
});

Deno.test("a store that stays down: the issued token keeps being served, the save is retried for persistTimeoutMs, then persistfailed", async () => {
  await using s = await setup({ rotateRefreshTokens: true }, {
    persistTimeoutMs: 60_000,
  });
  const seeded = await s.seed();
  const store = failingSaves(s.store, Infinity);
  const client = s.clientWith({ store });
  const failed = events(client, "persistfailed");
  const token = await client.refresh({ userName: USER });
  assert(s.server.isValid(token.refreshToken!));
  await client.flush();
  assertEquals(failed.length, 1);
  const detail = failed[0] as { id: string; error: TokenStoreError };
  assertEquals(detail.id, seeded.id);
  assertEquals(detail.error.code, "BACKEND");
  assert(store.attempts > 3, `${store.attempts} save attempts`);
  const waited = s.sleeps.reduce((a, b) => a + b, 0);
  assert(
    waited <= 60_000 && waited > 30_000,
    `the retries waited ${waited} ms of the 60 000 ms budget`,
  );
  // still served in this process: no second refresh of a spent token
  assertEquals(
    await client.getAccessToken({ userName: USER }),
    token.accessToken,
  );
  assertEquals(s.server.stats().refreshToken, 1);
  assertEquals(
    (await s.store.findTokenById(seeded.id!))?.toRecord(),
    seeded.toRecord(),
    "the store was never written",
  );
});

Deno.test("a save refused as invalid is not retried: persistfailed at once, and the issued token is still served", async () => {
  await using s = await setup({ rotateRefreshTokens: true });
  await s.seed();
  const store = failingSaves(s.store, Infinity, "INVALID_TOKEN");
  const client = s.clientWith({ store });
  const failed = events(client, "persistfailed");
  const token = await client.refresh({ userName: USER });
  assertEquals(store.attempts, 1);
  assertEquals(failed.length, 1);
  assertEquals(
    (failed[0] as { error: TokenStoreError }).error.code,
    "INVALID_TOKEN",
  );
  assert(s.server.isValid(token.refreshToken!));
  assertEquals(
    await client.getAccessToken({ userName: USER }),
    token.accessToken,
  );
  // the next refresh presents the live (rotated) refresh token, not the spent one
  const again = await client.refresh({ userName: USER });
  assert(s.server.isValid(again.accessToken!));
  assertEquals(s.server.stats().refreshToken, 2);
  assertEquals(s.server.presentedTwice(), 0);
});
