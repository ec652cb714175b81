/**
 * The driver-free entry of tokenstore: the token model, the
 * {@linkcode TokenStore} contract and its matching helpers, errors, ids, Zoho
 * data centers, the refresh client {@linkcode TokenClient},
 * {@linkcode EncryptedTokenStore} and the in-process
 * {@linkcode MemoryTokenStore}.
 *
 * It uses only Web APIs (`fetch`, `crypto.subtle`, `EventTarget`,
 * `BroadcastChannel` where present) and reaches no database driver and no
 * `Deno` global, so it runs unchanged on Deno, Deno Deploy, Node, Bun,
 * Cloudflare Workers (no compatibility flag), Vercel Edge and Supabase Edge
 * Functions. Bring any other {@linkcode TokenStore} of your own, or import a
 * store's entry (`@tokenstore/tokenstore/kv`, `/libsql`, `/file`, `/mysql`,
 * `/postgres`) where its backend exists.
 *
 * @example Keep an access token fresh with the memory store
 * ```ts
 * import { MemoryTokenStore, OAuthToken, TokenClient } from "@tokenstore/tokenstore/core";
 * import { assertEquals } from "@std/assert";
 *
 * const store = new MemoryTokenStore();
 * await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.refresh" }),
 * );
 *
 * // A stand-in for the token endpoint: counts the refresh requests.
 * let requests = 0;
 * const fetch = (_input: RequestInfo | URL, _init?: RequestInit) => {
 *   requests++;
 *   return Promise.resolve(Response.json({ access_token: "1000.access", expires_in: 3600 }));
 * };
 * const client = new TokenClient({
 *   store,
 *   clientId: "1000.CLIENT",
 *   clientSecret: "secret",
 *   tokenUrl: "https://accounts.example.com/oauth/v2/token",
 *   fetch,
 * });
 *
 * // Three concurrent callers share one refresh.
 * const tokens = await Promise.all([1, 2, 3].map(() =>
 *   client.getAccessToken({ userName: "ada@example.com" })
 * ));
 * assertEquals(tokens, ["1000.access", "1000.access", "1000.access"]);
 * assertEquals(requests, 1);
 * assertEquals(
 *   (await store.findToken({ userName: "ada@example.com" }))?.accessToken,
 *   "1000.access",
 * );
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./id.ts";
export * from "./token.ts";
export * from "./token_store.ts";
export * from "./token_status.ts";
export * from "./data_centers.ts";
export * from "./token_client.ts";
export * from "./encrypted_token_store.ts";
export * from "../stores/memory.ts";
