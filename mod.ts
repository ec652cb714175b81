/**
 * tokenstore keeps OAuth tokens alive: an immutable token model, a
 * {@linkcode TokenStore} interface compatible with the Zoho CRM SDKs' token
 * stores, stores that are safe for many processes and edge isolates at once
 * (memory, Deno KV, libSQL/Turso, file, MySQL, PostgreSQL), and a {@linkcode TokenClient}
 * that exchanges grant tokens and refreshes access tokens exactly once per
 * expiry. Importing this module loads no database driver: drivers are loaded
 * when a store that needs them is opened.
 *
 * @example Quick start with the memory store
 * ```ts
 * import { MemoryTokenStore, OAuthToken } from "@tokenstore/tokenstore";
 *
 * const store = new MemoryTokenStore();
 * await store.saveToken(new OAuthToken({
 *   userName: "ada@example.com",
 *   clientId: "1000.CLIENT",
 *   refreshToken: "1000.refresh",
 * }));
 * const token = await store.findToken({ userName: "ada@example.com" });
 * console.log(token); // secrets are redacted
 * ```
 *
 * @example Open any store from a URL and keep an access token fresh
 * ```ts ignore
 * import { openStore, TokenClient } from "@tokenstore/tokenstore";
 *
 * const store = await openStore("kv:./tokens.db");
 * const client = new TokenClient({ store, clientId: "1000.CLIENT", clientSecret: "..." });
 * const accessToken = await client.getAccessToken({ userName: "ada@example.com" });
 * ```
 *
 * @module
 */

export * from "./core/errors.ts";
export * from "./core/id.ts";
export * from "./core/token.ts";
export * from "./core/token_store.ts";
export * from "./core/data_centers.ts";
export * from "./core/token_client.ts";
export * from "./core/encrypted_token_store.ts";
export * from "./stores/memory.ts";
export * from "./stores/kv.ts";
export * from "./stores/libsql.ts";
export * from "./stores/file.ts";
export * from "./stores/mysql.ts";
export * from "./stores/postgres.ts";
export * from "./stores/open_store.ts";
