/**
 * What the fixture token server offers the official Zoho SDKs, spoken to
 * with plain `fetch`: token and revoke endpoints that take
 * `multipart/form-data` (as the SDKs post it) besides urlencoded forms, and
 * a Zoho CRM users API that answers the current access token of a
 * refresh-token family only.
 */

import { assert, assertEquals } from "@std/assert";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";
import { CLIENT, refresh } from "./fixtures/token_server_http.ts";

/** POSTs `fields` as multipart/form-data (Deno's `FormData`). */
async function postMultipart(
  url: string,
  fields: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  const response = await fetch(url, { method: "POST", body: form });
  const text = await response.text();
  return { status: response.status, body: text === "" ? {} : JSON.parse(text) };
}

/** GETs the CRM users API with an `Authorization` header. */
async function crm(
  url: string,
  authorization?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}?type=CurrentUser`, {
    headers: authorization === undefined ? {} : { authorization },
  });
  return { status: response.status, body: await response.json() };
}

const INVALID_TOKEN = {
  code: "INVALID_TOKEN",
  details: {},
  message: "invalid oauth token",
  status: "error",
};

Deno.test("token server: the token and revoke endpoints take multipart/form-data as the Zoho SDKs post it", async () => {
  await using server = await startTokenServer();
  const exchanged = await postMultipart(server.url, {
    grant_type: "authorization_code",
    code: server.issueGrantCode({ userName: "ada@example.com" }),
    redirect_uri: DEFAULT_CLIENT.redirectUrl,
    ...CLIENT,
  });
  assertEquals(exchanged.status, 200);
  const refreshToken = exchanged.body.refresh_token as string;
  assert(server.isValid(refreshToken));
  assert(server.isValid(exchanged.body.access_token as string));

  const refreshed = await postMultipart(server.url, {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    ...CLIENT,
  });
  assertEquals(refreshed.status, 200);
  assert(server.isValid(refreshed.body.access_token as string));
  const denied = await postMultipart(server.url, {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    ...CLIENT,
    client_secret: "nope",
  });
  assertEquals(denied.body, { error: "invalid_client" });
  // The urlencoded form still works beside it.
  assertEquals((await refresh(server, refreshToken)).status, 200);

  const revoked = await postMultipart(server.revokeUrl, {
    token: refreshToken,
  });
  assertEquals(revoked.body, { status: "success" });
  assert(!server.isValid(refreshToken));

  assertEquals(
    server.requests.map((
      r,
    ) => [r.endpoint, r.encoding, r.grantType, r.outcome]),
    [
      ["token", "multipart", "authorization_code", "issued"],
      ["token", "multipart", "refresh_token", "issued"],
      ["token", "multipart", "refresh_token", "invalid_client"],
      ["token", "urlencoded", "refresh_token", "issued"],
      ["revoke", "multipart", undefined, "revoked"],
    ],
  );
  const stats = server.stats();
  assertEquals(
    [stats.token, stats.authorizationCode, stats.refreshToken, stats.revoke],
    [4, 1, 3, 1],
  );
});

Deno.test("token server: a multipart body that does not parse is refused before it counts", async () => {
  await using server = await startTokenServer();
  const response = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "multipart/form-data; boundary=xyz" },
    body: "--abc\r\nnot a form\r\n",
  });
  assertEquals(response.status, 400);
  assertEquals((await response.json()).error, "invalid_request");
  assertEquals(server.requests.length, 0);
  assertEquals(server.stats().token, 0);
});

Deno.test("token server: the CRM users API answers the current access token of a family only", async () => {
  let now = 1_800_000_000_000;
  await using server = await startTokenServer({
    now: () => now,
    expiresInSec: 60,
  });
  assertEquals(server.crmUrl, `${server.origin}/crm/v8/users`);
  const refreshToken = server.issueRefreshToken({
    userName: "ada@example.com",
  });
  const first = (await refresh(server, refreshToken)).body
    .access_token as string;

  const ok = await crm(server.crmUrl, `Zoho-oauthtoken ${first}`);
  assertEquals(ok.status, 200);
  const users = ok.body.users as Record<string, unknown>[];
  assertEquals(users.length, 1);
  assertEquals(users[0].email, "ada@example.com");
  assertEquals(users[0].full_name, "Fixture ada");
  assert(/^\d{19}$/.test(users[0].id as string), `id ${users[0].id}`);
  assertEquals(ok.body.info, {
    per_page: 200,
    count: 1,
    page: 1,
    more_records: false,
  });

  // A refresh makes the family's earlier access token stale for the CRM API
  // (the /api/* endpoints still take every unexpired one).
  const second = (await refresh(server, refreshToken)).body
    .access_token as string;
  assertEquals(await crm(server.crmUrl, `Zoho-oauthtoken ${first}`), {
    status: 401,
    body: INVALID_TOKEN,
  });
  const echo = await fetch(server.apiUrl, {
    headers: { authorization: `Zoho-oauthtoken ${first}` },
  });
  assertEquals(echo.status, 200);
  await echo.body?.cancel();
  assertEquals(
    (await crm(server.crmUrl, `Zoho-oauthtoken ${second}`)).status,
    200,
  );

  // Another family has its own current token.
  const other = (await refresh(server, server.issueRefreshToken())).body
    .access_token as string;
  const anonymous = await crm(server.crmUrl, `Zoho-oauthtoken ${other}`);
  assertEquals(
    (anonymous.body.users as Record<string, unknown>[])[0].email,
    "user2@example.com",
  );
  assertEquals(
    (await crm(server.crmUrl, `Zoho-oauthtoken ${second}`)).status,
    200,
  );

  for (
    const header of [
      undefined,
      "Zoho-oauthtoken 1000.unknown",
      `Bearer ${second}`,
      `Zoho-oauthtoken ${refreshToken}`,
    ]
  ) {
    assertEquals(await crm(server.crmUrl, header), {
      status: 401,
      body: INVALID_TOKEN,
    });
  }
  const post = await fetch(server.crmUrl, {
    method: "POST",
    headers: { authorization: `Zoho-oauthtoken ${second}` },
  });
  assertEquals(post.status, 405);
  await post.body?.cancel();

  now += 60_000; // expired by the server's clock
  assertEquals(
    (await crm(server.crmUrl, `Zoho-oauthtoken ${second}`)).status,
    401,
  );
  now -= 60_000;
  server.expireAccessTokens();
  assertEquals(
    (await crm(server.crmUrl, `Zoho-oauthtoken ${second}`)).status,
    401,
  );

  const stats = server.stats();
  // 12 CRM requests: 5 answered 200, the POST 405, 7 answered 401.
  assertEquals([stats.crm, stats.crm401, stats.api, stats.api401], [
    12,
    7,
    1,
    0,
  ]);
});

Deno.test("token server: a revoked family's current access token is refused by the CRM API", async () => {
  await using server = await startTokenServer();
  const refreshToken = server.issueRefreshToken();
  const access = (await refresh(server, refreshToken)).body
    .access_token as string;
  assertEquals(
    (await crm(server.crmUrl, `Zoho-oauthtoken ${access}`)).status,
    200,
  );
  const revoked = await postMultipart(server.revokeUrl, {
    token: refreshToken,
  });
  assertEquals(revoked.body, { status: "success" });
  assertEquals(
    (await crm(server.crmUrl, `Zoho-oauthtoken ${access}`)).status,
    401,
  );
});
