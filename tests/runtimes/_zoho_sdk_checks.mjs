/**
 * The Zoho SDK bridge (`./zoho-sdk`) under the official Zoho CRM Node.js SDK
 * (`@zohocrm/nodejs-sdk-8.0`, installed into the cache beside the build at
 * the range deno.json `imports` names), as a user of that runtime runs it:
 * the SDK initialised with the bridge's store over a `TokenClient` whose
 * stored token has an expired access token, then real SDK API calls at once
 * (`UsersOperations.getUsers`, `type=CurrentUser`) against the token
 * endpoint this process starts on 127.0.0.1 (`_token_endpoint.mjs`, which
 * also answers the users API — 200 for the current access token only).
 *
 * The SDK keeps its configuration in a process-wide singleton, hence a
 * process of its own. Run from the build folder (so that
 * `@tokenstore/tokenstore` resolves to the transpiled package and the SDK to
 * the cache's `node_modules`): `node _zoho_sdk_checks.mjs <runtime>`. Prints
 * one JSON line `{ runtime, version, results }`.
 *
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { check, expect } from "./_core_checks.mjs";
import { CLIENT_SECRET, REFRESH_TOKEN } from "./_constants.mjs";
import { startTokenEndpoint } from "./_token_endpoint.mjs";

/** The SDK calls made at once. */
const CALLS = 25;
const USER = "ada@example.com";

const runtime = process.argv[2] ?? "node";
const version = typeof globalThis.Bun === "object"
  ? `bun ${globalThis.Bun.version}`
  : `node ${process.version}`;

/**
 * One real SDK call: `GET <environment URL>/crm/v8/users?type=CurrentUser`,
 * parsed by the SDK. Resolves with the HTTP status and the user's e-mail
 * (or Zoho's error code).
 */
async function currentUser(sdk) {
  const param = new sdk.ParameterMap();
  await param.add(sdk.Users.GetUsersParam.TYPE, "CurrentUser");
  const response = await new sdk.Users.UsersOperations().getUsers(
    param,
    new sdk.HeaderMap(),
  );
  const object = response.getObject();
  return {
    status: response.getStatusCode(),
    email: object instanceof sdk.Users.ResponseWrapper
      ? object.getUsers()[0]?.getEmail()
      : undefined,
    code: object instanceof sdk.Users.APIException
      ? object.getCode()?.getValue()
      : undefined,
  };
}

/** An SDK error as one line (its `SDKException`s carry a code and a cause). */
function describeSdkError(error) {
  if (error !== null && typeof error === "object") {
    const cause = error.cause instanceof Error
      ? ` (cause: ${error.cause.name}: ${error.cause.message})`
      : "";
    return `${error.name ?? "Error"} ${error.code ?? ""}: ${
      error.message ?? ""
    }${cause}`.split("\n")[0];
  }
  return String(error);
}

const endpoint = await startTokenEndpoint({ localApiDomain: true });
const dir = await mkdtemp(join(tmpdir(), `tokenstore-zoho-sdk-${runtime}-`));
const results = [];
try {
  results.push(
    await check(
      `zoho-sdk: Node.js SDK, ${CALLS} concurrent calls, 1 refresh`,
      async () => {
        const sdk = await import("@zohocrm/nodejs-sdk-8.0");
        // The class the SDK's custom-store guide has a store extend
        // (models/authenticator/store/token_store.js), which its
        // InitializeBuilder checks with instanceof.
        const { TokenStore: SdkTokenStore } = await import(
          "@zohocrm/nodejs-sdk-8.0/lib/models/authenticator/store/token_store.js"
        );
        const { MemoryTokenStore, OAuthToken, TokenClient } = await import(
          "@tokenstore/tokenstore/core"
        );
        const { createZohoSdkStore } = await import(
          "@tokenstore/tokenstore/zoho-sdk"
        );
        expect(
          sdk.TokenStore.TokenStore === SdkTokenStore,
          "the SDK module's TokenStore namespace does not hold the guide's TokenStore class",
        );

        const clientId = `1000.zoho-sdk-${runtime}-${process.pid}`;
        const store = new MemoryTokenStore();
        await store.saveToken(
          new OAuthToken({
            userName: USER,
            clientId,
            refreshToken: REFRESH_TOKEN,
            accessToken: `${clientId}.expired`,
            expiresAt: Date.now() - 60_000,
            apiDomain: endpoint.origin,
          }),
        );
        const client = new TokenClient({
          store,
          clientId,
          clientSecret: CLIENT_SECRET,
          tokenUrl: endpoint.url,
        });
        // As the bridge's guide has a Node.js SDK user write it.
        const { OAuthToken: SdkOAuthToken, UserSignature, TokenStore } = sdk;
        const sdkStore = createZohoSdkStore({
          client,
          sdk: { OAuthToken: SdkOAuthToken, UserSignature, TokenStore },
        });
        expect(
          sdkStore instanceof SdkTokenStore,
          "the bridge's store is not an instance of the SDK's TokenStore",
        );

        // Everything on the loopback endpoint: API calls, token requests.
        const environment = new sdk.Environment(
          endpoint.origin,
          endpoint.url,
          endpoint.origin,
        );
        const token = new sdk.OAuthBuilder()
          .clientId(clientId)
          .clientSecret(CLIENT_SECRET)
          .refreshToken(REFRESH_TOKEN)
          .userSignature(new UserSignature(USER))
          .build();
        try {
          await (await new sdk.InitializeBuilder())
            .environment(environment)
            .token(token)
            .store(sdkStore)
            .SDKConfig(new sdk.SDKConfigBuilder().build())
            .resourcePath(dir)
            .logger(new sdk.LogBuilder().level(sdk.Levels.OFF).build())
            .initialize();
        } catch (error) {
          throw new Error(`SDK initialisation: ${describeSdkError(error)}`);
        }

        let answers;
        try {
          answers = await Promise.all(
            Array.from({ length: CALLS }, () => currentUser(sdk)),
          );
        } catch (error) {
          throw new Error(`SDK call: ${describeSdkError(error)}`);
        }
        const statuses = new Map();
        for (const { status } of answers) {
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
        const seen = [...statuses].map(([s, n]) => `${n} × ${s}`).join(", ");
        const refreshes = endpoint.requests();
        const bySdk = endpoint.multipartRequests();
        const figures =
          `${seen}, ${refreshes} token request(s) (${bySdk} by the SDK itself), ${endpoint.apiCalls()} API calls reached the endpoint`;
        expect(
          answers.every((a) => a.status === 200 && a.email === USER),
          `want ${CALLS} × 200 with the user, got ${seen} (first: ${
            JSON.stringify(answers.find((a) => a.status !== 200) ?? answers[0])
          }); ${figures}`,
        );
        expect(refreshes === 1, `want 1 token request; ${figures}`);
        expect(bySdk === 0, `the SDK refreshed by itself; ${figures}`);
        const stored = await store.findToken({ userName: USER });
        expect(
          stored?.accessToken === `${clientId}.access-1`,
          "the refreshed token is not in the store",
        );
        return `${figures}; store instanceof the SDK's TokenStore`;
      },
    ),
  );
} finally {
  await endpoint.close();
  await rm(dir, { recursive: true, force: true });
}

console.log(JSON.stringify({ runtime, version, results }));
// The SDK's HTTP agent (got, keep-alive) must not keep the process alive.
process.exit(0);
