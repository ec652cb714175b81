/**
 * The authorization code flow end to end against the fixture's
 * authorization endpoint (no browser): consent, PKCE verified by the server,
 * the token saved with the user, redirect URL and API domain (rule 6); Deny;
 * and with two fixture data centers standing in for Zoho's US and EU
 * accounts servers, each user's code exchanged, refreshed and revoked at
 * their own data center (rules 5 and 7).
 *
 * @module
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { OAuthError } from "../core/errors.ts";
import { TokenClient } from "../core/token_client.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import {
  DEFAULT_CLIENT,
  startDataCenters,
  startTokenServer,
} from "./fixtures/token_server.ts";

const REDIRECT = "http://127.0.0.1:8000/callback";

function cookiePair(setCookie: string): string {
  return setCookie.split(";")[0];
}

Deno.test("connect: consent, PKCE checked by the server, the token saved with user, redirect URL and API domain", async () => {
  await using server = await startTokenServer({ mode: "standard" });
  server.registerClient({ ...DEFAULT_CLIENT, redirectUrl: REDIRECT });
  const store = new MemoryTokenStore();
  const client = new TokenClient({
    store,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: DEFAULT_CLIENT.clientSecret,
    redirectUrl: REDIRECT,
    tokenUrl: server.url,
    authorizeUrl: `${server.origin}/oauth/v2/auth`,
  });
  const { url, cookie } = await client.authorize({
    scope: ["openid", "email"],
    userName: "ada@example.com",
  });
  const callback = await server.approve(url, { user: "ada@example.com" });
  const { token, cookie: clear } = await client.handleCallback(
    new Request(callback, { headers: { cookie: cookiePair(cookie) } }),
  );
  assertEquals(server.stats().authorizationCode, 1);
  assertEquals(token.userName, "ada@example.com");
  assertEquals(token.redirectUrl, REDIRECT);
  assert(server.isValid(token.refreshToken!));
  assert(clear.includes("Max-Age=0"));
  assertEquals((await store.getTokens()).length, 1);
  // the code was bound to the PKCE challenge: the token endpoint checked the verifier
  const tokenRequests = server.requests.filter((r) =>
    r.grantType === "authorization_code"
  );
  assertEquals(tokenRequests.map((r) => r.outcome), ["issued"]);
});

Deno.test("connect: Deny comes back as access_denied; nothing sent, nothing stored", async () => {
  await using server = await startTokenServer();
  server.registerClient({ ...DEFAULT_CLIENT, redirectUrl: REDIRECT });
  const store = new MemoryTokenStore();
  const client = new TokenClient({
    store,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: DEFAULT_CLIENT.clientSecret,
    redirectUrl: REDIRECT,
    tokenUrl: server.url,
    authorizeUrl: `${server.origin}/oauth/v2/auth`,
  });
  const { url, cookie } = await client.authorize({
    scope: "ZohoCRM.users.READ",
  });
  const callback = await server.approve(url, { allow: false });
  const error = await assertRejects(
    () =>
      client.handleCallback(
        new Request(callback, { headers: { cookie: cookiePair(cookie) } }),
      ),
    OAuthError,
  );
  assertEquals(error.code, "access_denied");
  assertEquals(server.stats().token, 0);
  assertEquals(await store.getTokens(), []);
});

Deno.test("connect: with two data centers, each user's code, refreshes and revocation go to their own accounts server", async () => {
  const zoho = {
    us: {
      accounts: "https://accounts.zoho.com",
      api: "https://www.zohoapis.com",
    },
    eu: {
      accounts: "https://accounts.zoho.eu",
      api: "https://www.zohoapis.eu",
    },
  } as const;
  await using dcs = await startDataCenters(
    ["us", "eu"] as const,
    (l) => ({
      mode: "zoho",
      apiDomain: zoho[l].api,
      accountsServer: zoho[l].accounts,
      clients: [{ ...DEFAULT_CLIENT, redirectUrl: REDIRECT }],
    }),
  );
  // Zoho's accounts servers are these fixtures on loopback; nothing else is reachable
  const sent: string[] = [];
  const fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    sent.push(url.origin + url.pathname);
    const dc = url.origin === zoho.eu.accounts
      ? dcs.eu
      : url.origin === zoho.us.accounts
      ? dcs.us
      : undefined;
    if (dc === undefined) {
      return Promise.reject(new TypeError(`Not reachable: ${url.origin}`));
    }
    const target = new URL(url.pathname + url.search, dc.origin);
    return globalThis.fetch(
      input instanceof Request ? new Request(target, input) : target,
      init,
    );
  };
  const store = new MemoryTokenStore();
  const client = new TokenClient({
    store,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: DEFAULT_CLIENT.clientSecret,
    redirectUrl: REDIRECT,
    dataCenter: "US",
    fetch,
  });
  const connect = async (user: string, dc: "us" | "eu") => {
    const { url, cookie } = await client.authorize({
      scope: "ZohoCRM.users.READ",
      userName: user,
    });
    assertEquals(url.origin, zoho.us.accounts); // Zoho's US page sends EU users on
    // the user signs in at their own data center (the fixture standing in for it)
    const atDc = new URL(url.pathname + url.search, dcs[dc].origin);
    const callback = await dcs[dc].approve(atDc, { user });
    const params = new URL(callback).searchParams;
    assertEquals(params.get("location"), dc);
    assertEquals(params.get("accounts-server"), zoho[dc].accounts);
    return (await client.handleCallback(
      new Request(callback, { headers: { cookie: cookiePair(cookie) } }),
    )).token;
  };
  const eu = await connect("eva@example.eu", "eu");
  const us = await connect("ada@example.com", "us");
  assertEquals(eu.apiDomain, zoho.eu.api);
  assertEquals(us.apiDomain, zoho.us.api);
  assertEquals(sent, [
    `${zoho.eu.accounts}/oauth/v2/token`,
    `${zoho.us.accounts}/oauth/v2/token`,
  ]);
  sent.length = 0;
  await client.refresh({ userName: "eva@example.eu" });
  await client.refresh({ userName: "ada@example.com" });
  await client.revoke({ userName: "eva@example.eu" });
  assertEquals(sent, [
    `${zoho.eu.accounts}/oauth/v2/token`,
    `${zoho.us.accounts}/oauth/v2/token`,
    `${zoho.eu.accounts}/oauth/v2/token/revoke`,
  ]);
  assertEquals(dcs.eu.stats().refreshToken, 1);
  assertEquals(dcs.us.stats().refreshToken, 1);
  assertEquals(dcs.eu.stats().revoke, 1);
  assertEquals(dcs.us.stats().revoke, 0);
});
