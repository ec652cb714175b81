/**
 * A tiny OAuth token endpoint on 127.0.0.1 (node:http, so it runs on Node and
 * Bun): the `refresh_token` grant of RFC 6749 as Zoho answers it, with a
 * request counter per client id and a small latency so that concurrent callers
 * overlap. Access tokens are numbered per client id (`<clientId>.access-1`,
 * `-2`, …), so a runtime can tell from the token it got how many requests the
 * endpoint served.
 *
 * `GET /stats?client_id=<id>` answers `{ "requests": n }`.
 *
 * @module
 */

import { createServer } from "node:http";
import { CLIENT_SECRET, REFRESH_TOKEN } from "./_constants.mjs";

/**
 * Starts the endpoint on an ephemeral loopback port.
 *
 * @param {{ latencyMs?: number }} [options]
 * @returns {Promise<{ url: string, origin: string, port: number, requests: (clientId: string) => number, close: () => Promise<void> }>}
 */
export async function startTokenEndpoint(options = {}) {
  const latencyMs = options.latencyMs ?? 100;
  /** @type {Map<string, number>} */
  const counts = new Map();
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
      if (request.method !== "POST" || url.pathname !== "/oauth/v2/token") {
        send(404, { error: "not_found" });
        return;
      }
      const form = new URLSearchParams(
        new TextDecoder().decode(concat(chunks)),
      );
      const clientId = form.get("client_id") ?? "";
      const n = (counts.get(clientId) ?? 0) + 1;
      counts.set(clientId, n);
      setTimeout(() => {
        if (form.get("grant_type") !== "refresh_token") {
          send(400, { error: "unsupported_grant_type" });
        } else if (form.get("client_secret") !== CLIENT_SECRET) {
          send(401, { error: "invalid_client" });
        } else if (form.get("refresh_token") !== REFRESH_TOKEN) {
          send(200, { error: "invalid_code" }); // Zoho: HTTP 200 with an error field
        } else {
          send(200, {
            access_token: `${clientId}.access-${n}`,
            expires_in: 3600,
            api_domain: "https://www.zohoapis.com",
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
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/oauth/v2/token`,
    origin,
    port,
    requests: (clientId) => counts.get(clientId) ?? 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve(undefined));
      }),
  };
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
