/**
 * Connect rules 1–5 at the callback, with a recording `fetch`: every attack
 * on the state, a provider error and an accounts server outside the list are
 * refused before any request is sent, and nothing is stored.
 *
 * @module
 */

import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import { DATA_CENTERS } from "../core/data_centers.ts";
import { OAuthError } from "../core/errors.ts";
import { TokenClient, type TokenClientOptions } from "../core/token_client.ts";
import { MemoryTokenStore } from "../stores/memory.ts";

const REDIRECT = "https://app.example.com/callback";
const START = 1_800_000_000_000;

/** A client whose `fetch` records every request and answers a token. */
function recording(options: Partial<TokenClientOptions> = {}) {
  const sent: string[] = [];
  const clock = { now: START };
  const store = new MemoryTokenStore();
  const client = new TokenClient({
    store,
    clientId: "1000.CLIENT",
    clientSecret: "client-secret-one",
    redirectUrl: REDIRECT,
    now: () => clock.now,
    fetch: (input) => {
      sent.push(String(input instanceof Request ? input.url : input));
      return Promise.resolve(
        Response.json({
          access_token: "1000.access",
          refresh_token: "1000.refresh",
          expires_in: 3600,
        }),
      );
    },
    ...options,
  });
  return { client, sent, clock, store };
}

/** The cookie pair (`name=value`) of a `Set-Cookie` value. */
function pair(setCookie: string): string {
  return setCookie.split(";")[0];
}

function callback(
  query: Record<string, string>,
  cookie?: string,
  base = REDIRECT,
): Request {
  const url = new URL(base);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return new Request(url, {
    headers: cookie === undefined ? {} : { cookie },
  });
}

async function refused(
  client: TokenClient,
  request: Request,
  code = "invalid_state",
): Promise<OAuthError> {
  const error = await assertRejects(
    () => client.handleCallback(request),
    OAuthError,
  );
  assertEquals(error.code, code, error.message);
  assert(error.message.includes("nothing was sent"), error.message);
  return error;
}

Deno.test("authorize: the URL carries response_type, client, redirect, scope, a 256-bit state and an S256 challenge; Zoho's extras", async () => {
  const { client } = recording({ dataCenter: "IN" });
  const { url, cookie } = await client.authorize({
    scope: ["ZohoCRM.users.READ", "ZohoCRM.modules.ALL"],
    userName: "ada@example.com",
    params: { login_hint: "ada@example.com" },
  });
  assertEquals(
    url.origin + url.pathname,
    "https://accounts.zoho.in/oauth/v2/auth",
  );
  const q = url.searchParams;
  assertEquals(q.get("response_type"), "code");
  assertEquals(q.get("client_id"), "1000.CLIENT");
  assertEquals(q.get("redirect_uri"), REDIRECT);
  assertEquals(q.get("scope"), "ZohoCRM.users.READ,ZohoCRM.modules.ALL");
  assertMatch(q.get("state")!, /^[A-Za-z0-9_-]{43}$/);
  assertMatch(q.get("code_challenge")!, /^[A-Za-z0-9_-]{43}$/);
  assertEquals(q.get("code_challenge_method"), "S256");
  assertEquals(q.get("access_type"), "offline");
  assertEquals(q.get("prompt"), "consent");
  assertEquals(q.get("login_hint"), "ada@example.com");
  assertMatch(
    cookie,
    /^__Host-tokenstore_state=[A-Za-z0-9_-]+; HttpOnly; SameSite=Lax; Path=\/; Max-Age=600; Secure$/,
  );
  // nothing secret in the cookie: the state and verifier are sealed
  assert(!cookie.includes(q.get("state")!));
  // two flows never share a state
  const again = await client.authorize({ scope: "ZohoCRM.users.READ" });
  assert(again.url.searchParams.get("state") !== q.get("state"));
});

Deno.test("authorize: another provider joins scopes with a space, no Zoho extras; a loopback http redirect gets a plain cookie", async () => {
  const { client } = recording({
    tokenUrl: "http://127.0.0.1:9/token",
    authorizeUrl: "http://127.0.0.1:9/authorize",
    redirectUrl: "http://127.0.0.1:8000/callback",
  });
  const { url, cookie } = await client.authorize({
    scope: ["openid", "email"],
  });
  assertEquals(url.searchParams.get("scope"), "openid email");
  assertEquals(url.searchParams.get("access_type"), null);
  assertMatch(
    cookie,
    /^tokenstore_state=[A-Za-z0-9_-]+; HttpOnly; SameSite=Lax; Path=\/; Max-Age=600$/,
  );
  // a tokenUrl without an authorizeUrl: no authorization endpoint to send users to
  const bare = recording({ tokenUrl: "http://127.0.0.1:9/token" }).client;
  await assertRejects(
    () => bare.authorize({ scope: "x" }),
    TypeError,
    '"authorizeUrl"',
  );
  await assertRejects(() => client.authorize({ scope: [] }), TypeError);
  await assertRejects(
    () => client.authorize({ scope: "x", params: { state: "mine" } }),
    TypeError,
    '"state"',
  );
});

Deno.test("handleCallback: every state attack is invalid_state, with zero requests and nothing stored", async () => {
  const { client, sent, clock, store } = recording();
  const { url, cookie } = await client.authorize({
    scope: "ZohoCRM.users.READ",
  });
  const state = url.searchParams.get("state")!;
  const code = "1000.code";

  // missing state
  await refused(client, callback({ code }, pair(cookie)));
  // state not matching the cookie
  await refused(client, callback({ code, state: state + "x" }, pair(cookie)));
  // no cookie at all
  await refused(client, callback({ code, state }));
  // a cookie made by a client with another secret (a flow of its own)
  const other = recording({ clientSecret: "client-secret-two" }).client;
  const forged = await other.authorize({ scope: "ZohoCRM.users.READ" });
  await refused(
    client,
    callback(
      { code, state: forged.url.searchParams.get("state")! },
      pair(forged.cookie),
    ),
  );
  // a cookie changed by one character
  const [name, value] = pair(cookie).split("=");
  const flipped = value.slice(0, -2) +
    (value.at(-2) === "A" ? "B" : "A") + value.at(-1);
  await refused(client, callback({ code, state }, `${name}=${flipped}`));
  // 11 minutes old
  clock.now = START + 11 * 60_000;
  await refused(client, callback({ code, state }, pair(cookie)));
  clock.now = START;

  assertEquals(sent, []);
  assertEquals(await store.getTokens(), []);

  // the genuine callback goes through once, then its replay is refused
  const { token, cookie: clear } = await client.handleCallback(
    callback({ code, state }, pair(cookie)),
  );
  assertEquals(sent.length, 1);
  assertEquals(token.redirectUrl, REDIRECT);
  assertMatch(clear, /^__Host-tokenstore_state=; .*Max-Age=0/);
  await refused(client, callback({ code, state }, pair(cookie)));
  assertEquals(sent.length, 1);
  assertEquals((await store.getTokens()).length, 1);
});

Deno.test("handleCallback: a provider error is an OAuthError with its code; nothing sent or stored", async () => {
  const { client, sent, store } = recording();
  const { url, cookie } = await client.authorize({
    scope: "ZohoCRM.users.READ",
  });
  const error = await assertRejects(
    () =>
      client.handleCallback(
        callback({
          error: "access_denied",
          error_description: "The user denied",
          state: url.searchParams.get("state")!,
        }, pair(cookie)),
      ),
    OAuthError,
  );
  assertEquals(error.code, "access_denied");
  assertEquals(error.description, "The user denied");
  assertEquals(sent, []);
  assertEquals(await store.getTokens(), []);
});

Deno.test("handleCallback: an accounts-server outside the data centers and the token URL is invalid_request before any request", async () => {
  const { client, sent } = recording({ dataCenter: "US" });
  for (const server of ["https://accounts.evil.example", "not a url"]) {
    const { url, cookie } = await client.authorize({
      scope: "ZohoCRM.users.READ",
    });
    await refused(
      client,
      callback({
        code: "1000.code",
        state: url.searchParams.get("state")!,
        location: "eu",
        "accounts-server": server,
      }, pair(cookie)),
      "invalid_request",
    );
  }
  assertEquals(sent, []);
  // Zoho's own: exchanged at that data center
  const { url, cookie } = await client.authorize({
    scope: "ZohoCRM.users.READ",
  });
  const { token } = await client.handleCallback(
    callback({
      code: "1000.code",
      state: url.searchParams.get("state")!,
      location: "eu",
      "accounts-server": "https://accounts.zoho.eu",
    }, pair(cookie)),
  );
  assertEquals(sent, ["https://accounts.zoho.eu/oauth/v2/token"]);
  assertEquals(token.apiDomain, "https://www.zohoapis.eu");
});

Deno.test("handleCallback: a request without a code, or not a Request, is refused", async () => {
  const { client, sent } = recording();
  const { url, cookie } = await client.authorize({ scope: "x" });
  await refused(
    client,
    callback({ state: url.searchParams.get("state")! }, pair(cookie)),
    "invalid_request",
  );
  await assertRejects(
    () => client.handleCallback("https://x" as unknown as Request),
    TypeError,
  );
  assertEquals(sent, []);
});

Deno.test("every data center has its authorization URL, and a client of each sends users there", async () => {
  const hosts = {
    US: "accounts.zoho.com",
    EU: "accounts.zoho.eu",
    IN: "accounts.zoho.in",
    CN: "accounts.zoho.com.cn",
    JP: "accounts.zoho.jp",
    AU: "accounts.zoho.com.au",
    CA: "accounts.zohocloud.ca",
    SA: "accounts.zoho.sa",
  } as const;
  assertEquals(Object.keys(DATA_CENTERS).sort(), Object.keys(hosts).sort());
  for (const [dc, host] of Object.entries(hosts)) {
    const info = DATA_CENTERS[dc as keyof typeof hosts];
    assertEquals(info.authorizeUrl, `https://${host}/oauth/v2/auth`);
    const { client } = recording({ dataCenter: dc as keyof typeof hosts });
    const { url } = await client.authorize({ scope: "ZohoCRM.users.READ" });
    assertEquals(url.origin + url.pathname, info.authorizeUrl);
  }
  // an explicit authorizeUrl wins
  const { client } = recording({
    authorizeUrl: "https://login.example.com/auth",
  });
  const { url } = await client.authorize({ scope: "x" });
  assertEquals(url.origin, "https://login.example.com");
});
