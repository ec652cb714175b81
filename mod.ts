/**
 * tokenstore keeps OAuth tokens alive: an immutable token model, a
 * {@linkcode TokenStore} interface compatible with the Zoho CRM SDKs' token
 * stores, stores that are safe for many processes and edge isolates at once
 * (memory, Deno KV, libSQL/Turso, file, MySQL, PostgreSQL, Redis and Upstash), and a
 * {@linkcode TokenClient}
 * that exchanges grant tokens and refreshes access tokens exactly once per
 * expiry. Importing this module loads no database driver: drivers are loaded
 * when a store that needs them is opened.
 *
 * @example Quick start with the memory store
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MemoryTokenStore, OAuthToken } from "@tokenstore/tokenstore";
 *
 * const store = new MemoryTokenStore();
 * await store.saveToken(
 *   new OAuthToken({
 *     userName: "ada@example.com",
 *     clientId: "1000.CLIENT",
 *     refreshToken: "1000.refresh",
 *   }),
 * );
 * const token = await store.findToken({ userName: "ada@example.com" });
 * assertEquals(token?.refreshToken, "1000.refresh");
 * // Printed, secrets are redacted:
 * assertEquals(String(token).includes("1000.refresh"), false);
 * ```
 *
 * @example Open any store from a URL and keep an access token fresh
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OAuthToken, openStore, TokenClient } from "@tokenstore/tokenstore";
 *
 * const store = await openStore("memory:"); // or "kv:./tokens.db", "postgres://…", "redis://…"
 * await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.refresh" }),
 * );
 * const client = new TokenClient({
 *   store,
 *   clientId: "1000.CLIENT",
 *   clientSecret: "client-secret",
 *   // Without it, the client calls Zoho's token endpoint; here it answers so:
 *   fetch: () =>
 *     Promise.resolve(
 *       Response.json({ access_token: "1000.access", expires_in: 3600 }),
 *     ),
 * });
 * const query = { userName: "ada@example.com" };
 * // Refreshed once and saved, then served until it nears expiry:
 * assertEquals(await client.getAccessToken(query), "1000.access");
 * assertEquals((await store.findToken(query))?.accessToken, "1000.access");
 * await store.close?.();
 * ```
 *
 * @module
 */

export * from "./core/errors.ts";
export * from "./core/id.ts";
export * from "./core/token.ts";
export * from "./core/token_store.ts";
export * from "./core/token_status.ts";
export * from "./core/data_centers.ts";
export * from "./core/token_client.ts";
export * from "./core/encrypted_token_store.ts";
export * from "./stores/memory.ts";
export * from "./stores/kv.ts";
export * from "./stores/libsql.ts";
export * from "./stores/file.ts";
export * from "./stores/mysql.ts";
export * from "./stores/postgres.ts";
export * from "./stores/redis.ts";
export * from "./stores/open_store.ts";
export * from "./stores/zoho_sdk.ts";
