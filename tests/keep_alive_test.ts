/**
 * `client.keepAlive` against the fixture token server: which tokens are due
 * (idle, refresh token expiring, never recorded) and which are skipped (fresh,
 * revoked, no refresh token), a revoked user found with no user call, a
 * failure counted and not thrown, the concurrency bound (requests in flight
 * at once, with latency), and two runs at once on one store refreshing
 * every due token exactly once.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { OAuthToken } from "../core/token.ts";
import type { TokenClient } from "../core/token_client.ts";
import type { TokenStatus } from "../core/token_status.ts";
import type { TokenStore } from "../core/token_store.ts";
import { setup, START } from "./fixtures/client_setup.ts";
import { DEFAULT_CLIENT, type TokenServer } from "./fixtures/token_server.ts";

const DAY = 86_400_000;

/** Saves a token of `userName` with a refresh token the server issued. */
async function seedUser(
  store: TokenStore,
  server: TokenServer,
  userName: string,
  status?: Omit<TokenStatus, "id">,
): Promise<OAuthToken> {
  const token = await store.saveToken(
    new OAuthToken({
      userName,
      clientId: DEFAULT_CLIENT.clientId,
      refreshToken: server.issueRefreshToken({ userName }),
    }),
  );
  if (status !== undefined) {
    await store.status!.put({ id: token.id!, ...status });
  }
  return token;
}

/** Revokes a refresh token at the fixture, as a user removing the app would. */
async function revokeAtServer(server: TokenServer, token: string) {
  const response = await fetch(server.revokeUrl, {
    method: "POST",
    body: new URLSearchParams({ token }),
  });
  await response.body?.cancel();
}

/** The `fetch` of a client, counting token requests in flight at once. */
function inFlightFetch() {
  const counts = { now: 0, max: 0, sent: 0 };
  const fetch: typeof globalThis.fetch = async (input, init) => {
    counts.now++;
    counts.sent++;
    counts.max = Math.max(counts.max, counts.now);
    try {
      return await globalThis.fetch(input, init);
    } finally {
      counts.now--;
    }
  };
  return { counts, fetch };
}

Deno.test("keepAlive refreshes idle, unrecorded and expiring tokens; skips fresh, revoked and refresh-less ones", async () => {
  await using s = await setup({ mode: "zoho" });
  const { store, server } = s;
  assert(store.status !== undefined, "MemoryTokenStore keeps statuses");
  const ok = (lastRefreshAt: number, more: Partial<TokenStatus> = {}) => ({
    state: "ok" as const,
    failures: 0,
    lastRefreshAt,
    ...more,
  });
  const idle = await seedUser(store, server, "idle", ok(START - 2 * DAY));
  const never = await seedUser(store, server, "never");
  const expiring = await seedUser(
    store,
    server,
    "expiring",
    ok(START - 60_000, { refreshTokenExpiresAt: START + 3 * DAY }),
  );
  const failing = await seedUser(store, server, "failing", {
    state: "failing",
    failures: 3,
    lastRefreshAt: START - 2 * DAY,
    lastFailureAt: START - 60_000,
    lastError: "server_error",
  });
  await seedUser(store, server, "fresh", ok(START - 60_000));
  await seedUser(
    store,
    server,
    "far",
    ok(START - 60_000, {
      refreshTokenExpiresAt: START + 30 * DAY,
    }),
  );
  await seedUser(store, server, "revoked", {
    state: "revoked",
    failures: 1,
    lastRefreshAt: START - 30 * DAY,
  });
  await store.saveToken(
    new OAuthToken({
      userName: "access-only",
      accessToken: "1000.a",
      expiresAt: START - 1,
    }),
  );
  const client = s.clientWith();
  const recovered: string[] = [];
  client.addEventListener("recovered", (e) => recovered.push(e.detail.id));
  const report = await client.keepAlive();
  assertEquals(report, {
    checked: 8,
    refreshed: 4,
    failed: 0,
    revoked: 0,
    skipped: 4,
  });
  assertEquals(server.stats().refreshToken, 4);
  for (const token of [idle, never, expiring, failing]) {
    const status = await client.status({ id: token.id! });
    assertEquals([status?.state, status?.lastRefreshAt], ["ok", START]);
  }
  assertEquals(recovered, [failing.id]);
  // now all fresh, but for the refresh token known to expire within the
  // margin: the answers did not tell a later expiry
  assertEquals((await client.keepAlive()).refreshed, 1);
  assertEquals(server.stats().refreshToken, 5);
  // half a day later, with a shorter idleMs: every refresh token again
  s.clock.now = START + DAY / 2;
  assertEquals(
    (await client.keepAlive({ idleMs: DAY / 4, concurrency: 1 })).refreshed,
    6,
  );
  assertEquals(server.stats().refreshToken, 11);
});

Deno.test("keepAlive finds a revoked user with no user call, and counts a failure without throwing", async () => {
  await using s = await setup({ mode: "zoho" }, { retry: { maxAttempts: 1 } });
  const { store, server } = s;
  const users = await Promise.all(
    ["ada", "bob", "cy", "dee"].map((u) => seedUser(store, server, u)),
  );
  const client = s.clientWith();
  const revokedEvents: string[] = [];
  client.addEventListener("revoked", (e) => revokedEvents.push(e.detail.id));
  await revokeAtServer(server, users[1].refreshToken!);
  server.setFailures([]);
  const report = await client.keepAlive({ concurrency: 1 });
  assertEquals(report, {
    checked: 4,
    refreshed: 3,
    failed: 0,
    revoked: 1,
    skipped: 0,
  });
  assertEquals(revokedEvents, [users[1].id]);
  const status = await client.status({ id: users[1].id! });
  assertEquals([status?.state, status?.lastError], ["revoked", "invalid_code"]);
  assertEquals(
    (await client.statuses()).filter((st) => st.state === "revoked").length,
    1,
  );
  // the next run leaves the revoked one alone: nothing sent for it
  s.clock.now = START + 2 * DAY;
  const sent = server.stats().refreshToken;
  server.setFailures([{ status: 503 }]); // the first refresh fails
  const next = await client.keepAlive({ concurrency: 1 });
  assertEquals(next, {
    checked: 4,
    refreshed: 2,
    failed: 1,
    revoked: 0,
    skipped: 1,
  });
  assertEquals(server.stats().refreshToken, sent + 3);
  const failing = (await client.statuses()).filter((st) =>
    st.state === "failing"
  );
  assertEquals(failing.map((st) => st.lastError), ["server_error"]);
});

Deno.test("keepAlive runs at most `concurrency` refreshes at once", async () => {
  for (const concurrency of [1, 3, 4]) {
    await using s = await setup({ latencyMs: 30 });
    for (let i = 0; i < 12; i++) await seedUser(s.store, s.server, `u${i}`);
    const { counts, fetch } = inFlightFetch();
    const client = s.clientWith({ fetch });
    const options = concurrency === 4 ? undefined : { concurrency };
    const report = await client.keepAlive(options);
    assertEquals(report.refreshed, 12);
    assertEquals(s.server.stats().refreshToken, 12);
    assertEquals(counts.max, concurrency, `concurrency ${concurrency}`);
  }
});

Deno.test("keepAlive: two runs at once on one store refresh each of 55 due tokens once (5 revoked skipped)", async () => {
  await using s = await setup({ latencyMs: 5 });
  const { store, server } = s;
  for (let i = 0; i < 60; i++) {
    await seedUser(
      store,
      server,
      `u${i}`,
      i < 5
        ? { state: "revoked", failures: 1, lastRefreshAt: START - 9 * DAY }
        : i < 30
        ? { state: "ok", failures: 0, lastRefreshAt: START - 2 * DAY }
        : undefined,
    );
  }
  // real waits: the second run waits for the first's leases
  const clients: TokenClient[] = [
    s.clientWith({ sleep: undefined }),
    s.clientWith({ sleep: undefined }),
  ];
  const reports = await Promise.all(
    clients.map((c, i) => c.keepAlive({ concurrency: 3 + i })),
  );
  assertEquals(server.stats().refreshToken, 55);
  assertEquals(server.presentedTwice(), 0);
  const sum = (key: keyof (typeof reports)[0]) =>
    reports.reduce((n, r) => n + r[key], 0);
  assertEquals(reports.map((r) => r.checked), [60, 60]);
  assertEquals([sum("refreshed"), sum("failed"), sum("revoked")], [55, 0, 0]);
  assertEquals(sum("skipped"), 2 * 60 - 55);
  const statuses = await clients[0].statuses();
  assertEquals(statuses.filter((st) => st.state === "ok").length, 55);
  assertEquals(statuses.filter((st) => st.state === "revoked").length, 5);
});

Deno.test("keepAlive: a token another client refreshed before the run read it, its status not written yet, is not refreshed again", async () => {
  await using s = await setup();
  const { store, server } = s;
  const token = await seedUser(store, server, "ada");
  // client A's status writes wait for a gate
  const own = store.status!;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  Object.defineProperty(store, "status", {
    configurable: true,
    value: {
      get: (id: string) => own.get(id),
      put: (st: TokenStatus) => gate.then(() => own.put(st)),
      list: () => own.list(),
      delete: (id: string) => own.delete(id),
    },
  });
  const a = s.clientWith({ sleep: undefined });
  Object.defineProperty(store, "status", { configurable: true, value: own });
  const b = s.clientWith({ sleep: undefined });
  await a.refresh({ id: token.id! }); // saved; its status still being written
  assertEquals(await own.get(token.id!), null);
  const run = b.keepAlive(); // sees the new token and no status: due
  await new Promise((resolve) => setTimeout(resolve, 100));
  open();
  assertEquals(await run, {
    checked: 1,
    refreshed: 0,
    failed: 0,
    revoked: 0,
    skipped: 1,
  });
  assertEquals(server.stats().refreshToken, 1);
  assertEquals((await b.status({ id: token.id! }))?.lastRefreshAt, START);
  await a.flush();
});

Deno.test("keepAlive refuses invalid options", async () => {
  await using s = await setup();
  const client = s.clientWith();
  for (
    const options of [
      { concurrency: 0 },
      { concurrency: 1.5 },
      { idleMs: -1 },
      { refreshTokenMarginMs: Infinity },
      { idleMs: "1" as unknown as number },
    ]
  ) {
    await assertRejects(() => client.keepAlive(options), TypeError);
  }
});
