import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
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

Deno.test("a refreshed (rotated) token is saved even when the store fails twice first", async () => {
  await using s = await setup({ rotateRefreshTokens: true });
  const seeded = await s.seed();
  const store = failingSaves(s.store, 2);
  const client = s.clientWith({ store });
  const token = await client.refresh({ userName: USER });
  assertEquals(store.attempts, 3);
  assertEquals(s.server.stats().refreshToken, 1);
  assertNotEquals(token.refreshToken, seeded.refreshToken);
  const stored = await s.store.findTokenById(seeded.id!);
  assertEquals(stored?.refreshToken, token.refreshToken);
  assert(
    s.server.isValid(stored!.refreshToken!),
    "the stored refresh token is the live one",
  );
  assertEquals(s.sleeps.length, 2, "two backoff waits between the attempts");
});

Deno.test("a store that stays down fails the refresh after the bounded save attempts", async () => {
  await using s = await setup({}, { retry: { maxAttempts: 3 } });
  const seeded = await s.seed();
  const store = failingSaves(s.store, 100);
  const client = s.clientWith({ store });
  const error = await assertRejects(
    () => client.refresh({ userName: USER }),
    TokenStoreError,
  );
  assertEquals(error.code, "BACKEND");
  assertEquals(store.attempts, 3);
  assertEquals(s.server.stats().refreshToken, 1);
  assertEquals(
    (await s.store.findTokenById(seeded.id!))?.toRecord(),
    seeded.toRecord(),
  );
});

Deno.test("a save refused as invalid is not retried", async () => {
  await using s = await setup();
  await s.seed();
  const store = failingSaves(s.store, 100, "INVALID_TOKEN");
  const client = s.clientWith({ store });
  const error = await assertRejects(
    () => client.refresh({ userName: USER }),
    TokenStoreError,
  );
  assertEquals(error.code, "INVALID_TOKEN");
  assertEquals(store.attempts, 1);
});
