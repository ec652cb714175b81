/**
 * Quick start: save a token, find it by user, list every token with secrets
 * redacted. Runs as it is with the in-memory store:
 *
 *     deno run -A examples/quickstart.ts
 *
 * @module
 */

import { MemoryTokenStore, OAuthToken } from "../mod.ts";

const store = new MemoryTokenStore();

const saved = await store.saveToken(
  new OAuthToken({
    userName: "ada@example.com",
    clientId: "1000.QUICKSTARTCLIENT",
    clientSecret: "quickstart-client-secret",
    refreshToken: "1000.quickstart-refresh-token",
    accessToken: "1000.quickstart-access-token",
    expiresAt: Date.now() + 3_600_000,
    apiDomain: "https://www.zohoapis.com",
  }),
);
console.log(`Saved token "${saved.id}" for ${saved.userName}`);

const found = await store.findToken({ userName: "ada@example.com" });
console.log("Found by user:", found);

await store.saveToken(
  new OAuthToken({
    userName: "grace@example.com",
    clientId: "1000.QUICKSTARTCLIENT",
    grantToken: "1000.quickstart-grant-token",
  }),
);

console.log("All tokens (secrets redacted):");
for (const token of await store.getTokens()) {
  console.log(JSON.stringify(token));
}
