/**
 * "Connect Zoho" in a web app: a `Deno.serve` app that connects users with
 * the authorization code flow (PKCE, a single-use state in an HttpOnly
 * cookie), in whichever Zoho data center they live, keeps their tokens in a
 * store, and disconnects them.
 *
 *     ZOHO_CLIENT_ID=… ZOHO_CLIENT_SECRET=… deno run -A examples/connect_app.ts
 *
 * Routes:
 * - `GET /` — the connections with their status, and a form to connect a user;
 * - `GET /connect?user=<name>` — redirects to the provider's consent page;
 * - `GET /callback` — completes: exchanges the code, stores the token;
 * - `POST /disconnect` (form field `id`) — revokes the token and deletes it.
 *
 * Environment: `TOKEN_STORE_URL` (default `kv:./tokens.db`),
 * `ZOHO_CLIENT_ID`, `ZOHO_CLIENT_SECRET`, `ZOHO_DC` (default `US`), or for
 * any other provider `AUTHORIZE_URL` + `TOKEN_URL`; `SCOPE` (default
 * `ZohoCRM.users.READ`), `REDIRECT_URL` (default
 * `http://localhost:$PORT/callback`, registered for the client), `PORT`
 * (default 8000). No page shows a secret.
 *
 * @module
 */

import {
  type DataCenter,
  OAuthError,
  type OAuthToken,
  openStore,
  TokenClient,
  TokenStoreError,
} from "../mod.ts";

const env = (name: string) => Deno.env.get(name) || undefined;
const port = Number(env("PORT") ?? 8000);
const store = await openStore(env("TOKEN_STORE_URL") ?? "kv:./tokens.db");
const client = new TokenClient({
  store,
  clientId: env("ZOHO_CLIENT_ID") ?? "",
  clientSecret: env("ZOHO_CLIENT_SECRET") ?? "",
  redirectUrl: env("REDIRECT_URL") ?? `http://localhost:${port}/callback`,
  dataCenter: (env("ZOHO_DC") ?? "US") as DataCenter,
  authorizeUrl: env("AUTHORIZE_URL"),
  tokenUrl: env("TOKEN_URL"),
});
const scope = (env("SCOPE") ?? "ZohoCRM.users.READ").split(/[\s,]+/);

/** Text made safe for HTML. */
function html(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(body: string, status = 200, headers: HeadersInit = {}) {
  return new Response(
    `<!doctype html><html><head><meta charset="utf-8"><title>Connections</title></head><body>${body}</body></html>`,
    {
      status,
      headers: {
        "content-type": "text/html; charset=utf-8",
        // no form-action: Chromium applies it to the redirect to the provider
        "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
        ...headers,
      },
    },
  );
}

/** What the app knows of a connection, from its stored token. */
function statusOf(token: OAuthToken): string {
  if (token.refreshToken !== undefined) return "ok";
  return token.isExpired() ? "needs authorisation" : "ok (no refresh token)";
}

async function list(notice = ""): Promise<Response> {
  const tokens = await store.getTokens();
  const rows = tokens.map((token) =>
    `<tr data-user="${html(token.userName ?? "")}"><td class="user">${
      html(token.userName ?? "(no name)")
    }</td><td class="status">${statusOf(token)}</td><td>${
      html(token.apiDomain ?? "")
    }</td><td><form method="post" action="/disconnect"><input type="hidden" name="id" value="${
      html(token.id ?? "")
    }"><button>Disconnect</button></form></td></tr>`
  ).join("");
  return page(
    `<h1>Connections</h1>${notice}<table id="connections"><tr><th>User</th><th>Status</th><th>API domain</th><th></th></tr>${rows}</table>
<form method="get" action="/connect"><label>User <input name="user" id="user" required></label> <button id="connect">Connect</button></form>`,
  );
}

function problem(error: unknown): Response {
  const code = error instanceof OAuthError || error instanceof TokenStoreError
    ? error.code
    : "error";
  if (!(error instanceof OAuthError)) {
    console.error(
      "Request failed:",
      error instanceof Error ? error.message : "unknown error",
    );
  }
  return page(
    `<h1>Not connected</h1><p id="error">${
      html(code)
    }</p><p><a href="/">Back</a></p>`,
    400,
  );
}

async function handle(request: Request): Promise<Response> {
  const url = new URL(request.url);
  try {
    if (request.method === "GET" && url.pathname === "/") return await list();
    if (request.method === "GET" && url.pathname === "/connect") {
      const user = url.searchParams.get("user")?.trim();
      if (!user) return page("<p>Give a user name.</p>", 400);
      const { url: to, cookie } = await client.authorize({
        scope,
        userName: user,
      });
      return new Response(null, {
        status: 302,
        headers: { location: to.href, "set-cookie": cookie },
      });
    }
    if (request.method === "GET" && url.pathname === "/callback") {
      const { cookie } = await client.handleCallback(request);
      return new Response(null, {
        status: 303,
        headers: { location: "/", "set-cookie": cookie },
      });
    }
    if (request.method === "POST" && url.pathname === "/disconnect") {
      // a form posted from another site must not disconnect anyone
      if (request.headers.get("origin") !== url.origin) {
        return page("<p>Refused: not from this site.</p>", 403);
      }
      const id = (await request.formData()).get("id");
      if (typeof id !== "string" || id === "") {
        return page("<p>No connection named.</p>", 400);
      }
      await client.revoke({ id });
      return new Response(null, { status: 303, headers: { location: "/" } });
    }
    return page("<p>Not found.</p>", 404);
  } catch (error) {
    return problem(error);
  }
}

Deno.serve({
  port,
  hostname: env("HOSTNAME") ?? "127.0.0.1",
  onListen: ({ hostname, port }) =>
    console.log(`Listening on http://${hostname}:${port}/`),
}, handle);
