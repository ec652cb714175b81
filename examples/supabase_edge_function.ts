/**
 * A Supabase Edge Function (Deno): Zoho tokens in the project's own
 * PostgreSQL database through `PostgresTokenStore`, an OAuth callback that
 * stores a user's tokens, and a route that calls the Zoho CRM API through
 * `client.fetch`, which adds the access token and refreshes it (exactly once
 * across every function instance, through the store's lease table) when it
 * expires. The same code runs on Neon or any PostgreSQL server: only the URL
 * differs.
 *
 * Environment: `SUPABASE_DB_URL` (set by Supabase in every Edge Function;
 * elsewhere `DATABASE_URL`), `ZOHO_CLIENT_ID`, `ZOHO_CLIENT_SECRET`,
 * `ZOHO_REDIRECT_URL`, `ZOHO_DC` (default `US`) or `ZOHO_TOKEN_URL`; locally
 * also `PORT` and `TOKEN_TABLE` (default `oauthtoken`). Behind Supabase's
 * transaction pooler (port 6543) set `DB_PREPARE=false`.
 *
 *     supabase functions deploy zoho --no-verify-jwt
 *     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres deno run -A examples/supabase_edge_function.ts
 *
 * Routes, under the function's path (`/functions/v1/zoho/...` on Supabase):
 * - `GET …/oauth/callback?code=...&user=...` — exchanges the grant token.
 * - `GET …/crm/me?user=...` — the Zoho CRM current user, via `client.fetch`.
 * - `GET …/health`
 *
 * @module
 */

import {
  type DataCenter,
  OAuthError,
  TokenClient,
  TokenStoreError,
} from "../mod.ts";
import { PostgresTokenStore } from "../stores/postgres.ts";

const env = (name: string) => Deno.env.get(name) || undefined;

// one store and client per function instance, opened when it starts
const store = await PostgresTokenStore.open({
  url: env("SUPABASE_DB_URL") ?? env("DATABASE_URL") ??
    "postgres://postgres@127.0.0.1:5432/postgres",
  table: env("TOKEN_TABLE"),
  prepare: env("DB_PREPARE") !== "false",
  connectionLimit: 2,
});
const client = new TokenClient({
  store,
  clientId: env("ZOHO_CLIENT_ID") ?? "",
  clientSecret: env("ZOHO_CLIENT_SECRET") ?? "",
  redirectUrl: env("ZOHO_REDIRECT_URL"),
  dataCenter: (env("ZOHO_DC") ?? "US") as DataCenter,
  tokenUrl: env("ZOHO_TOKEN_URL"),
});
const crmPath = env("ZOHO_CRM_PATH") ?? "/crm/v8/users?type=CurrentUser";

/** What a failure tells the caller: never a secret, never a stack. */
function failure(error: unknown): Response {
  const [status, code] = error instanceof OAuthError
    ? [502, error.code]
    : error instanceof TokenStoreError && error.code === "INVALID_QUERY"
    ? [404, "not_connected"]
    : [500, "internal"];
  if (status === 500) {
    console.error("Request failed:", (error as Error)?.name ?? "error");
  }
  return Response.json({ error: code }, { status });
}

/** The function's handler; routes match the end of the path. */
export async function handler(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const route = url.pathname.replace(/\/+$/, "").split("/").slice(-2).join(
    "/",
  );
  const user = url.searchParams.get("user") ?? undefined;
  try {
    if (route.endsWith("health")) return new Response("ok");
    if (route === "oauth/callback") {
      const code = url.searchParams.get("code");
      if (!code || !user) {
        return Response.json({ error: "code and user are required" }, {
          status: 400,
        });
      }
      const token = await client.exchangeGrantToken(code, { userName: user });
      return Response.json({ connected: token.userName });
    }
    if (route === "crm/me" && user) {
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
    return failure(error);
  }
}

const port = env("PORT");
Deno.serve({
  port: port === undefined ? undefined : Number(port),
  hostname: port === undefined ? undefined : "127.0.0.1",
  onListen: ({ hostname, port }) =>
    console.log(`Listening on http://${hostname}:${port}/`),
}, handler);
