/**
 * TokenClient's revoke, authorised fetch and lookup failures, against the
 * fixture token server (a real HTTP server on 127.0.0.1).
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { OAuthError, TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { setup, START, USER } from "./fixtures/client_setup.ts";

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
  await using s = await setup({}, { minRefreshIntervalMs: 0 });
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
