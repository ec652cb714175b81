/**
 * A Deno Deploy app: Zoho tokens in Deno KV (the managed database on
 * Deploy), an OAuth callback that stores a user's tokens, and a route that
 * calls the Zoho CRM API through `client.fetch`, which adds the access token
 * and refreshes it (exactly once across every isolate) when it expires.
 *
 * Environment: `ZOHO_CLIENT_ID`, `ZOHO_CLIENT_SECRET`, `ZOHO_REDIRECT_URL`,
 * `ZOHO_DC` (default `US`) or `ZOHO_TOKEN_URL`; locally also `KV_PATH` (a KV
 * file; on Deploy leave it unset) and `PORT`.
 *
 *     deno run -A examples/deploy/main.ts
 *
 * Routes:
 * - `GET /oauth/callback?code=...&user=...` — exchanges the grant token.
 * - `GET /crm/me?user=...` — the Zoho CRM current user, via `client.fetch`.
 * - `GET /health`
 *
 * Every day at 03:00 UTC, `Deno.cron` runs `client.keepAlive()`: tokens idle
 * for a day are refreshed (so refresh tokens that expire when unused stay
 * alive) and users who revoked access are found before they next call (their
 * status turns `revoked`). Locally, `Deno.cron` needs `--unstable-cron`.
 *
 * @module
 */

import {
  type DataCenter,
  KvTokenStore,
  OAuthError,
  TokenClient,
  TokenStoreError,
} from "../../mod.ts";

const env = (name: string) => Deno.env.get(name) || undefined;
const store = await KvTokenStore.open({ path: env("KV_PATH") });
const client = new TokenClient({
  store,
  clientId: env("ZOHO_CLIENT_ID") ?? "",
  clientSecret: env("ZOHO_CLIENT_SECRET") ?? "",
  redirectUrl: env("ZOHO_REDIRECT_URL"),
  dataCenter: (env("ZOHO_DC") ?? "US") as DataCenter,
  tokenUrl: env("ZOHO_TOKEN_URL"),
});
const crmPath = env("ZOHO_CRM_PATH") ?? "/crm/v8/users?type=CurrentUser";

function fail(error: unknown): Response {
  if (error instanceof TokenStoreError && error.code === "INVALID_QUERY") {
    return Response.json({ error: "not_connected" }, { status: 404 });
  }
  if (error instanceof TokenStoreError && error.code === "CONFLICT") {
    // a grant token already exchanged for another user
    return Response.json({ error: "conflict" }, { status: 409 });
  }
  if (error instanceof OAuthError) {
    return Response.json({ error: error.code }, { status: 502 });
  }
  console.error(
    "Request failed:",
    error instanceof Error ? error.message : "unknown error",
  );
  return Response.json({ error: "internal" }, { status: 500 });
}

async function handle(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const user = url.searchParams.get("user") ?? undefined;
  try {
    if (url.pathname === "/health") return new Response("ok");
    if (url.pathname === "/oauth/callback") {
      const code = url.searchParams.get("code");
      if (!code || !user) {
        return Response.json({ error: "code and user are required" }, {
          status: 400,
        });
      }
      const token = await client.exchangeGrantToken(code, { userName: user });
      return Response.json({ connected: token.userName });
    }
    if (url.pathname === "/crm/me" && user) {
      const response = await client.fetch(crmPath, {
        token: { userName: user },
      });
      return new Response(response.body, {
        status: response.status,
        headers: {
          "content-type": response.headers.get("content-type") ??
            "application/json",
        },
      });
    }
    return new Response("Not found", { status: 404 });
  } catch (error) {
    return fail(error);
  }
}

const port = env("PORT");
Deno.serve({
  port: port === undefined ? undefined : Number(port),
  hostname: port === undefined ? undefined : "127.0.0.1",
  onListen: ({ hostname, port }) =>
    console.log(`Listening on http://${hostname}:${port}/`),
}, handle);

// Keep idle tokens alive and find revoked users before they call.
if (typeof Deno.cron === "function") {
  Deno.cron("tokenstore keep-alive", "0 3 * * *", async () => {
    const report = await client.keepAlive();
    console.log(`Keep-alive: ${JSON.stringify(report)}`);
  });
}
