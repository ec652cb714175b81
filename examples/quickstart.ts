/**
 * Quick start: keep a user's Zoho tokens in a local Deno KV file, exchange a
 * grant token, find and list tokens (secrets redacted) and watch the client
 * refresh the access token when it expires.
 *
 *     deno run -A examples/quickstart.ts
 *
 * Without configuration it starts the local token server fixture in-process
 * and talks to it. To talk to Zoho instead, set `ZOHO_CLIENT_ID`,
 * `ZOHO_CLIENT_SECRET`, `ZOHO_USER` (the user's e-mail) and one of
 * `ZOHO_GRANT_TOKEN` (a self-client grant token) or `ZOHO_REFRESH_TOKEN`;
 * `ZOHO_DC` picks the data center (default `US`). `QUICKSTART_KV` names the KV
 * file (default: a new temporary file).
 *
 * @module
 */

import {
  type DataCenter,
  KvTokenStore,
  OAuthToken,
  TokenClient,
} from "../mod.ts";
import { startTokenServer } from "../tests/fixtures/token_server.ts";

const env = (name: string) => Deno.env.get(name) || undefined;
const zoho = env("ZOHO_CLIENT_ID") && env("ZOHO_CLIENT_SECRET") &&
  (env("ZOHO_GRANT_TOKEN") || env("ZOHO_REFRESH_TOKEN"));

const server = zoho ? undefined : await startTokenServer({ mode: "zoho" });
const clientId = zoho
  ? env("ZOHO_CLIENT_ID")!
  : "1000.FIXTURECLIENT0000000000000000";
const clientSecret = zoho
  ? env("ZOHO_CLIENT_SECRET")!
  : "fixture-client-secret-0123456789abcdef";
const userName = env("ZOHO_USER") ?? "ada@example.com";

const kvPath = env("QUICKSTART_KV") ??
  `${await Deno.makeTempDir({ prefix: "tokenstore-quickstart-" })}/tokens.db`;
const store = await KvTokenStore.open({ path: kvPath });
console.log(`Tokens are kept in the Deno KV file ${kvPath}`);
console.log(
  server
    ? `Talking to the local token server at ${server.url}`
    : "Talking to Zoho",
);

// A clock we can move forward to show a refresh at expiry.
let offsetMs = 0;
const client = new TokenClient({
  store,
  clientId,
  clientSecret,
  redirectUrl: server ? "http://127.0.0.1/callback" : undefined,
  dataCenter: (env("ZOHO_DC") ?? "US") as DataCenter,
  tokenUrl: server?.url,
  now: () => Date.now() + offsetMs,
});

try {
  // 1. Get tokens for the user: exchange a grant token, or keep a refresh token.
  const refreshToken = zoho ? env("ZOHO_REFRESH_TOKEN") : undefined;
  if (refreshToken) {
    await store.saveToken(
      new OAuthToken({ userName, clientId, clientSecret, refreshToken }),
    );
    console.log(`Saved the refresh token for ${userName}`);
  } else {
    const code = zoho
      ? env("ZOHO_GRANT_TOKEN")!
      : server!.issueGrantCode({ userName });
    const exchanged = await client.exchangeGrantToken(code, { userName });
    console.log(
      `Exchanged a grant token for ${userName}: stored as "${exchanged.id}"`,
    );
  }

  // 2. Find it by user; secrets are redacted when printed.
  const found = await store.findToken({ userName });
  console.log("Found by user:", found);

  // 3. A second user, saved with only a grant token (exchanged on first use).
  await store.saveToken(
    new OAuthToken({
      userName: "grace@example.com",
      clientId,
      grantToken: server
        ? server.issueGrantCode({ userName: "grace@example.com" })
        : "1000.example-grant",
    }),
  );
  console.log("All tokens (secrets redacted):");
  for (const token of await store.getTokens()) {
    console.log(JSON.stringify(token));
  }

  // 4. A valid access token, then one hour later a refreshed one.
  const first = await client.getToken({ userName });
  console.log(
    `Access token ${JSON.stringify(first.toJSON().accessToken)} expires at ${
      new Date(first.expiresAt!).toISOString()
    }`,
  );
  offsetMs = first.expiresAt! - Date.now() + 1_000;
  console.log("One hour later the access token has expired...");
  const second = await client.getToken({ userName });
  console.log(
    `...so the client refreshed it: ${
      second.accessToken !== first.accessToken
        ? "new access token"
        : "same access token"
    }, expires at ${new Date(second.expiresAt!).toISOString()}`,
  );
  if (server) {
    const stats = server.stats();
    console.log(
      `Token endpoint requests: ${stats.authorizationCode} grant exchange, ${stats.refreshToken} refresh`,
    );
  }
} finally {
  await store.close();
  await server?.close();
}
