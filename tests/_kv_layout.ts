/**
 * Test helpers: the Deno KV layout that `stores/kv.ts` documents, computed
 * independently of the store, and the raw keys actually found.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import type { OAuthToken } from "../core/token.ts";
import type { KvTokenStore } from "../stores/kv.ts";

/** SHA-256, base64url without padding, as the layout hashes values. */
export async function h(value: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(value),
  );
  return btoa(String.fromCharCode(...new Uint8Array(digest)))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Every key the documented layout says these tokens have, with values. */
export async function expectedLayout(
  prefix: Deno.KvKey,
  tokens: OAuthToken[],
): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  const counts = new Map<string, number>();
  const uniq = (key: Deno.KvKey) => {
    const id = JSON.stringify(key);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  };
  for (const t of tokens) {
    const id = t.id!;
    const client = t.clientId === undefined ? "" : await h(t.clientId);
    out.set(JSON.stringify([...prefix, "token", id]), t.toRecord());
    if (t.userName !== undefined) {
      const group = [await h(t.userName), client];
      out.set(JSON.stringify([...prefix, "by_user", ...group, id]), true);
      uniq([...prefix, "uniq", "user", ...group]);
    }
    if (t.accessToken !== undefined) {
      const group = [await h(t.accessToken)];
      out.set(JSON.stringify([...prefix, "by_access", ...group, id]), true);
      uniq([...prefix, "uniq", "access", ...group]);
    }
    for (
      const [kind, value] of [["grant", t.grantToken], [
        "refresh",
        t.refreshToken,
      ]]
    ) {
      if (value === undefined) continue;
      const group = [await h(value), client];
      out.set(JSON.stringify([...prefix, `by_${kind}`, ...group, id]), true);
      uniq([...prefix, "uniq", kind!, ...group]);
    }
  }
  for (const [key, count] of counts) out.set(key, count);
  return out;
}

/** Every raw key and value under a prefix. */
export async function rawLayout(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for await (const entry of kv.list({ prefix })) {
    out.set(JSON.stringify(entry.key), entry.value);
  }
  return out;
}

/** Asserts that the keys under the prefix are exactly the tokens' layout (leases aside). */
export async function assertLayout(
  kv: Deno.Kv,
  store: KvTokenStore,
  prefix: Deno.KvKey = ["tokenstore"],
) {
  const actual = await rawLayout(kv, prefix);
  for (const key of actual.keys()) {
    if (JSON.parse(key)[prefix.length] === "lock") actual.delete(key);
  }
  const expected = await expectedLayout(prefix, await store.getTokens());
  const sorted = (m: Map<string, unknown>) =>
    [...m.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
  assertEquals(sorted(actual), sorted(expected));
}
