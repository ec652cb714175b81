/**
 * The fixture token server itself, spoken to with plain `fetch`: the tests of
 * the refresh client rely on it behaving like Zoho and like RFC 6749.
 */

import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";
import {
  CLIENT,
  exchange,
  post,
  refresh,
} from "./fixtures/token_server_http.ts";

Deno.test("token server: authorization_code grant issues tokens once per code", async () => {
  const now = 1_800_000_000_000;
  await using server = await startTokenServer({ now: () => now });
  const code = server.issueGrantCode({ userName: "ada@example.com" });
  const { status, body } = await exchange(server, code);
  assertEquals(status, 200);
  assertEquals(body.token_type, "Bearer");
  assertEquals(body.expires_in, 3600);
  assertEquals(body.api_domain, server.origin);
  assert(server.isValid(body.access_token as string));
  assert(server.isValid(body.refresh_token as string));
  const again = await exchange(server, code);
  assertEquals([again.status, again.body], [200, { error: "invalid_code" }]);
  const mismatch = await exchange(server, server.issueGrantCode(), {
    redirect_uri: "http://127.0.0.1/elsewhere",
  });
  assertEquals(mismatch.body, { error: "invalid_redirect_uri" });
  assertEquals(server.stats(), {
    token: 3,
    authorizationCode: 3,
    refreshToken: 0,
    issued: 1,
    revoke: 0,
    api: 0,
    api401: 0,
    crm: 0,
    crm401: 0,
    reuseDetected: 0,
    familiesRevoked: 0,
    lost: 0,
    authorizePage: 0,
    consentAllowed: 0,
    consentDenied: 0,
    authorizeRefused: 0,
    pkceFailures: 0,
  });
  assertEquals(server.requests.map((r) => r.outcome), [
    "issued",
    "invalid_code",
    "invalid_redirect_uri",
  ]);
});

Deno.test("token server: grant codes expire by the injected clock", async () => {
  let now = 1_800_000_000_000;
  await using server = await startTokenServer({
    now: () => now,
    codeTtlMs: 60_000,
  });
  const code = server.issueGrantCode();
  now += 60_000;
  assertEquals((await exchange(server, code)).body, { error: "invalid_code" });
});

Deno.test("token server: Zoho mode answers errors with HTTP 200, standard mode with 400/401", async () => {
  await using zoho = await startTokenServer({ mode: "zoho" });
  const badSecret = await refresh(zoho, zoho.issueRefreshToken(), {
    client_secret: "nope",
  });
  assertEquals([badSecret.status, badSecret.body], [200, {
    error: "invalid_client",
  }]);
  const badToken = await refresh(zoho, "1000.unknown");
  assertEquals([badToken.status, badToken.body], [200, {
    error: "invalid_code",
  }]);

  await using standard = await startTokenServer({ mode: "standard" });
  const denied = await refresh(standard, standard.issueRefreshToken(), {
    client_secret: "nope",
  });
  assertEquals([denied.status, denied.body], [401, {
    error: "invalid_client",
  }]);
  assertEquals(denied.headers.get("www-authenticate"), 'Basic realm="fixture"');
  const invalid = await refresh(standard, "1000.unknown");
  assertEquals([invalid.status, invalid.body], [400, {
    error: "invalid_grant",
  }]);
  const unsupported = await post(standard.url, {
    grant_type: "password",
    ...CLIENT,
  });
  assertEquals([unsupported.status, unsupported.body], [400, {
    error: "unsupported_grant_type",
  }]);
  const ok = await refresh(standard, standard.issueRefreshToken());
  assertEquals(ok.status, 200);
  assertEquals(ok.body.api_domain, undefined);
});

Deno.test("token server: at most 10 access tokens per refresh token per 10 minutes", async () => {
  let now = 1_800_000_000_000;
  await using zoho = await startTokenServer({ now: () => now });
  const token = zoho.issueRefreshToken();
  for (let i = 0; i < 10; i++) {
    assertEquals((await refresh(zoho, token)).status, 200);
    now += 30_000;
  }
  const limited = await refresh(zoho, token);
  assertEquals([limited.status, limited.body], [200, {
    error: "Access Denied",
    error_description:
      "You have made too many requests continuously. Please try again after some time.",
  }]);
  // Another refresh token has its own allowance.
  assertEquals(
    (await refresh(zoho, zoho.issueRefreshToken())).body.error,
    undefined,
  );
  now = 1_800_000_000_000 + 600_000; // the first token left the window
  assertEquals((await refresh(zoho, token)).body.error, undefined);
  assertEquals((await refresh(zoho, token)).body.error, "Access Denied");

  now = 1_800_000_000_000;
  await using standard = await startTokenServer({
    mode: "standard",
    now: () => now,
    rateLimit: { max: 2, windowMs: 60_000 },
  });
  const other = standard.issueRefreshToken();
  await refresh(standard, other);
  now += 15_000;
  await refresh(standard, other);
  const tooMany = await refresh(standard, other);
  assertEquals(tooMany.status, 429);
  assertEquals(tooMany.headers.get("retry-after"), "45");
});

Deno.test("token server: rotation replaces the refresh token; legacy expires_in is in ms", async () => {
  await using server = await startTokenServer({
    rotateRefreshTokens: true,
    legacyExpiresIn: true,
    expiresInSec: 120,
  });
  const first = server.issueRefreshToken();
  const { body } = await refresh(server, first);
  assertEquals([body.expires_in, body.expires_in_sec], [120_000, 120]);
  const second = body.refresh_token as string;
  assertNotEquals(second, first);
  assert(!server.isValid(first));
  assertEquals((await refresh(server, first)).body.error, "invalid_code");
  assertEquals((await refresh(server, second)).status, 200);

  await using plain = await startTokenServer();
  assertEquals(
    (await refresh(plain, plain.issueRefreshToken())).body.refresh_token,
    undefined,
  );
});

Deno.test("token server: revoke invalidates a refresh token and its access tokens", async () => {
  await using server = await startTokenServer();
  const code = server.issueGrantCode();
  const { body } = await exchange(server, code);
  const revoked = await post(server.revokeUrl, {
    token: body.refresh_token as string,
  });
  assertEquals(revoked.body, { status: "success" });
  assert(!server.isValid(body.refresh_token as string));
  assert(!server.isValid(body.access_token as string));
  assertEquals((await post(server.revokeUrl, { token: "1000.unknown" })).body, {
    error: "invalid_token",
  });

  await using standard = await startTokenServer({ mode: "standard" });
  const response = await fetch(standard.revokeUrl, {
    method: "POST",
    body: new URLSearchParams({ token: standard.issueRefreshToken() }),
  });
  assertEquals([response.status, await response.text()], [200, ""]);
  assertEquals(standard.stats().revoke, 1);
});

Deno.test("token server: the API accepts valid access tokens only", async () => {
  let now = 1_800_000_000_000;
  await using server = await startTokenServer({
    now: () => now,
    expiresInSec: 60,
  });
  const { body } = await refresh(
    server,
    server.issueRefreshToken({ userName: "ada@example.com" }),
  );
  const call = (authorization?: string) =>
    fetch(server.apiUrl, {
      method: "POST",
      body: "hello",
      headers: authorization ? { authorization } : {},
    });
  const ok = await call(`Zoho-oauthtoken ${body.access_token}`);
  assertEquals(await ok.json(), {
    ok: true,
    scheme: "Zoho-oauthtoken",
    method: "POST",
    path: "/api/echo",
    body: "hello",
    userName: "ada@example.com",
  });
  assertEquals(
    (await (await call(`Bearer ${body.access_token}`)).json()).scheme,
    "Bearer",
  );
  for (
    const header of [undefined, "Basic abc", `Zoho-oauthtoken 1000.unknown`]
  ) {
    const response = await call(header);
    assertEquals(response.status, 401);
    assertEquals((await response.json()).code, "INVALID_TOKEN");
  }
  now += 60_000;
  const expired = await call(`Zoho-oauthtoken ${body.access_token}`);
  assertEquals(expired.status, 401);
  await expired.body?.cancel();
  assertEquals(server.stats().api401, 4);
});

Deno.test("token server: injected failures are served in order, then normal answers", async () => {
  await using server = await startTokenServer();
  const token = server.issueRefreshToken();
  server.setFailures([
    { status: 500 },
    "drop",
    "garbage",
    "html",
    { status: 429, retryAfter: "7" },
  ]);
  const form = { grant_type: "refresh_token", refresh_token: token, ...CLIENT };
  const send = () =>
    fetch(server.url, { method: "POST", body: new URLSearchParams(form) });

  const failed = await send();
  assertEquals([failed.status, await failed.text()], [
    500,
    "Fixture failure HTTP 500",
  ]);
  const dropped = await send();
  await assertRejects(() => dropped.text(), TypeError);
  const garbage = await send();
  assertEquals(garbage.headers.get("content-type"), "application/json");
  await assertRejects(
    async () => JSON.parse(await garbage.text()),
    SyntaxError,
  );
  const html = await send();
  assertEquals(html.headers.get("content-type"), "text/html");
  assert((await html.text()).startsWith("<html>"));
  const limited = await send();
  assertEquals([limited.status, limited.headers.get("retry-after")], [
    429,
    "7",
  ]);
  await limited.body?.cancel();
  const ok = await send();
  assertEquals(ok.status, 200);
  assert(server.isValid((await ok.json()).access_token));
  assertEquals(server.requests.map((r) => r.outcome), [
    "failure:500",
    "failure:drop",
    "failure:garbage",
    "failure:html",
    "failure:429",
    "issued",
  ]);
  assertEquals([server.stats().refreshToken, server.stats().issued], [6, 1]);
});

Deno.test("token server: latency delays answers; closing ends waiting requests", async () => {
  const server = await startTokenServer({ latencyMs: 150 });
  const started = Date.now();
  const answered = await refresh(server, server.issueRefreshToken());
  assert(
    Date.now() - started >= 150,
    `answered after ${Date.now() - started} ms`,
  );
  assertEquals(answered.status, 200);
  server.setLatency(10_000);
  const pending = fetch(server.url, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: "x",
      ...CLIENT,
    }),
  }).then((r) => r.body?.cancel(), () => {});
  while (server.requests.length < 2) await new Promise((r) => setTimeout(r, 5));
  const closing = Date.now();
  await server.close();
  await pending;
  assert(Date.now() - closing < 1000);
  assertEquals(server.requests[1].outcome, "aborted");
});

Deno.test("token server: runs standalone and prints its URL", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./fixtures/token_server.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!output.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    output += value;
  }
  try {
    const url = output.split("\n")[0];
    assert(/^http:\/\/127\.0\.0\.1:\d+\/oauth\/v2\/token$/.test(url), output);
    const origin = new URL(url).origin;
    const { code } = await (await fetch(`${origin}/fixture/grant-code`, {
      method: "POST",
      body: new URLSearchParams({ userName: "ada@example.com" }),
    })).json();
    const { status, body } = await post(url, {
      grant_type: "authorization_code",
      code,
      redirect_uri: DEFAULT_CLIENT.redirectUrl,
      ...CLIENT,
    });
    assertEquals(status, 200);
    assertEquals(typeof body.access_token, "string");
  } finally {
    child.kill("SIGINT");
    await reader.cancel();
    const status = await child.status;
    assertEquals(status.code, 0);
  }
});
