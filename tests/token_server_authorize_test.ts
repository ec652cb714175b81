/**
 * The fixture token server's authorization endpoint, spoken to with plain
 * `fetch`: Zoho's consent page and callback, PKCE S256 bound to the code,
 * single-use two-minute codes, and error pages that never redirect.
 */

import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  DEFAULT_CLIENT,
  DEFAULT_USER,
  startDataCenters,
  startTokenServer,
  type TokenServer,
} from "./fixtures/token_server.ts";
import {
  authorizationUrl,
  CLIENT,
  pkcePair,
  post,
} from "./fixtures/token_server_http.ts";

/** Posts the consent page's form as the browser would: its fields, `user`, the button. */
async function decide(
  server: TokenServer,
  url: URL,
  fields: Record<string, string>,
): Promise<Response> {
  const form = new URLSearchParams(url.searchParams);
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  return await fetch(`${server.origin}/oauth/v2/auth/decision`, {
    method: "POST",
    body: form,
    redirect: "manual",
  });
}

/** Exchanges a code as the default client, with a verifier unless `null`. */
function exchange(
  server: TokenServer,
  code: string,
  verifier: string | null,
  extra: Record<string, string> = {},
) {
  const form: Record<string, string> = {
    grant_type: "authorization_code",
    code,
    redirect_uri: DEFAULT_CLIENT.redirectUrl,
    ...CLIENT,
    ...extra,
  };
  if (verifier !== null) form.code_verifier = verifier;
  return post(server.url, form);
}

/** The user an access token belongs to, by the fixture's API. */
async function userOf(server: TokenServer, accessToken: unknown) {
  const response = await fetch(server.apiUrl, {
    headers: { authorization: `Zoho-oauthtoken ${accessToken}` },
  });
  return (await response.json()).userName;
}

Deno.test("authorize: the consent page names the client, scope and user, carries the request, and holds no secret", async () => {
  await using server = await startTokenServer();
  const { challenge } = await pkcePair();
  const url = authorizationUrl(server, challenge, {
    login_hint: "ada@example.com",
    state: `"><script>alert(1)</script>`,
  });
  const response = await fetch(url);
  assertEquals(response.status, 200);
  assertEquals(
    response.headers.get("content-type"),
    "text/html;charset=utf-8",
  );
  assertEquals(response.headers.get("cache-control"), "no-store");
  assertEquals(response.headers.get("x-frame-options"), "DENY");
  const html = await response.text();
  assertStringIncludes(html, '<span id="client">Fixture app</span>');
  assertStringIncludes(html, DEFAULT_CLIENT.clientId);
  assertStringIncludes(
    html,
    '<ul id="scope"><li>ZohoCRM.modules.ALL</li><li>ZohoCRM.users.READ</li></ul>',
  );
  assertStringIncludes(html, '<span id="location">us</span>');
  assertStringIncludes(
    html,
    '<form method="post" action="/oauth/v2/auth/decision">',
  );
  assertStringIncludes(html, 'name="user" value="ada@example.com"');
  assertStringIncludes(html, 'id="allow" name="decision" value="allow"');
  assertStringIncludes(html, 'id="deny" name="decision" value="deny"');
  for (
    const field of ["client_id", "redirect_uri", "code_challenge", "prompt"]
  ) {
    assertStringIncludes(
      html,
      `<input type="hidden" name="${field}" value="`,
    );
  }
  // Reflected values are escaped.
  assert(!html.includes("<script>"), "the state is reflected unescaped");
  assertStringIncludes(html, "&#34;&#62;&#60;script&#62;");
  // No secret: not the client's, no token, no code.
  assert(!html.includes(DEFAULT_CLIENT.clientSecret));
  assert(!/\d{4}\.[0-9a-f]{16,}/.test(html), "a token is in the page");
  assertEquals(server.stats().authorizePage, 1);
  assertEquals(server.stats().consentAllowed, 0);

  // Without a login_hint the page proposes the default user.
  const plain = await (await fetch(authorizationUrl(server, challenge))).text();
  assertStringIncludes(plain, `name="user" value="${DEFAULT_USER}"`);
});

Deno.test("authorize: Allow redirects with code, state, location and accounts-server; the exchange verifies PKCE S256", async () => {
  await using server = await startTokenServer();
  const { verifier, challenge } = await pkcePair();
  const url = authorizationUrl(server, challenge);
  const response = await decide(server, url, {
    user: "grace@example.com",
    decision: "allow",
  });
  assertEquals(response.status, 302);
  const callback = new URL(response.headers.get("location")!);
  assertEquals(
    `${callback.origin}${callback.pathname}`,
    DEFAULT_CLIENT.redirectUrl,
  );
  assertEquals(
    [...callback.searchParams.keys()],
    ["code", "state", "location", "accounts-server"],
  );
  assertEquals(callback.searchParams.get("state"), "state-0123456789abcdef");
  assertEquals(callback.searchParams.get("location"), "us");
  assertEquals(callback.searchParams.get("accounts-server"), server.origin);
  const code = callback.searchParams.get("code")!;
  assertMatch(code, /^1000\.[0-9a-f]{64}$/);

  const exchanged = await exchange(server, code, verifier);
  assertEquals(exchanged.status, 200);
  assertEquals(typeof exchanged.body.refresh_token, "string");
  assertEquals(exchanged.body.api_domain, server.origin);
  assertEquals(
    await userOf(server, exchanged.body.access_token),
    "grace@example.com",
  );
  const stats = server.stats();
  assertEquals(
    [stats.consentAllowed, stats.consentDenied, stats.pkceFailures],
    [1, 0, 0],
  );
});

Deno.test("authorize: a wrong, malformed or missing code_verifier is refused and uses the code up", async () => {
  for (const mode of ["zoho", "standard"] as const) {
    await using server = await startTokenServer({ mode });
    const bad = mode === "zoho" ? "invalid_code" : "invalid_grant";
    const status = mode === "zoho" ? 200 : 400;
    const { verifier, challenge } = await pkcePair();
    const other = await pkcePair();
    const url = authorizationUrl(server, challenge);
    for (const wrong of [other.verifier, "short", null, challenge]) {
      const code = server.approve(url).searchParams.get("code")!;
      const refused = await exchange(server, code, wrong);
      assertEquals([refused.status, refused.body], [status, {
        error: bad,
        error_description: "PKCE verification failed",
      }], `${mode}: verifier ${wrong === null ? "missing" : "wrong"}`);
      // The code is used up: the right verifier comes too late.
      const late = await exchange(server, code, verifier);
      assertEquals(late.body, { error: bad });
    }
    // A self-client code (no challenge) refuses a verifier (OAuth 2.1), and
    // still works without one.
    const selfCode = server.issueGrantCode();
    assertEquals(
      (await exchange(server, selfCode, verifier)).body.error,
      bad,
    );
    assertEquals(
      (await exchange(server, server.issueGrantCode(), null)).status,
      200,
    );
    assertEquals(server.stats().pkceFailures, 5);
    assertEquals(server.stats().issued, 1);
  }
});

Deno.test("authorize: a code is single use and bound to its client and redirect URL", async () => {
  await using server = await startTokenServer({ mode: "standard" });
  const { verifier, challenge } = await pkcePair();
  const code = server.approve(authorizationUrl(server, challenge))
    .searchParams.get("code")!;
  const elsewhere = await exchange(server, code, verifier, {
    redirect_uri: "http://127.0.0.1/elsewhere",
  });
  assertEquals(elsewhere.body, { error: "invalid_redirect_uri" });
  // Another client cannot redeem it, even with the same redirect URL.
  const other = {
    clientId: "1000.OTHER",
    clientSecret: "other-secret-0123456789",
    redirectUrl: DEFAULT_CLIENT.redirectUrl,
  };
  server.registerClient(other);
  const stolen = await exchange(server, code, verifier, {
    client_id: other.clientId,
    client_secret: other.clientSecret,
  });
  assertEquals(stolen.body, { error: "invalid_grant" });
  const first = await exchange(server, code, verifier);
  assertEquals(first.status, 200);
  const second = await exchange(server, code, verifier);
  assertEquals([second.status, second.body], [400, {
    error: "invalid_grant",
  }]);
  assertEquals(server.stats().issued, 1);
});

Deno.test("authorize: codes expire after 2 minutes on the injected clock; self-client codes after 10", async () => {
  let now = 1_800_000_000_000;
  await using server = await startTokenServer({ now: () => now });
  const { verifier, challenge } = await pkcePair();
  const url = authorizationUrl(server, challenge);
  const early = server.approve(url).searchParams.get("code")!;
  const late = server.approve(url).searchParams.get("code")!;
  const selfCode = server.issueGrantCode();
  now += 119_999;
  assertEquals((await exchange(server, early, verifier)).status, 200);
  now += 1;
  assertEquals((await exchange(server, late, verifier)).body, {
    error: "invalid_code",
  });
  assertEquals((await exchange(server, selfCode, null)).status, 200);

  await using short = await startTokenServer({
    now: () => now,
    authorizationCodeTtlMs: 1000,
  });
  const code = short.approve(authorizationUrl(short, challenge))
    .searchParams.get("code")!;
  now += 1000;
  assertEquals((await exchange(short, code, verifier)).body, {
    error: "invalid_code",
  });
});

Deno.test("authorize: Deny redirects with error=access_denied and the state, and issues no code", async () => {
  await using server = await startTokenServer();
  const { challenge } = await pkcePair();
  const url = authorizationUrl(server, challenge);
  const response = await decide(server, url, {
    user: "ada@example.com",
    decision: "deny",
  });
  assertEquals(response.status, 302);
  const callback = new URL(response.headers.get("location")!);
  assertEquals(
    callback.href,
    `${DEFAULT_CLIENT.redirectUrl}?error=access_denied&state=state-0123456789abcdef`,
  );
  assertEquals(
    server.approve(url, { allow: false }).href,
    callback.href,
  );
  // Without a state, none comes back.
  assertEquals(
    server.approve(authorizationUrl(server, challenge, { state: null }), {
      allow: false,
    }).search,
    "?error=access_denied",
  );
  const stats = server.stats();
  assertEquals([stats.consentDenied, stats.consentAllowed], [3, 0]);
});

Deno.test("authorize: a bad client, redirect URL, response type, scope or PKCE is an error page, never a redirect", async () => {
  await using server = await startTokenServer({
    clients: [
      DEFAULT_CLIENT,
      { clientId: "1000.NOREDIRECT", clientSecret: "no-redirect-secret" },
    ],
  });
  const { challenge } = await pkcePair();
  const cases: [Record<string, string | null>, string, string, boolean][] = [
    [{ client_id: null }, "invalid_client", "The client_id is missing", false],
    [
      { client_id: "1000.UNKNOWN" },
      "invalid_client",
      'Unknown client "1000.UNKNOWN"',
      false,
    ],
    [
      { redirect_uri: null },
      "invalid_redirect_uri",
      "The redirect_uri is missing",
      false,
    ],
    [
      { redirect_uri: "https://evil.example/callback" },
      "invalid_redirect_uri",
      `Redirect URI "https://evil.example/callback" is not registered for client "${DEFAULT_CLIENT.clientId}"`,
      false,
    ],
    [
      // Not even a prefix, another port or a trailing slash.
      { redirect_uri: `${DEFAULT_CLIENT.redirectUrl}/` },
      "invalid_redirect_uri",
      `Redirect URI "${DEFAULT_CLIENT.redirectUrl}/" is not registered`,
      false,
    ],
    [
      { client_id: "1000.NOREDIRECT" },
      "invalid_redirect_uri",
      'Client "1000.NOREDIRECT" has no registered redirect URL',
      false,
    ],
    [
      { response_type: "token" },
      "unsupported_response_type",
      'Unsupported response type "token": expected "code"',
      false,
    ],
    [
      { code_challenge_method: "plain" },
      "invalid_request",
      'Unsupported code challenge method "plain": expected "S256"',
      true,
    ],
    [
      { code_challenge_method: null },
      "invalid_request",
      'PKCE is required: code_challenge_method must be "S256"',
      true,
    ],
    [
      { code_challenge: null },
      "invalid_request",
      "Invalid code_challenge: expected 43 base64url characters",
      true,
    ],
    [{ scope: "" }, "invalid_scope", "The scope is missing", false],
  ];
  let pkce = 0;
  for (const [params, error, message, isPkce] of cases) {
    const url = authorizationUrl(server, challenge, params);
    const page = await fetch(url, { redirect: "manual" });
    assertEquals(page.status, 400, message);
    assertEquals(page.headers.get("location"), null);
    const html = await page.text();
    assertStringIncludes(html, `data-error="${error}"`);
    assertStringIncludes(html, message.replaceAll('"', "&#34;"));
    assert(!html.includes(DEFAULT_CLIENT.clientSecret));
    // The decision checks the request again: a tampered form cannot redirect.
    const decision = await decide(server, url, {
      user: "ada@example.com",
      decision: "allow",
    });
    assertEquals(decision.status, 400, message);
    assertEquals(decision.headers.get("location"), null);
    await decision.body?.cancel();
    assertThrows(() => server.approve(url), TypeError, message);
    if (isPkce) pkce += 3;
  }
  const stats = server.stats();
  assertEquals(stats.authorizePage, cases.length);
  assertEquals(stats.authorizeRefused, cases.length * 3);
  assertEquals(stats.pkceFailures, pkce);
  assertEquals([stats.consentAllowed, stats.consentDenied], [0, 0]);

  // A valid request with a bad decision is refused too.
  const url = authorizationUrl(server, challenge);
  for (
    const [fields, message] of [
      [{ user: " ", decision: "allow" }, "A user name is required"],
      [{ user: "ada@example.com", decision: "maybe" }, "Unknown decision"],
    ] as const
  ) {
    const response = await decide(server, url, fields);
    assertEquals(response.status, 400);
    assertStringIncludes(await response.text(), message);
  }
  assertEquals(server.stats().consentAllowed, 0);
});

Deno.test("authorize: approve and POST /fixture/authorize consent without a browser", async () => {
  await using server = await startTokenServer({
    accountsServer: "https://accounts.zoho.com",
  });
  const { verifier, challenge } = await pkcePair();
  const url = authorizationUrl(server, challenge, {
    login_hint: "ada@example.com",
  });
  const callback = server.approve(url);
  assertEquals(
    callback.searchParams.get("accounts-server"),
    "https://accounts.zoho.com",
  );
  assertEquals(server.accountsServer, "https://accounts.zoho.com");
  const exchanged = await exchange(
    server,
    callback.searchParams.get("code")!,
    verifier,
  );
  assertEquals(
    await userOf(server, exchanged.body.access_token),
    "ada@example.com",
  );
  // The URL may name the configured accounts server instead of the origin.
  const zohoUrl = new URL(
    url.search,
    "https://accounts.zoho.com/oauth/v2/auth",
  );
  assert(server.approve(zohoUrl).searchParams.has("code"));
  assertThrows(
    () => server.approve(new URL(url.search, "https://accounts.zoho.eu/x")),
    TypeError,
    'Not an authorization URL of this server: "https://accounts.zoho.eu/x"',
  );
  assertThrows(
    () => server.approve("not a url"),
    TypeError,
    "Invalid authorization URL",
  );
  assertThrows(
    () => server.approve(url, { user: "" }),
    TypeError,
    "A user name is required",
  );

  const http = await post(`${server.origin}/fixture/authorize`, {
    url: url.href,
    user: "grace@example.com",
  });
  assertEquals(http.status, 200);
  const viaHttp = new URL(http.body.callback as string);
  const token = await exchange(
    server,
    viaHttp.searchParams.get("code")!,
    verifier,
  );
  assertEquals(
    await userOf(server, token.body.access_token),
    "grace@example.com",
  );
  const denied = await post(`${server.origin}/fixture/authorize`, {
    url: url.href,
    allow: "false",
  });
  assertEquals(
    new URL(denied.body.callback as string).searchParams.get("error"),
    "access_denied",
  );
  const refused = await post(`${server.origin}/fixture/authorize`, {
    url: authorizationUrl(server, challenge, { code_challenge_method: "plain" })
      .href,
  });
  assertEquals(refused.status, 400);
  assertEquals(refused.body.error, "invalid_request");
});

Deno.test("authorize: registerClient adds a client with its own redirect URL", async () => {
  await using server = await startTokenServer();
  const { verifier, challenge } = await pkcePair();
  const app = {
    clientId: "1000.APP",
    clientSecret: "app-secret-0123456789",
    redirectUrl: "http://127.0.0.1:8123/callback",
  };
  const url = authorizationUrl(server, challenge, {
    client_id: app.clientId,
    redirect_uri: app.redirectUrl,
  });
  assertThrows(() => server.approve(url), TypeError, "Unknown client");
  server.registerClient(app);
  const callback = server.approve(url);
  assertEquals(callback.origin, "http://127.0.0.1:8123");
  const { status } = await post(server.url, {
    grant_type: "authorization_code",
    code: callback.searchParams.get("code")!,
    code_verifier: verifier,
    redirect_uri: app.redirectUrl,
    client_id: app.clientId,
    client_secret: app.clientSecret,
  });
  assertEquals(status, 200);
});

Deno.test("authorize: startDataCenters runs one server per location; each knows only its own codes and tokens", async () => {
  await using dcs = await startDataCenters(["us", "eu"], (location) => ({
    mode: "zoho",
    accountsServer: location === "eu" ? "https://accounts.zoho.eu" : undefined,
  }));
  assertEquals(dcs.servers, [dcs.us, dcs.eu]);
  assertEquals([dcs.us.location, dcs.eu.location], ["us", "eu"]);
  assertNotEquals(dcs.us.origin, dcs.eu.origin);
  assertEquals(dcs.us.accountsServer, dcs.us.origin);
  assertEquals(dcs.eu.accountsServer, "https://accounts.zoho.eu");
  const { verifier, challenge } = await pkcePair();
  const callback = dcs.eu.approve(authorizationUrl(dcs.eu, challenge));
  assertEquals(callback.searchParams.get("location"), "eu");
  assertEquals(
    callback.searchParams.get("accounts-server"),
    "https://accounts.zoho.eu",
  );
  const code = callback.searchParams.get("code")!;
  // The US data center does not know the EU code...
  assertEquals((await exchange(dcs.us, code, verifier)).body, {
    error: "invalid_code",
  });
  // ...the EU one does, and answers its own api_domain.
  const eu = await exchange(dcs.eu, code, verifier);
  assertEquals(eu.body.api_domain, dcs.eu.origin);
  const refreshed = await post(dcs.us.url, {
    grant_type: "refresh_token",
    refresh_token: eu.body.refresh_token as string,
    ...CLIENT,
  });
  assertEquals(refreshed.body, { error: "invalid_code" });
  assertEquals(dcs.us.stats().consentAllowed, 0);

  await using plain = await startDataCenters(["in"]);
  assertEquals(plain.in.location, "in");
  await plain.close();
});
