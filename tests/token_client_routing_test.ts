/**
 * Design "Connect" rule 7: a client that uses a Zoho data center refreshes
 * and revokes each token at the accounts server of the data center its
 * `apiDomain` names; a client with a `tokenUrl` sends every token there.
 * The accounts servers are fixture token servers on 127.0.0.1, one per data
 * center, reached through a `fetch` that routes `https://accounts.zoho.com`
 * and `https://accounts.zoho.eu` to them and records every URL asked for.
 */

import { assert, assertEquals } from "@std/assert";
import { DATA_CENTERS } from "../core/data_centers.ts";
import { OAuthToken } from "../core/token.ts";
import { TokenClient, type TokenClientOptions } from "../core/token_client.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { routedFetch } from "./fixtures/routed_fetch.ts";
import {
  DEFAULT_CLIENT,
  startTokenServer,
  type TokenServer,
} from "./fixtures/token_server.ts";

const US = DATA_CENTERS.US;
const EU = DATA_CENTERS.EU;

/** Two fixture accounts servers and a routing fetch to them. */
async function accounts() {
  const us = await startTokenServer({ apiDomain: US.apiDomain });
  const eu = await startTokenServer({ apiDomain: EU.apiDomain });
  const routed = routedFetch({
    [US.accountsUrl]: us.origin,
    [EU.accountsUrl]: eu.origin,
  });
  const store = new MemoryTokenStore();
  const client = (options: Partial<TokenClientOptions> = {}) =>
    new TokenClient({
      store,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      fetch: routed.fetch,
      retry: { maxAttempts: 1 },
      ...options,
    });
  /** Saves `user`'s token holding a refresh token `server` issued. */
  const seed = (server: TokenServer, user: string, apiDomain?: string) =>
    store.saveToken(
      new OAuthToken({
        userName: user,
        clientId: DEFAULT_CLIENT.clientId,
        refreshToken: server.issueRefreshToken({ userName: user }),
        apiDomain,
      }),
    );
  return {
    us,
    eu,
    routed,
    store,
    client,
    seed,
    async [Symbol.asyncDispose]() {
      await us.close();
      await eu.close();
    },
  };
}

Deno.test("a US client refreshes and revokes each token at its own data center's accounts server", async () => {
  await using a = await accounts();
  const client = a.client({ dataCenter: "US" });
  const ada = await a.seed(a.eu, "ada@example.eu", EU.apiDomain);
  // the origin decides: case and a trailing slash do not matter
  const eve = await a.seed(a.eu, "eve@example.eu", "https://WWW.zohoapis.eu/");
  const bob = await a.seed(a.us, "bob@example.com", US.apiDomain);
  const cyd = await a.seed(a.us, "cyd@example.com", "https://api.example.com");
  const dan = await a.seed(a.us, "dan@example.com");

  for (const user of ["ada@example.eu", "eve@example.eu"]) {
    await client.getAccessToken({ userName: user });
  }
  for (
    const user of ["bob@example.com", "cyd@example.com", "dan@example.com"]
  ) {
    await client.getAccessToken({ userName: user });
  }
  assertEquals(a.routed.sent, [
    EU.tokenUrl,
    EU.tokenUrl,
    US.tokenUrl,
    US.tokenUrl,
    US.tokenUrl,
  ]);
  assertEquals([a.eu.stats().refreshToken, a.us.stats().refreshToken], [2, 3]);
  assertEquals([a.eu.stats().issued, a.us.stats().issued], [2, 3]);
  // each answer's api_domain is stored: the unknown one now names the US
  assertEquals(
    (await a.store.getTokens()).map((t) => [t.userName, t.apiDomain]).sort(),
    [
      ["ada@example.eu", EU.apiDomain],
      ["bob@example.com", US.apiDomain],
      ["cyd@example.com", US.apiDomain],
      ["dan@example.com", US.apiDomain],
      ["eve@example.eu", EU.apiDomain],
    ],
  );

  a.routed.sent.length = 0;
  for (const token of [ada, eve, bob, cyd, dan]) {
    await client.revoke({ id: token.id! });
  }
  assertEquals(a.routed.sent, [
    EU.revokeUrl,
    EU.revokeUrl,
    US.revokeUrl,
    US.revokeUrl,
    US.revokeUrl,
  ]);
  assertEquals([a.eu.stats().revoke, a.us.stats().revoke], [2, 3]);
  assertEquals(
    a.eu.requests.filter((r) => r.endpoint === "revoke").map((r) => r.outcome),
    ["revoked", "revoked"],
  );
  assertEquals(
    a.us.requests.filter((r) => r.endpoint === "revoke").map((r) => r.outcome),
    ["revoked", "revoked", "revoked"],
  );
  for (const token of [ada, eve, bob, cyd, dan]) {
    assert(
      !a.eu.isValid(token.refreshToken!) && !a.us.isValid(token.refreshToken!),
    );
  }
  assertEquals(await a.store.getTokens(), []);
});

Deno.test("an EU client sends tokens with no or an unknown apiDomain to its own accounts server, US users' to the US", async () => {
  await using a = await accounts();
  // its own revokeUrl serves its own data center's tokens
  const revokeUrl = `${EU.revokeUrl}?mine=1`;
  const client = a.client({ dataCenter: "EU", revokeUrl });
  await a.seed(a.eu, "ada@example.eu");
  await a.seed(a.eu, "eve@example.eu", "https://www.zohoapis.com.au.example");
  // not https: no data center's API domain
  await a.seed(a.eu, "fay@example.eu", "http://www.zohoapis.com");
  await a.seed(a.us, "bob@example.com", US.apiDomain);
  for (const user of ["ada@example.eu", "eve@example.eu", "fay@example.eu"]) {
    await client.getAccessToken({ userName: user });
  }
  await client.getAccessToken({ userName: "bob@example.com" });
  assertEquals(a.routed.sent, [
    EU.tokenUrl,
    EU.tokenUrl,
    EU.tokenUrl,
    US.tokenUrl,
  ]);
  assertEquals([a.eu.stats().refreshToken, a.us.stats().refreshToken], [3, 1]);
  await client.revoke({ userName: "ada@example.eu" });
  await client.revoke({ userName: "bob@example.com" });
  assertEquals(a.routed.sent.slice(4), [revokeUrl, US.revokeUrl]);
  assertEquals([a.eu.stats().revoke, a.us.stats().revoke], [1, 1]);
});

Deno.test("with a tokenUrl every token is refreshed and revoked there, whatever its apiDomain", async () => {
  await using a = await accounts();
  // the US accounts server named as a tokenUrl: no routing by data center
  const client = a.client({ tokenUrl: US.tokenUrl });
  const ada = await a.seed(a.us, "ada@example.eu", EU.apiDomain);
  await a.seed(a.us, "bob@example.com", US.apiDomain);
  await a.seed(a.us, "dan@example.com");
  for (const user of ["ada@example.eu", "bob@example.com", "dan@example.com"]) {
    await client.getAccessToken({ userName: user });
  }
  await client.revoke({ id: ada.id! });
  assertEquals(a.routed.sent, [
    US.tokenUrl,
    US.tokenUrl,
    US.tokenUrl,
    US.revokeUrl,
  ]);
  assertEquals([a.eu.stats().token, a.eu.stats().revoke], [0, 0]);
  assertEquals([a.us.stats().refreshToken, a.us.stats().revoke], [3, 1]);

  // a fixture's own URL as tokenUrl: everything goes to it, nothing routed
  a.routed.sent.length = 0;
  const direct = a.client({ tokenUrl: a.us.url, fetch: undefined });
  await direct.refresh({ userName: "bob@example.com" });
  await direct.refresh({ userName: "dan@example.com" });
  assertEquals(a.routed.sent, []);
  assertEquals(a.us.stats().refreshToken, 5);
});
