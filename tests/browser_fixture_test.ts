/**
 * The browser harness against the fixture's consent page: Debian's Chromium
 * opens an authorization request, a user clicks Allow or Deny, and the
 * provider redirects to a tiny local app's callback. Chromium missing is a
 * failure, never a skip.
 */

import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import {
  assertChromium,
  CHROMIUM_PATH,
  launchBrowser,
} from "./fixtures/browser.ts";
import {
  DEFAULT_CLIENT,
  startTokenServer,
  type TokenServer,
} from "./fixtures/token_server.ts";
import {
  authorizationUrl,
  pkcePair,
  post,
} from "./fixtures/token_server_http.ts";

/** A `Deno.serve` app whose `/callback` records every query it receives. */
function startApp() {
  const callbacks: Record<string, string>[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const url = new URL(request.url);
      if (url.pathname !== "/callback") {
        return new Response("Not found", { status: 404 });
      }
      callbacks.push(Object.fromEntries(url.searchParams));
      const connected = url.searchParams.has("code");
      return new Response(
        `<!doctype html><title>App</title><h1 id="result">${
          connected ? "Connected" : "Not connected"
        }</h1>`,
        { headers: { "content-type": "text/html;charset=utf-8" } },
      );
    },
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  return {
    callbacks,
    redirectUrl: `${origin}/callback`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** The fixture, with the default client redirecting to the app. */
function startProvider(redirectUrl: string): Promise<TokenServer> {
  return startTokenServer({
    mode: "zoho",
    clients: [{ ...DEFAULT_CLIENT, redirectUrl }],
  });
}

Deno.test("browser: Chromium is installed where the harness looks; a missing one fails, saying how to install it", async () => {
  await assertChromium(CHROMIUM_PATH);
  await assertRejects(
    () => launchBrowser({ executablePath: "/nonexistent/chromium" }),
    Error,
    'Chromium is missing at "/nonexistent/chromium": install it with "apt-get update && apt-get install -y chromium"',
  );
});

Deno.test("browser: Allow on the consent page redirects to the app with code, state, location and accounts-server", async () => {
  await using app = startApp();
  await using provider = await startProvider(app.redirectUrl);
  const { verifier, challenge } = await pkcePair();
  const url = authorizationUrl(provider, challenge, {
    redirect_uri: app.redirectUrl,
    state: "browser-state-allow",
  });

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const response = await page.goto(url.href);
  assertEquals(response?.status(), 200);
  assertEquals(await page.textContent("#client"), "Fixture app");
  assertEquals(
    await page.locator("#scope li").allTextContents(),
    ["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"],
  );
  assert(
    !(await page.content()).includes(DEFAULT_CLIENT.clientSecret),
    "the consent page shows the client secret",
  );
  await page.fill("#user", "ada@example.com");
  await Promise.all([
    page.waitForURL(`${app.redirectUrl}?**`),
    page.click("#allow"),
  ]);
  assertEquals(await page.textContent("#result"), "Connected");

  assertEquals(app.callbacks.length, 1);
  const callback = app.callbacks[0];
  assertEquals(Object.keys(callback), [
    "code",
    "state",
    "location",
    "accounts-server",
  ]);
  assertMatch(callback.code, /^1000\.[0-9a-f]{64}$/);
  assertEquals(callback.state, "browser-state-allow");
  assertEquals(callback.location, "us");
  assertEquals(callback["accounts-server"], provider.origin);

  // The code the browser carried exchanges, with the verifier, for ada's token.
  const { body } = await post(provider.url, {
    grant_type: "authorization_code",
    code: callback.code,
    code_verifier: verifier,
    redirect_uri: app.redirectUrl,
    client_id: DEFAULT_CLIENT.clientId,
    client_secret: DEFAULT_CLIENT.clientSecret,
  });
  const echo = await fetch(provider.apiUrl, {
    headers: { authorization: `Zoho-oauthtoken ${body.access_token}` },
  });
  assertEquals((await echo.json()).userName, "ada@example.com");
  const stats = provider.stats();
  assertEquals(
    [stats.authorizePage, stats.consentAllowed, stats.consentDenied],
    [1, 1, 0],
  );
});

Deno.test("browser: Deny redirects to the app with error=access_denied; a bad redirect URL stays on an error page", async () => {
  await using app = startApp();
  await using provider = await startProvider(app.redirectUrl);
  const { challenge } = await pkcePair();
  await using browser = await launchBrowser();
  const page = await browser.newPage();

  await page.goto(
    authorizationUrl(provider, challenge, {
      redirect_uri: app.redirectUrl,
      state: "browser-state-deny",
    }).href,
  );
  await Promise.all([
    page.waitForURL(`${app.redirectUrl}?**`),
    page.click("#deny"),
  ]);
  assertEquals(await page.textContent("#result"), "Not connected");
  assertEquals(app.callbacks, [{
    error: "access_denied",
    state: "browser-state-deny",
  }]);

  // An unregistered redirect URL (the app's origin, another path): an error
  // page, the browser never leaves the provider.
  const evil = authorizationUrl(provider, challenge, {
    redirect_uri: new URL("/evil", app.redirectUrl).href,
  });
  const response = await page.goto(evil.href);
  assertEquals(response?.status(), 400);
  assertEquals(new URL(page.url()).origin, provider.origin);
  assertStringIncludes(
    (await page.textContent("#error")) ?? "",
    "is not registered for client",
  );
  assertEquals(await page.locator("#allow").count(), 0);
  assertEquals(app.callbacks.length, 1);
  const stats = provider.stats();
  assertEquals(
    [stats.consentAllowed, stats.consentDenied, stats.authorizeRefused],
    [0, 1, 1],
  );
});
