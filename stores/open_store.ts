/**
 * Open any token store from one URL. The store module and its database
 * driver are loaded only when a URL that needs them is opened, so importing
 * this module pulls in no driver and no native code.
 *
 * | URL | Store |
 * | --- | --- |
 * | `memory:` | `MemoryTokenStore` (this process only) |
 * | `kv:` / `kv:./tokens.db` | `KvTokenStore` on the default Deno KV database / a KV file |
 * | `file:./tokens.json` | `FileTokenStore`, JSON layout |
 * | `zoho-csv:./sdk_tokens.txt` | `FileTokenStore`, the Zoho SDKs' CSV layout |
 * | `libsql:file:./t.db`, `libsql::memory:`, `libsql:libsql://db.turso.io?authToken=…` | `LibsqlTokenStore` |
 * | `mysql://user:pass@host:3306/db?table=oauthtoken` | `MysqlTokenStore` |
 * | `postgres://user:pass@host:5432/db?table=oauthtoken&search_path=public` | `PostgresTokenStore` |
 * | `redis://:pass@host:6379/0?prefix=tokenstore&allowVolatile=true`, `rediss://…` | `RedisTokenStore` |
 *
 * `libsql:`, `mysql://` and `postgres://` URLs take `?table=NAME` (default
 * `oauthtoken`).
 * When no URL is given, the `TOKEN_STORE_URL` environment variable is used.
 *
 * @example Open a store from a URL
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OAuthToken, openStore } from "@tokenstore/tokenstore";
 *
 * const store = await openStore("memory:");
 * await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * const found = await store.findToken({ userName: "ada@example.com" });
 * assertEquals(found?.refreshToken, "1000.r");
 * await store.close?.();
 * ```
 *
 * @module
 */

import type { TokenStore } from "../core/token_store.ts";
import { ACCEPTED_FORMS, parseStoreUrl } from "./_store_url.ts";

/**
 * Options of {@linkcode openStore}.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { openStore, type OpenStoreOptions } from "@tokenstore/tokenstore";
 *
 * const options: OpenStoreOptions = { env: { TOKEN_STORE_URL: "memory:" } };
 * const store = await openStore(undefined, options);
 * assertEquals(await store.getTokens(), []);
 * await store.close?.();
 * ```
 */
export interface OpenStoreOptions {
  /**
   * Environment variables to read `TOKEN_STORE_URL` from instead of
   * `Deno.env` (which is read only where it exists).
   */
  env?: Record<string, string | undefined>;
}

/**
 * The environment variable holding the default store URL.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TOKEN_STORE_URL_ENV } from "@tokenstore/tokenstore";
 *
 * assertEquals(TOKEN_STORE_URL_ENV, "TOKEN_STORE_URL");
 * ```
 */
export const TOKEN_STORE_URL_ENV = "TOKEN_STORE_URL";

function defaultUrl(
  env?: Record<string, string | undefined>,
): string | undefined {
  if (env) return env[TOKEN_STORE_URL_ENV] || undefined;
  const denoEnv = (globalThis as {
    Deno?: { env?: { get(name: string): string | undefined } };
  }).Deno?.env;
  if (!denoEnv) return undefined;
  try {
    return denoEnv.get(TOKEN_STORE_URL_ENV) || undefined;
  } catch {
    // No permission to read the environment: behave as if it were unset.
    return undefined;
  }
}

/**
 * Opens the token store a URL names, loading its store module and driver on
 * demand. The caller closes it with `store.close?.()`.
 *
 * Accepted forms: `memory:`, `kv:` (default database), `kv:PATH`,
 * `file:PATH` (JSON), `zoho-csv:PATH` (the Zoho SDKs' `sdk_tokens.txt`),
 * `libsql:` followed by a libSQL URL (`libsql:file:PATH`, `libsql::memory:`,
 * `libsql:libsql://HOST?authToken=TOKEN`, `libsql:https://HOST`),
 * `mysql://USER:PASSWORD@HOST:PORT/DATABASE?table=TABLE`, and
 * `postgres://USER:PASSWORD@HOST:PORT/DATABASE?table=TABLE&search_path=SCHEMA&sslmode=require`
 * (also `postgresql://`), and
 * `redis://[USER:PASSWORD@]HOST:PORT/DB?prefix=PREFIX&allowVolatile=true`
 * (also `rediss://`, TLS).
 *
 * @example Open the store named by `TOKEN_STORE_URL`
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { openStore } from "@tokenstore/tokenstore";
 *
 * const store = await openStore(undefined, {
 *   env: { TOKEN_STORE_URL: "memory:" },
 * });
 * assertEquals((await store.getTokens()).length, 0);
 * await store.close?.();
 * ```
 *
 * @example Open a Zoho SDK token file and a KV database
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { join } from "@std/path";
 * import { openStore, OAuthToken } from "@tokenstore/tokenstore";
 *
 * const dir = await Deno.makeTempDir();
 * const zoho = await openStore(`zoho-csv:${join(dir, "sdk_tokens.txt")}`);
 * await zoho.saveToken(new OAuthToken({ userName: "ada", refreshToken: "1000.r" }));
 *
 * // Copy every token of the Zoho SDK file into a KV database.
 * const kv = await openStore(`kv:${join(dir, "tokens.db")}`);
 * for (const token of await zoho.getTokens()) await kv.saveToken(token);
 * assertEquals((await kv.findToken({ userName: "ada" }))?.refreshToken, "1000.r");
 * await zoho.close?.();
 * await kv.close?.();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param url The store URL; `undefined` reads `TOKEN_STORE_URL`.
 * @param options Where to read `TOKEN_STORE_URL` from.
 * @returns The open, ready store.
 * @throws {TypeError} For a missing URL, an unknown scheme or a malformed URL,
 * naming the accepted forms (never echoing a password or auth token).
 */
export async function openStore(
  url: string | undefined,
  options: OpenStoreOptions = {},
): Promise<TokenStore> {
  const resolved = url ?? defaultUrl(options.env);
  if (resolved === undefined) {
    throw new TypeError(
      `Cannot open token store: no URL given and "${TOKEN_STORE_URL_ENV}" is not set; accepted forms: ${ACCEPTED_FORMS}`,
    );
  }
  const spec = parseStoreUrl(resolved);
  switch (spec.kind) {
    case "memory": {
      const { MemoryTokenStore } = await import("./memory.ts");
      return new MemoryTokenStore();
    }
    case "kv": {
      const { KvTokenStore } = await import("./kv.ts");
      return await KvTokenStore.open({ path: spec.path });
    }
    case "file": {
      const { FileTokenStore } = await import("./file.ts");
      return new FileTokenStore({ path: spec.path, format: spec.format });
    }
    case "libsql": {
      const { LibsqlTokenStore } = await import("./libsql.ts");
      return await LibsqlTokenStore.open({
        url: spec.url,
        authToken: spec.authToken,
        table: spec.table,
      });
    }
    case "mysql": {
      const { MysqlTokenStore } = await import("./mysql.ts");
      return await MysqlTokenStore.open({
        host: spec.host,
        port: spec.port,
        user: spec.user,
        password: spec.password,
        database: spec.database,
        table: spec.table,
      });
    }
    case "postgres": {
      const { PostgresTokenStore } = await import("./postgres.ts");
      return await PostgresTokenStore.open({ url: resolved });
    }
    case "redis": {
      const { RedisTokenStore } = await import("./redis.ts");
      return await RedisTokenStore.open({
        url: spec.url,
        prefix: spec.prefix,
        allowVolatile: spec.allowVolatile,
      });
    }
  }
}
