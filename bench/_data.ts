/**
 * Shared pieces of the benchmarks: realistic tokens, temp directories
 * removed when the bench module unloads, and a round-robin picker.
 *
 * @module
 */

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { newTokenId } from "../core/id.ts";
import { OAuthToken } from "../core/token.ts";

/** The client every benchmark token belongs to. */
export const CLIENT_ID = "1000.BENCHCLIENT00000000000000000";
const CLIENT_SECRET = "bench-client-secret-0123456789abcdef0123";
const API_DOMAIN = "https://www.zohoapis.com";
const HOUR = 3_600_000;

/** A Zoho-like token value: `1000.` and 64 hex digits. */
export function tokenValue(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return `1000.${hex}`;
}

/**
 * `count` distinct tokens as a store holds them after a refresh: id, user,
 * client, secret, refresh and access token, expiry, API domain.
 *
 * @param count How many.
 * @param tag Part of every user name, so sets made for different stores differ.
 */
export function makeTokens(count: number, tag: string): OAuthToken[] {
  const ids = new Set<string>();
  const tokens: OAuthToken[] = [];
  const expiresAt = Date.now() + HOUR;
  for (let i = 0; i < count; i++) {
    let id = newTokenId();
    while (ids.has(id)) id = newTokenId();
    ids.add(id);
    tokens.push(
      new OAuthToken({
        id,
        userName: `user${i}.${tag}@example.com`,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        refreshToken: tokenValue(),
        accessToken: tokenValue(),
        expiresAt,
        apiDomain: API_DOMAIN,
      }),
    );
  }
  return tokens;
}

let fresh = 0;

/** A new token (no id) for a user no store holds yet: what an insert saves. */
export function newToken(): OAuthToken {
  return new OAuthToken({
    userName: `new${fresh++}.${crypto.randomUUID()}@example.com`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    refreshToken: tokenValue(),
    accessToken: tokenValue(),
    expiresAt: Date.now() + HOUR,
    apiDomain: API_DOMAIN,
  });
}

/** `token` after a refresh: a new access token and expiry, same id. */
export function refreshed(token: OAuthToken): OAuthToken {
  return token.with({
    accessToken: tokenValue(),
    expiresAt: Date.now() + HOUR,
  });
}

/**
 * An endless round-robin over `items` in a shuffled order, so successive
 * lookups hit unrelated keys.
 */
export function cycle<T>(items: readonly T[]): () => T {
  const order = [...items];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  let next = 0;
  return () => {
    const item = order[next];
    next = (next + 1) % order.length;
    return item;
  };
}

const cleanups: (() => void)[] = [];
let listening = false;

/**
 * Runs `fn` (synchronous: async work does not finish during `unload`) when
 * the bench module unloads.
 */
export function atUnload(fn: () => void): void {
  cleanups.push(fn);
  if (listening) return;
  listening = true;
  globalThis.addEventListener("unload", () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        cleanup();
      } catch {
        // best effort: the run is over
      }
    }
  });
}

/**
 * Runs the Deno script `script` with `args` and waits for it: the way an
 * `unload` handler gets async work (dropping tables) done.
 *
 * @param script The script's URL.
 * @param args Its arguments.
 */
export function runScriptSync(script: URL, args: string[]): void {
  new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script.pathname, ...args],
    stdout: "null",
    stderr: "inherit",
  }).outputSync();
}

/** A temp directory removed when the bench module unloads. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `tokenstore_bench_${prefix}_` });
  atUnload(() => Deno.removeSync(dir, { recursive: true }));
  return dir;
}

/**
 * Fails the run (before any bench starts) when a seeded store does not find
 * what it was seeded with.
 */
export function assertSeeded(
  what: string,
  found: OAuthToken | null,
  expected: OAuthToken,
): void {
  if (found?.id !== expected.id || found?.userName !== expected.userName) {
    throw new Error(`Seeding ${what} failed: a seeded token is not found`);
  }
}

/**
 * Runs a full garbage collection, so that the garbage left by seeding is not
 * collected during (and charged to) the first benchmarks of the module. Call
 * it last in a bench module's top level.
 */
export function collectGarbage(): void {
  try {
    setFlagsFromString("--expose-gc");
    (runInNewContext("gc") as () => void)();
  } catch {
    // not available: the first benchmarks may then include a collection
  }
}
