/**
 * tokenstore keeps OAuth tokens alive: an immutable token model, a
 * {@linkcode TokenStore} interface compatible with the Zoho CRM SDKs' token
 * stores, and stores that are safe for many processes and edge isolates at
 * once. Importing this module loads no database driver.
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
 * @module
 */

export * from "./core/errors.ts";
export * from "./core/id.ts";
export * from "./core/token.ts";
export * from "./core/token_store.ts";
export * from "./stores/memory.ts";
