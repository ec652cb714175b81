/**
 * Refresh durability rules 6–9 and the client's events, in one process,
 * against the fixture token server (rotation with reuse detection, lost
 * answers, 401 reasons, short-lived tokens).
 */

import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import { OAuthError, TokenRevokedError } from "../core/errors.ts";
import type { TokenStore } from "../core/token_store.ts";
import { TokenClient } from "../core/token_client.ts";
import { setup, START, USER } from "./fixtures/client_setup.ts";
import { API_FAILURES, DEFAULT_CLIENT } from "./fixtures/token_server.ts";

/** Collects a client's events of `type`. */
function events(client: EventTarget, type: string): unknown[] {
  const seen: unknown[] = [];
  client.addEventListener(type, (event) => {
    seen.push((event as CustomEvent).detail);
  });
  return seen;
}

const ROTATING = { rotateRefreshTokens: true, reuseDetection: true } as const;

Deno.test("rule 6: a refresh that times out on a rotating server is never resent; later calls and other clients do not present it either", async () => {
  await using s = await setup({ ...ROTATING, latencyMs: 800 }, {
    requestTimeoutMs: 300,
  });
  const seeded = await s.seed();
  const errors = events(s.client, "refresherror");
  const error = await assertRejects(
    () => s.client.getAccessToken({ userName: USER }),
    OAuthError,
  );
  assertEquals(error.code, "refresh_outcome_unknown");
  assertEquals(errors.length, 1);
  // again in this process, and from a second client (another process's view)
  for (const client of [s.client, s.clientWith()]) {
    const again = await assertRejects(
      () => client.getAccessToken({ userName: USER }),
      OAuthError,
    );
    assertEquals(again.code, "refresh_outcome_unknown");
  }
  await new Promise((resolve) => setTimeout(resolve, 600));
  assertEquals(s.server.stats().refreshToken, 1, "presented once");
  assertEquals(s.server.presentedTwice(), 0);
  assertEquals(s.server.stats().familiesRevoked, 0);
  assertEquals(
    (await s.store.findTokenById(seeded.id!))?.refreshToken,
    seeded.refreshToken,
    "nothing deleted",
  );
});

Deno.test("rule 6: an answer lost after the server rotated is not retried; a newer refresh token stored meanwhile is used", async () => {
  await using s = await setup({ ...ROTATING });
  const seeded = await s.seed({ clientId: DEFAULT_CLIENT.clientId });
  s.server.setFailures(["issue-then-drop"]);
  const error = await assertRejects(
    () => s.client.refresh({ userName: USER }),
    OAuthError,
  );
  assertEquals(error.code, "refresh_outcome_unknown");
  assertEquals(s.server.stats().lost, 1);
  // The user authorises again: a new refresh token lands in the store.
  const code = s.server.issueGrantCode({ userName: USER });
  await s.clientWith().exchangeGrantToken(code, { userName: USER });
  const fresh = await s.client.refresh({ userName: USER });
  assert(s.server.isValid(fresh.accessToken!));
  assertEquals((await s.store.getTokens()).length, 1);
  assertEquals(fresh.id, seeded.id);
  assertEquals(s.server.presentedTwice(), 0);
  assertEquals(s.server.stats().familiesRevoked, 0);
});

Deno.test("rule 6: rotation false (Zoho) retries a timed-out refresh; auto learns that a server does not rotate", async () => {
  await using s = await setup({}, {
    requestTimeoutMs: 300,
    retry: { maxAttempts: 2 },
  });
  await s.seed();
  await s.client.refresh({ userName: USER }); // answer without a new refresh token
  s.server.setLatency(800);
  const error = await assertRejects(
    () => s.client.refresh({ userName: USER }),
    OAuthError,
  );
  assertEquals(error.code, "timeout");
  assertEquals(s.server.stats().refreshToken, 3, "the timeout was retried");
  s.server.setLatency(0);
  await new Promise((resolve) => setTimeout(resolve, 900));
});

Deno.test("rule 7: invalid_grant after a race with a client that took no lease uses the winner's token", async () => {
  await using s = await setup({ rotateRefreshTokens: true });
  const seeded = await s.seed({ accessToken: "1000.old", expiresAt: START });
  const rogueStore: TokenStore = {
    findToken: (q) => s.store.findToken(q),
    saveToken: (t) => s.store.saveToken(t),
    deleteToken: (id) => s.store.deleteToken(id),
    getTokens: () => s.store.getTokens(),
    deleteTokens: () => s.store.deleteTokens(),
    findTokenById: (id) => s.store.findTokenById(id),
  };
  const rogue = s.clientWith({ store: rogueStore });
  let raced = false;
  const client = s.clientWith({
    fetch: async (input, init) => {
      if (!raced) {
        raced = true;
        await rogue.refresh({ userName: USER }); // wins, rotates, saves
      }
      return await fetch(input, init);
    },
  });
  const revoked = events(client, "revoked");
  const token = await client.getToken({ userName: USER });
  const stored = await s.store.findTokenById(seeded.id!);
  assertEquals(token.accessToken, stored?.accessToken);
  assert(s.server.isValid(token.accessToken!));
  assertEquals(revoked, []);
  assertEquals(s.server.stats().refreshToken, 2);
});

Deno.test("rule 7: a refused stored refresh token is TokenRevokedError with a revoked event, and nothing is deleted", async () => {
  await using s = await setup();
  const seeded = await s.seed({ accessToken: "1000.old", expiresAt: START });
  await fetch(s.server.revokeUrl, {
    method: "POST",
    body: new URLSearchParams({ token: seeded.refreshToken! }),
  }).then((r) => r.body?.cancel());
  const revoked = events(s.client, "revoked");
  const errors = events(s.client, "refresherror");
  await assertRejects(
    () => s.client.getAccessToken({ userName: USER }),
    TokenRevokedError,
  );
  assertEquals(revoked, [{ id: seeded.id }]);
  assertEquals(errors.length, 1);
  assertEquals(
    (await s.store.findTokenById(seeded.id!))?.toRecord(),
    seeded.toRecord(),
  );
});

Deno.test("rule 8: a 401 for a scope error never refreshes; 20 token 401s in a row refresh once per minRefreshIntervalMs", async () => {
  await using s = await setup();
  await s.seed();
  await s.client.getAccessToken({ userName: USER });
  const before = s.server.stats().refreshToken;
  for (const failure of ["zohoScopeMismatch", "bearerInsufficientScope"]) {
    s.server.setApiFailure(API_FAILURES[failure as "zohoScopeMismatch"]);
    for (let i = 0; i < 20; i++) {
      const response = await s.client.fetch("/api/echo", {
        token: { userName: USER },
      });
      assertEquals(response.status, 401);
      await response.body?.cancel();
    }
  }
  assertEquals(s.server.stats().refreshToken, before, "scope errors: none");
  for (
    const failure of ["zohoInvalidToken", "bearerInvalidToken", "noReason"]
  ) {
    s.server.setApiFailure(API_FAILURES[failure as "noReason"]);
    for (let i = 0; i < 20; i++) {
      const response = await s.client.fetch("/api/echo", {
        token: { userName: USER },
      });
      assertEquals(response.status, 401);
      await response.body?.cancel();
    }
  }
  assertEquals(
    s.server.stats().refreshToken,
    before + 1,
    "60 token-error 401s: one forced refresh within the interval",
  );
  s.server.setApiFailure(null);
  const ok = await s.client.fetch("/api/echo", { token: { userName: USER } });
  assertEquals(ok.status, 200);
  await ok.body?.cancel();
});

Deno.test("rule 8: during the cooldown a token refreshed by another client is picked up", async () => {
  await using s = await setup();
  await s.seed();
  const other = s.clientWith();
  await s.client.getAccessToken({ userName: USER });
  s.server.expireAccessTokens();
  const first = await s.client.fetch("/api/echo", {
    token: { userName: USER },
  });
  assertEquals(first.status, 200); // forced refresh, cooldown starts
  await first.body?.cancel();
  s.server.expireAccessTokens();
  await other.refresh({ userName: USER }); // another process refreshes
  const second = await s.client.fetch("/api/echo", {
    token: { userName: USER },
  });
  assertEquals(second.status, 200);
  await second.body?.cancel();
  assertEquals(s.server.stats().refreshToken, 3);
});

Deno.test("rule 9: a token living 30 s with the default 60 s skew is refreshed once per expiry", async () => {
  await using s = await setup({ expiresInSec: 30 });
  await s.seed();
  const tokens = await Promise.all(
    Array.from(
      { length: 50 },
      () => s.client.getAccessToken({ userName: USER }),
    ),
  );
  assertEquals(new Set(tokens).size, 1);
  assertEquals(s.server.stats().refreshToken, 1);
  for (let i = 0; i < 20; i++) {
    assertEquals(await s.client.getAccessToken({ userName: USER }), tokens[0]);
    s.clock.now += 500;
  }
  assertEquals(s.server.stats().refreshToken, 1, "20 sequential calls: none");
  s.clock.now = START + 16_000; // past half the lifetime: refreshed ahead
  assertEquals(await s.client.getAccessToken({ userName: USER }), tokens[0]);
  await s.client.flush();
  const next = await s.client.getAccessToken({ userName: USER });
  assertNotEquals(next, tokens[0]);
  assertEquals(s.server.stats().refreshToken, 2);
});

Deno.test("events: refresh, ratelimited and refresherror carry ids and figures, never a secret", async () => {
  await using s = await setup({ rateLimit: { max: 1, windowMs: 600_000 } }, {
    retry: { maxAttempts: 1 },
  });
  const seeded = await s.seed();
  const seen: unknown[] = [];
  for (const type of ["refresh", "ratelimited", "refresherror"]) {
    s.client.addEventListener(type, (event) => {
      seen.push({ type, detail: (event as CustomEvent).detail });
    });
  }
  const token = await s.client.refresh({ userName: USER });
  await assertRejects(() => s.client.refresh({ userName: USER }), OAuthError);
  assertEquals(seen.map((e) => (e as { type: string }).type), [
    "refresh",
    "ratelimited",
    "refresherror",
  ]);
  const refresh = (seen[0] as { detail: Record<string, unknown> }).detail;
  assertEquals([refresh.id, refresh.rotated], [seeded.id, false]);
  assert(typeof refresh.durationMs === "number");
  const shown = Deno.inspect(seen, { depth: 10 }) + JSON.stringify(seen);
  for (
    const secret of [
      seeded.refreshToken!,
      token.accessToken!,
      DEFAULT_CLIENT.clientSecret,
    ]
  ) {
    assert(!shown.includes(secret), "an event detail shows a secret");
  }
});

Deno.test("events: a rotating refresh reports rotated, and an exchange reports refresh", async () => {
  await using s = await setup({ rotateRefreshTokens: true });
  const refreshes = events(s.client, "refresh");
  const code = s.server.issueGrantCode({ userName: USER });
  const token = await s.client.exchangeGrantToken(code, { userName: USER });
  await s.client.refresh({ userName: USER });
  assertEquals(
    refreshes.map((d) => {
      const { id, rotated } = d as { id: string; rotated: boolean };
      return { id, rotated };
    }),
    [{ id: token.id, rotated: false }, { id: token.id, rotated: true }],
  );
});

Deno.test("options: persistTimeoutMs, rotation and minRefreshIntervalMs are checked", () => {
  const base = {
    store: { findToken: () => Promise.resolve(null) } as unknown as TokenStore,
    clientId: "1000.C",
    clientSecret: "s",
  };
  for (
    const [name, value] of [
      ["persistTimeoutMs", -1],
      ["minRefreshIntervalMs", Number.NaN],
      ["rotation", "sometimes"],
      ["leaseTtlMs", 0],
    ] as const
  ) {
    let thrown: unknown;
    try {
      new TokenClient({ ...base, [name]: value });
    } catch (error) {
      thrown = error;
    }
    assert(thrown instanceof TypeError, name);
    assert((thrown as Error).message.includes(`"${name}"`), name);
  }
});
