/**
 * Health (design "Health") against the fixture token server: every
 * exchange and refresh outcome recorded in `store.status` (ok, failing with
 * failures counting up and the error's code, revoked), `"recovered"` fired
 * once when a failing token refreshes again and when a revoked user
 * authorises again, `refresh_token_expires_in` / `x_refresh_token_expires_in`
 * read into `refreshTokenExpiresAt`, the round trips a record costs, and that
 * a status store that fails or hangs never fails or slows a refresh.
 */

import { assert, assertEquals, assertLess, assertRejects } from "@std/assert";
import { OAuthError, TokenRevokedError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStatus, TokenStatusStore } from "../core/token_status.ts";
import type { TokenStore } from "../core/token_store.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { setup, START, USER } from "./fixtures/client_setup.ts";
import { DEFAULT_CLIENT, type TokenServer } from "./fixtures/token_server.ts";

const DAY = 86_400_000;

/** Calls made to a status store. */
interface Calls {
  get: number;
  put: number;
  list: number;
}

/**
 * Gives `store` a status store counting its calls: its own when it has one,
 * else a map (until every store keeps statuses), optionally with `put`
 * replaced.
 */
function countStatuses(
  store: TokenStore,
  put?: (status: TokenStatus) => Promise<void>,
): Calls {
  const calls: Calls = { get: 0, put: 0, list: 0 };
  const map = new Map<string, TokenStatus>();
  const own: TokenStatusStore = store.status ?? {
    get: (id) => Promise.resolve(map.get(id) ?? null),
    put: (status) => (map.set(status.id, status), Promise.resolve()),
    list: () => Promise.resolve([...map.values()]),
    delete: (id) => (map.delete(id), Promise.resolve()),
  };
  const counted: TokenStatusStore = {
    get: (id) => (calls.get++, own.get(id)),
    put: (status) => (calls.put++, (put ?? own.put.bind(own))(status)),
    list: () => (calls.list++, own.list()),
    delete: (id) => own.delete(id),
  };
  Object.defineProperty(store, "status", { value: counted });
  return calls;
}

/** Revokes a refresh token at the fixture, as a user removing the app would. */
async function revokeAtServer(server: TokenServer, token: string) {
  const response = await fetch(server.revokeUrl, {
    method: "POST",
    body: new URLSearchParams({ token }),
  });
  await response.body?.cancel();
}

/** Records the ids of an event. */
function listen(client: TokenClient, type: "recovered" | "revoked") {
  const ids: string[] = [];
  client.addEventListener(type, (event) => ids.push(event.detail.id));
  return ids;
}

Deno.test("TokenClient records ok, failing (failures counting up, the error's code) and recovered once", async () => {
  await using s = await setup({ mode: "zoho" }, { retry: { maxAttempts: 2 } });
  countStatuses(s.store);
  const client = s.clientWith();
  const recovered = listen(client, "recovered");
  const token = await s.seed();
  const id = token.id!;
  assertEquals(await client.status({ id }), null); // nothing recorded yet

  await client.refresh({ id });
  assertEquals(await client.status({ userName: USER }), {
    id,
    state: "ok",
    failures: 0,
    lastRefreshAt: START,
  });

  // 5xx for both attempts: a failure; then 429 twice; then a garbled answer
  const failures = [
    [{ status: 503 }, { status: 503 }],
    [{ status: 429 }, { status: 429 }],
    ["garbage"], // not retried
  ] as const;
  const codes = ["server_error", "too_many_requests", "invalid_response"];
  for (const [i, pair] of failures.entries()) {
    s.clock.now = START + (i + 1) * 60_000;
    s.server.setFailures([...pair]);
    await assertRejects(() => client.refresh({ id }), OAuthError);
    assertEquals(await client.status({ id }), {
      id,
      state: "failing",
      failures: i + 1,
      lastRefreshAt: START,
      lastFailureAt: START + (i + 1) * 60_000,
      lastError: codes[i],
    });
  }
  assertEquals(recovered, []);

  s.clock.now = START + 10 * 60_000;
  await client.refresh({ id });
  await client.refresh({ id });
  assertEquals(await client.status({ id }), {
    id,
    state: "ok",
    failures: 0,
    lastRefreshAt: START + 10 * 60_000,
    lastFailureAt: START + 3 * 60_000,
    lastError: "invalid_response",
  });
  assertEquals(recovered, [id]); // once, not again for the next ok
  // no secret anywhere in a status
  const text = JSON.stringify(await client.statuses());
  const stored = await s.store.findTokenById(id);
  for (const secret of [stored!.refreshToken!, stored!.accessToken!]) {
    assert(!text.includes(secret));
  }
});

Deno.test("TokenClient records a refused refresh token as revoked; authorising the user again recovers it", async () => {
  for (const mode of ["zoho", "standard"] as const) {
    await using s = await setup({ mode });
    countStatuses(s.store);
    const client = s.clientWith();
    const recovered = listen(client, "recovered");
    const revokedEvents = listen(client, "revoked");
    // stored as an exchange stores it: with the client id
    const token = await s.seed({ clientId: DEFAULT_CLIENT.clientId });
    const id = token.id!;
    await client.refresh({ id });
    await revokeAtServer(s.server, token.refreshToken!);
    s.clock.now += 60_000;
    await assertRejects(() => client.refresh({ id }), TokenRevokedError);
    const refused = mode === "zoho" ? "invalid_code" : "invalid_grant";
    assertEquals(await client.status({ id }), {
      id,
      state: "revoked",
      failures: 1,
      lastRefreshAt: START,
      lastFailureAt: START + 60_000,
      lastError: refused,
    });
    assertEquals(revokedEvents, [id]);
    // a later failure of another kind leaves it revoked
    s.server.setFailures(["html"]); // not retried
    s.clock.now += 60_000;
    await assertRejects(() => client.refresh({ id }), OAuthError);
    const still = await client.status({ id });
    assertEquals([still?.state, still?.failures, still?.lastError], [
      "revoked",
      2,
      "invalid_response",
    ]);
    assertEquals((await client.statuses()).map((st) => st.state), [
      "revoked",
    ]);
    assertEquals(recovered, []);

    // the user authorises again: the same token (same user), ok, recovered once
    s.clock.now += 60_000;
    const code = s.server.issueGrantCode({ userName: USER });
    const again = await client.exchangeGrantToken(code, { userName: USER });
    assertEquals(again.id, id);
    assertEquals(await client.status({ id }), {
      id,
      state: "ok",
      failures: 0,
      lastRefreshAt: START + 3 * 60_000,
      lastFailureAt: START + 2 * 60_000,
      lastError: "invalid_response",
    });
    await client.refresh({ id });
    assertEquals(recovered, [id]);
  }
});

Deno.test("TokenClient reads refresh_token_expires_in and x_refresh_token_expires_in into refreshTokenExpiresAt", async () => {
  const fields = [
    "refresh_token_expires_in",
    "x_refresh_token_expires_in",
  ] as const;
  for (const field of fields) {
    await using s = await setup({
      mode: "standard",
      refreshTokenExpiresInSec: 90 * 86_400,
      refreshTokenExpiresField: field,
    });
    countStatuses(s.store);
    const client = s.clientWith();
    // an exchange ...
    const code = s.server.issueGrantCode({ userName: USER });
    const { id } = await client.exchangeGrantToken(code, { userName: USER });
    assertEquals(
      (await client.status({ id: id! }))?.refreshTokenExpiresAt,
      START + 90 * DAY,
      field,
    );
    // ... and a refresh, a day later
    s.clock.now = START + DAY;
    await client.refresh({ id: id! });
    assertEquals(
      (await client.status({ id: id! }))?.refreshTokenExpiresAt,
      START + 91 * DAY,
      field,
    );
  }
  // an answer that does not say keeps what the refresh token had
  await using s = await setup({ mode: "standard" });
  countStatuses(s.store);
  const client = s.clientWith();
  const token = await s.seed();
  await s.store.status!.put({
    id: token.id!,
    state: "ok",
    failures: 0,
    refreshTokenExpiresAt: START + 5 * DAY,
  });
  await client.refresh({ id: token.id! });
  assertEquals(await client.status({ id: token.id! }), {
    id: token.id!,
    state: "ok",
    failures: 0,
    lastRefreshAt: START,
    refreshTokenExpiresAt: START + 5 * DAY,
  });
});

Deno.test("TokenClient status records cost one write per refresh once this process wrote the status; a failure reads first", async () => {
  await using s = await setup();
  const calls = countStatuses(s.store);
  const client = s.clientWith();
  const { id } = await s.seed();
  await client.refresh({ id: id! });
  await client.flush();
  assertEquals(calls, { get: 1, put: 1, list: 0 }); // first record: read, write
  for (let i = 0; i < 5; i++) await client.refresh({ id: id! });
  await client.flush();
  assertEquals(calls, { get: 1, put: 6, list: 0 }); // then one write each
  s.server.setFailures(["html"]); // not retried
  await assertRejects(() => client.refresh({ id: id! }), OAuthError);
  await client.flush();
  assertEquals(calls, { get: 2, put: 7, list: 0 });
  await client.refresh({ id: id! });
  await client.flush();
  assertEquals(calls, { get: 3, put: 8, list: 0 }); // recovering reads too
});

Deno.test("TokenClient status store that fails or hangs never fails or slows a refresh", async () => {
  await using s = await setup({ mode: "zoho" });
  const { id } = await s.seed();
  let hang: (() => void) | undefined;
  countStatuses(s.store, (status) => {
    if (status.failures > 100) return Promise.resolve();
    if (hang === undefined) {
      return new Promise<void>((resolve) => hang = resolve);
    }
    return Promise.reject(new Error("status backend down"));
  });
  const client = s.clientWith();
  const started = Date.now();
  // the first put hangs: the refresh resolves anyway, at once
  const token = await client.refresh({ id: id! });
  assert(token.accessToken !== undefined);
  assertLess(Date.now() - started, 1_000);
  assert(hang !== undefined);
  hang();
  await client.flush();
  // the next put fails: the refresh still resolves
  const next = await client.refresh({ id: id! });
  assert(next.accessToken !== token.accessToken);
  await client.flush();
});

Deno.test("TokenClient status and statuses: unknown query, a store without statuses", async () => {
  await using s = await setup();
  countStatuses(s.store);
  const client = s.clientWith();
  await assertRejects(() => client.status({ userName: "nobody" }));
  assertEquals(await client.statuses(), []);
  const plain = new MemoryTokenStore();
  Object.defineProperty(plain, "status", { value: undefined });
  const { id } = await plain.saveToken(
    new OAuthToken({ userName: USER, refreshToken: "1000.r" }),
  );
  const bare = new TokenClient({
    store: plain,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: DEFAULT_CLIENT.clientSecret,
    tokenUrl: s.server.url,
  });
  assertEquals(await bare.status({ id: id! }), null);
  assertEquals(await bare.statuses(), []);
});
