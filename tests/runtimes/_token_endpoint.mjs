/**
 * A tiny OAuth token endpoint on 127.0.0.1 (node:http, so it runs on Node and
 * Bun): the `refresh_token` grant of RFC 6749 as Zoho answers it, with a
 * request counter per client id and a small latency so that concurrent callers
 * overlap. Access tokens are numbered per client id (`<clientId>.access-1`,
 * `-2`, …), so a runtime can tell from the token it got how many requests the
 * endpoint served. The form comes URL-encoded (`TokenClient`) or as
 * `multipart/form-data` (the Zoho Node.js SDK posts its own refreshes so,
 * with npm `form-data`).
 *
 * Also the one Zoho CRM API call the Zoho SDK checks make:
 * `GET /crm/v8/users?type=CurrentUser` with `Authorization: Zoho-oauthtoken
 * <access token>` answers a Zoho-shaped users body (as the SDK's users
 * `ResponseHandler` parses it) for the current access token of a client id
 * only — the one issued last, unexpired — and Zoho's 401
 * `{"code":"INVALID_TOKEN"}` for any other.
 *
 * `GET /stats?client_id=<id>` answers `{ "requests": n }`.
 *
 * @module
 */

import { createServer } from "node:http";
import { CLIENT_SECRET, REFRESH_TOKEN } from "./_constants.mjs";

/** The access tokens' lifetime, in seconds (`expires_in`). */
const EXPIRES_IN = 3600;

/** Zoho's answer to an API call with an access token it does not accept. */
const INVALID_TOKEN = {
  code: "INVALID_TOKEN",
  details: {},
  message: "invalid oauth token",
  status: "error",
};

/**
 * Starts the endpoint on an ephemeral loopback port.
 *
 * @param {{ latencyMs?: number, localApiDomain?: boolean }} [options]
 *   `localApiDomain`: answer the endpoint's own origin as `api_domain`
 *   instead of Zoho's US one (the Zoho SDKs send their API calls to a Zoho
 *   `api_domain`, i.e. off this machine).
 * @returns {Promise<{ url: string, origin: string, port: number, requests: (clientId?: string) => number, multipartRequests: () => number, apiCalls: (status?: number) => number, close: () => Promise<void> }>}
 *   `requests()` without a client id counts every token request;
 *   `multipartRequests()` those posted as `multipart/form-data` (by a Zoho
 *   SDK itself); `apiCalls()` without a status every CRM API call.
 */
export async function startTokenEndpoint(options = {}) {
  const latencyMs = options.latencyMs ?? 100;
  /** @type {Map<string, number>} */
  const counts = new Map();
  let total = 0;
  let multipart = 0;
  /** Client id → its current access token and when it expires (epoch ms). */
  /** @type {Map<string, { accessToken: string, expiresAt: number }>} */
  const current = new Map();
  /** @type {Map<number, number>} */
  const apiCounts = new Map();
  let origin = "";
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const url = new URL(request.url ?? "/", "http://127.0.0.1");
      const send = (status, body) => {
        response.writeHead(status, { "content-type": "application/json" });
        response.end(JSON.stringify(body));
      };
      if (request.method === "GET" && url.pathname === "/stats") {
        send(200, {
          requests: counts.get(url.searchParams.get("client_id") ?? "") ?? 0,
        });
        return;
      }
      if (request.method === "GET" && url.pathname === "/crm/v8/users") {
        const header = request.headers.authorization ?? "";
        const token = /^Zoho-oauthtoken (\S+)$/.exec(header)?.[1];
        const clientId = token?.replace(/\.access-\d+$/, "");
        const live = clientId === undefined ? undefined : current.get(clientId);
        const ok = live !== undefined && live.accessToken === token &&
          live.expiresAt > Date.now();
        const status = ok ? 200 : 401;
        apiCounts.set(status, (apiCounts.get(status) ?? 0) + 1);
        send(status, ok ? usersBody() : INVALID_TOKEN);
        return;
      }
      if (request.method !== "POST" || url.pathname !== "/oauth/v2/token") {
        send(404, { error: "not_found" });
        return;
      }
      const contentType = request.headers["content-type"] ?? "";
      const form = parseForm(contentType, concat(chunks));
      if (/^multipart\/form-data/i.test(contentType)) multipart++;
      const clientId = form.get("client_id") ?? "";
      const n = (counts.get(clientId) ?? 0) + 1;
      counts.set(clientId, n);
      total++;
      setTimeout(() => {
        if (form.get("grant_type") !== "refresh_token") {
          send(400, { error: "unsupported_grant_type" });
        } else if (form.get("client_secret") !== CLIENT_SECRET) {
          send(401, { error: "invalid_client" });
        } else if (form.get("refresh_token") !== REFRESH_TOKEN) {
          send(200, { error: "invalid_code" }); // Zoho: HTTP 200 with an error field
        } else {
          const accessToken = `${clientId}.access-${n}`;
          current.set(clientId, {
            accessToken,
            expiresAt: Date.now() + EXPIRES_IN * 1000,
          });
          send(200, {
            access_token: accessToken,
            expires_in: EXPIRES_IN,
            api_domain: options.localApiDomain
              ? origin
              : "https://www.zohoapis.com",
            token_type: "Bearer",
          });
        }
      }, latencyMs);
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(undefined));
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  origin = `http://127.0.0.1:${port}`;
  const sum = (map) => [...map.values()].reduce((a, b) => a + b, 0);
  return {
    url: `${origin}/oauth/v2/token`,
    origin,
    port,
    requests: (clientId) =>
      clientId === undefined ? total : counts.get(clientId) ?? 0,
    multipartRequests: () => multipart,
    apiCalls: (status) =>
      status === undefined ? sum(apiCounts) : apiCounts.get(status) ?? 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve(undefined));
      }),
  };
}

/** The users API's answer, shaped as Zoho's (ids are digit strings). */
function usersBody() {
  return {
    users: [{
      id: "4150868000000225013",
      first_name: "Runtime",
      last_name: "Check",
      full_name: "Runtime Check",
      email: "ada@example.com",
      status: "active",
      confirm: true,
      language: "en_US",
      locale: "en_US",
      country: "US",
      zuid: "90000001",
      role: { name: "CEO", id: "4150868000000026005" },
      profile: { name: "Administrator", id: "4150868000000026011" },
    }],
    info: { per_page: 200, count: 1, page: 1, more_records: false },
  };
}

/**
 * A token request's fields: `application/x-www-form-urlencoded`, or
 * `multipart/form-data` with text fields only.
 */
function parseForm(contentType, bytes) {
  const text = new TextDecoder().decode(bytes);
  const boundary = /^multipart\/form-data;.*\bboundary=(?:"([^"]+)"|([^;]+))/i
    .exec(contentType);
  if (boundary === null) return new URLSearchParams(text);
  const form = new URLSearchParams();
  const delimiter = `--${boundary[1] ?? boundary[2].trim()}`;
  for (const part of text.split(delimiter).slice(1)) {
    if (part.startsWith("--")) break; // the closing delimiter
    const split = part.indexOf("\r\n\r\n");
    if (split < 0) continue;
    const name = /\bname="([^"]*)"/.exec(part.slice(0, split))?.[1];
    if (name === undefined) continue;
    form.append(name, part.slice(split + 4).replace(/\r\n$/, ""));
  }
  return form;
}

function concat(chunks) {
  const size = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
