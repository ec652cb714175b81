/**
 * The fixture token server's fault modes, spoken to with plain `fetch`:
 * refresh-token reuse detection, answers lost after the server processed the
 * request, requests whose client gave up, injected API 401s, and the record
 * of refresh tokens presented twice.
 */

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { API_FAILURES, startTokenServer } from "./fixtures/token_server.ts";
import { CLIENT, exchange, refresh } from "./fixtures/token_server_http.ts";

Deno.test("token server: reuse detection revokes the whole family of a rotated-out refresh token", async () => {
  await using server = await startTokenServer({
    mode: "standard",
    rotateRefreshTokens: true,
    reuseDetection: true,
  });
  const first = server.issueRefreshToken({ userName: "ada@example.com" });
  const one = (await refresh(server, first)).body;
  const second = one.refresh_token as string;
  const two = (await refresh(server, second)).body;
  const current = two.refresh_token as string;
  const bystander = server.issueRefreshToken();
  assert(server.isValid(current) && server.isValid(two.access_token as string));
  // the first refresh token, rotated out, comes back: the family goes
  const reused = await refresh(server, first);
  assertEquals([reused.status, reused.body], [400, { error: "invalid_grant" }]);
  for (const token of [current, one.access_token, two.access_token]) {
    assert(!server.isValid(token as string));
  }
  const api = await fetch(server.apiUrl, {
    headers: { authorization: `Bearer ${two.access_token}` },
  });
  assertEquals(api.status, 401);
  await api.body?.cancel();
  // for good: the current token is refused, another reuse counts again
  assertEquals((await refresh(server, current)).body.error, "invalid_grant");
  assertEquals((await refresh(server, second)).body.error, "invalid_grant");
  assert(!server.isValid(current));
  assertEquals((await refresh(server, bystander)).status, 200);
  assertEquals(server.requests.map((r) => r.outcome), [
    "issued",
    "issued",
    "reuse-detected",
    "invalid_grant",
    "reuse-detected",
    "issued",
  ]);
  const stats = server.stats();
  assertEquals([stats.reuseDetected, stats.familiesRevoked], [2, 1]);

  await using zoho = await startTokenServer({
    rotateRefreshTokens: true,
    reuseDetection: true,
  });
  const old = zoho.issueRefreshToken();
  const fresh = (await refresh(zoho, old)).body.refresh_token as string;
  const again = await refresh(zoho, old);
  assertEquals([again.status, again.body], [200, { error: "invalid_code" }]);
  assert(!zoho.isValid(fresh));

  // without reuse detection a rotated-out token is merely refused
  await using plain = await startTokenServer({ rotateRefreshTokens: true });
  const stale = plain.issueRefreshToken();
  const kept = (await refresh(plain, stale)).body.refresh_token as string;
  assertEquals((await refresh(plain, stale)).body.error, "invalid_code");
  assert(plain.isValid(kept));
  assertEquals(plain.stats().reuseDetected, 0);
  // it needs rotation
  await assertRejects(
    () => startTokenServer({ reuseDetection: true }),
    TypeError,
    "reuseDetection needs rotateRefreshTokens",
  );
});

Deno.test("token server: issue-then-drop processes the request, then breaks the connection", async () => {
  await using server = await startTokenServer({
    rotateRefreshTokens: true,
    reuseDetection: true,
  });
  const token = server.issueRefreshToken();
  server.setFailures(["issue-then-drop"]);
  const response = await fetch(server.url, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: token,
      ...CLIENT,
    }),
  });
  await assertRejects(() => response.text(), TypeError);
  assertEquals(server.requests[0].outcome, "issued-lost");
  // rotated: the token the client still holds is used up
  assert(!server.isValid(token));
  assertEquals([server.stats().issued, server.stats().lost], [1, 1]);
  // retrying it is a reuse: the new, never seen refresh token dies too
  assertEquals((await refresh(server, token)).body.error, "invalid_code");
  assertEquals(server.stats().familiesRevoked, 1);
  assertEquals(server.presentedTwice(), 1);
});

Deno.test("token server: issue-then-hang processes the request and never answers until closed", async () => {
  const server = await startTokenServer({ rotateRefreshTokens: true });
  const token = server.issueRefreshToken();
  const revoked = server.issueRefreshToken();
  server.setFailures(["issue-then-hang", "issue-then-hang"]);
  const send = (url: string, form: Record<string, string>) =>
    fetch(url, {
      method: "POST",
      body: new URLSearchParams(form),
      signal: AbortSignal.timeout(300),
    });
  const started = Date.now();
  await assertRejects(() =>
    send(server.url, {
      grant_type: "refresh_token",
      refresh_token: token,
      ...CLIENT,
    })
  );
  assert(Date.now() - started >= 300);
  await assertRejects(() => send(server.revokeUrl, { token: revoked }));
  assertEquals(server.requests.map((r) => r.outcome), [
    "issued-lost",
    "revoked-lost",
  ]);
  assert(!server.isValid(token) && !server.isValid(revoked));
  assertEquals([server.stats().issued, server.stats().lost], [1, 2]);
  const closing = Date.now();
  await server.close();
  assert(Date.now() - closing < 1000);
});

Deno.test("token server: a request whose client gave up is still processed", async () => {
  await using server = await startTokenServer({
    rotateRefreshTokens: true,
    latencyMs: 300,
  });
  const token = server.issueRefreshToken();
  await assertRejects(() =>
    fetch(server.url, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: token,
        ...CLIENT,
      }),
      signal: AbortSignal.timeout(50),
    })
  );
  assertEquals(server.requests[0].outcome, "pending");
  while (server.requests[0].outcome === "pending") {
    await new Promise((r) => setTimeout(r, 10));
  }
  assertEquals(server.requests[0].outcome, "issued");
  assert(!server.isValid(token));
  assertEquals(server.stats().issued, 1);
});

Deno.test("token server: the API answers an injected 401 whatever the token", async () => {
  await using server = await startTokenServer({
    apiFailure: API_FAILURES.bearerInsufficientScope,
  });
  const { body } = await refresh(server, server.issueRefreshToken());
  const call = async () => {
    const response = await fetch(server.apiUrl, {
      headers: { authorization: `Zoho-oauthtoken ${body.access_token}` },
    });
    const text = await response.text();
    return {
      status: response.status,
      wwwAuthenticate: response.headers.get("www-authenticate"),
      body: text === "" ? null : JSON.parse(text),
    };
  };
  assertEquals(await call(), {
    status: 401,
    wwwAuthenticate:
      'Bearer realm="fixture", error="insufficient_scope", scope="ZohoCRM.modules.ALL"',
    body: { error: "insufficient_scope" },
  });
  server.setApiFailure(API_FAILURES.zohoScopeMismatch);
  const scope = await call();
  assertEquals([scope.status, scope.body.code], [401, "OAUTH_SCOPE_MISMATCH"]);
  server.setApiFailure({ ...API_FAILURES.noReason, times: 1 });
  assertEquals(await call(), {
    status: 401,
    wwwAuthenticate: null,
    body: null,
  });
  assertEquals((await call()).body.ok, true);
  server.setApiFailure(API_FAILURES.bearerInvalidToken);
  assert((await call()).wwwAuthenticate?.includes('error="invalid_token"'));
  server.setApiFailure(null);
  assertEquals((await call()).status, 200);
  assertEquals([server.stats().api, server.stats().api401], [6, 4]);
  assertEquals(server.isValid(body.access_token as string), true);
  assert(API_FAILURES.zohoInvalidToken.body !== undefined);
  assertThrows(() => server.setApiFailure({ status: 99 }), TypeError);
});

Deno.test("token server: presentedTwice counts refresh tokens presented again, never keeping the token", async () => {
  await using server = await startTokenServer();
  const a = server.issueRefreshToken();
  const b = server.issueRefreshToken();
  await refresh(server, a);
  await refresh(server, b);
  assertEquals(server.presentedTwice(), 0);
  server.setFailures([{ status: 500, body: "{}" }]);
  await refresh(server, a); // counted on arrival, whatever the answer
  await refresh(server, a);
  await refresh(server, "1000.unknown");
  await exchange(server, server.issueGrantCode());
  assertEquals(server.presentedTwice(), 2);
  assertEquals(server.requests.map((r) => r.presented), [
    0,
    1,
    0,
    0,
    2,
    undefined,
  ]);
  const recorded = JSON.stringify(server.requests);
  assert(!recorded.includes(a) && !recorded.includes(b));
});
