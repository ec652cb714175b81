/**
 * The official Zoho CRM TypeScript SDK on a tokenstore store: the SDK's
 * own setup (`InitializeBuilder` with a custom `TokenStore`), with the
 * store made by `createZohoSdkStore`, so that the SDK's token is refreshed
 * through a `TokenClient` — exactly once per expiry however many SDK calls
 * and processes ask at once. It makes a few concurrent SDK calls for the
 * current user and prints their answers; a call answered 401
 * `INVALID_TOKEN` is reported to the bridge and made again.
 *
 *     ZOHO_CLIENT_ID=… ZOHO_CLIENT_SECRET=… ZOHO_USER=ada@example.com \
 *       ZOHO_GRANT_TOKEN=… deno run -A examples/zoho_sdk.ts
 *
 * Environment:
 * - `ZOHO_CLIENT_ID`, `ZOHO_CLIENT_SECRET`, `ZOHO_USER` (the user's e-mail),
 *   `ZOHO_REDIRECT_URL` (the client's, if the grant token was issued for one);
 * - `ZOHO_GRANT_TOKEN` (first run: exchanged once, then kept in the store)
 *   or `ZOHO_REFRESH_TOKEN`; later runs need neither;
 * - `TOKEN_STORE_URL` (default `kv:./tokens.db`; any `openStore` URL);
 * - `ZOHO_DC` (default `US`), or `ZOHO_API_URL` + `ZOHO_ACCOUNTS_URL` for
 *   another server (the tests point them at a local fixture);
 * - `CALLS` (default 5): how many SDK calls run at once.
 *
 * @module
 */

import * as ZOHOCRMSDK from "@zohocrm/typescript-sdk-8.0";
import {
  DATA_CENTERS,
  type DataCenter,
  openStore,
  TokenClient,
} from "../mod.ts";
import { createZohoSdkStore } from "../stores/zoho_sdk.ts";

const env = (name: string) => Deno.env.get(name) || undefined;
const required = (name: string) => {
  const value = env(name);
  if (value === undefined) {
    console.error(`Set ${name}: see the top of examples/zoho_sdk.ts`);
    Deno.exit(2);
  }
  return value;
};

const clientId = required("ZOHO_CLIENT_ID");
const clientSecret = required("ZOHO_CLIENT_SECRET");
const userName = required("ZOHO_USER");
const redirectUrl = env("ZOHO_REDIRECT_URL");
const dataCenter = (env("ZOHO_DC") ?? "US") as DataCenter;
const accountsUrl = env("ZOHO_ACCOUNTS_URL") ??
  DATA_CENTERS[dataCenter].tokenUrl;

// tokenstore: the store, and the client that refreshes into it
const store = await openStore(env("TOKEN_STORE_URL") ?? "kv:./tokens.db");
const client = new TokenClient({
  store,
  clientId,
  clientSecret,
  redirectUrl,
  tokenUrl: accountsUrl,
});

// The SDK, set up as its guide says; only the store line is tokenstore's.
const environment = env("ZOHO_API_URL") === undefined
  ? ZOHOCRMSDK.USDataCenter.PRODUCTION()
  : new ZOHOCRMSDK.Environment(
    env("ZOHO_API_URL")!,
    accountsUrl,
    env("ZOHO_API_URL")!,
  );
let builder = new ZOHOCRMSDK.OAuthBuilder()
  .clientId(clientId)
  .clientSecret(clientSecret)
  .userSignature(new ZOHOCRMSDK.UserSignature(userName));
const grantToken = env("ZOHO_GRANT_TOKEN");
const refreshToken = env("ZOHO_REFRESH_TOKEN");
if (redirectUrl !== undefined) builder = builder.redirectURL(redirectUrl);
if (grantToken !== undefined) builder = builder.grantToken(grantToken);
if (refreshToken !== undefined) builder = builder.refreshToken(refreshToken);
const resourcePath = await Deno.makeTempDir({ prefix: "zoho_sdk_" });
const sdkStore = createZohoSdkStore({ client, sdk: ZOHOCRMSDK });
await (await new ZOHOCRMSDK.InitializeBuilder())
  .environment(environment)
  .token(builder.build())
  .store(sdkStore)
  .SDKConfig(new ZOHOCRMSDK.SDKConfigBuilder().build())
  .resourcePath(resourcePath)
  .logger(
    new ZOHOCRMSDK.LogBuilder().level(ZOHOCRMSDK.Levels.OFF).build(),
  )
  .initialize();

/** One SDK call: the current user's e-mail, or the error code. */
async function currentUser(retried = false): Promise<string> {
  const param = new ZOHOCRMSDK.ParameterMap();
  await param.add(ZOHOCRMSDK.Users.GetUsersParam.TYPE, "CurrentUser");
  const response = await new ZOHOCRMSDK.Users.UsersOperations().getUsers(
    param,
    new ZOHOCRMSDK.HeaderMap(),
  );
  const object = response.getObject();
  const answer = object instanceof ZOHOCRMSDK.Users.ResponseWrapper
    ? object.getUsers()[0]?.getEmail()
    : object instanceof ZOHOCRMSDK.Users.APIException
    ? object.getCode()?.getValue()
    : "no body";
  if (answer === "INVALID_TOKEN" && !retried) {
    // The SDK never refreshes after a 401: report the access token it sent
    // (the one the bridge hands out now), and the next call gets a new one.
    sdkStore.reportInvalid(await client.getAccessToken({ userName }));
    return await currentUser(true);
  }
  return `${response.getStatusCode()} ${answer}`;
}

try {
  const calls = Number(env("CALLS") ?? 5);
  const answers = await Promise.all(
    Array.from({ length: calls }, () => currentUser()),
  );
  console.log(`${calls} SDK calls at once: ${answers.join(", ")}`);
  const [token] = await store.getTokens();
  console.log(`Stored: ${JSON.stringify(token)}`);
} finally {
  await client.flush();
  await store.close?.();
  await Deno.remove(resourcePath, { recursive: true });
}
