/**
 * What a Deno KV lookup costs in calls to the database, and the synchronous
 * SHA-256 the index keys are hashed with.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { MAX_EXPIRES_AT, OAuthToken, TOKEN_FIELDS } from "../core/token.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { sha256, sha256Base64Url } from "../stores/_kv/sha256.ts";
import { h } from "./_kv_layout.ts";

/** A `Deno.Kv` that counts the reads made through it, by method. */
function counting(kv: Deno.Kv): { kv: Deno.Kv; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const counted = new Proxy(kv, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (name === "get" || name === "getMany" || name === "list") {
          reads.set(name, (reads.get(name) ?? 0) + 1);
        }
        return value.apply(target, args);
      };
    },
  });
  return { kv: counted, reads };
}

Deno.test("KvTokenStore › a lookup of a usual token is one index list and one record read, never a read of parts", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const { kv: counted, reads } = counting(kv);
    const store = new KvTokenStore({ kv: counted });
    const saved = await store.saveToken(
      new OAuthToken({
        userName: "ada@example.com",
        clientId: "1000.C",
        clientSecret: "s".repeat(40),
        refreshToken: "1000.r",
        accessToken: "1000.a",
        grantToken: "1000.g",
        redirectUrl: "https://example.com/cb",
        apiDomain: "https://www.zohoapis.com",
        expiresAt: Date.now() + 3_600_000,
      }),
    );
    for (
      const query of [
        { userName: "ada@example.com" },
        { userName: "ada@example.com", clientId: "1000.C" },
        { refreshToken: "1000.r" },
        { accessToken: "1000.a" },
        { grantToken: "1000.g", clientId: "1000.C" },
      ]
    ) {
      reads.clear();
      assertEquals((await store.findToken(query))?.id, saved.id);
      assertEquals(
        Object.fromEntries(reads),
        { list: 1, getMany: 1 },
        JSON.stringify(query),
      );
    }
    reads.clear();
    assertEquals((await store.findToken({ id: saved.id }))?.id, saved.id);
    assertEquals(Object.fromEntries(reads), { get: 1 });
  } finally {
    kv.close();
  }
});

Deno.test("KvTokenStore › a lookup of a token stored in parts reads the parts once, with the record", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const { kv: counted, reads } = counting(kv);
    const store = new KvTokenStore({ kv: counted });
    // every string field at 4,096 two-byte characters: too large for one value
    const big = new OAuthToken({
      ...Object.fromEntries(
        TOKEN_FIELDS.filter((f) => f !== "id" && f !== "expiresAt")
          .map((f) => [f, `${f[0]}${"東".repeat(4095)}`]),
      ),
      expiresAt: MAX_EXPIRES_AT,
    });
    const saved = await store.saveToken(big);
    reads.clear();
    const found = await store.findToken({ userName: big.userName });
    assertEquals(found?.toRecord(), saved.toRecord());
    assertEquals(Object.fromEntries(reads), { list: 1, getMany: 2 });
  } finally {
    kv.close();
  }
});

Deno.test("sha256Base64Url gives crypto.subtle's SHA-256 for every length around the block boundaries, every UTF-8 width and the longest values", async () => {
  const lengths = [
    ...Array.from({ length: 200 }, (_, i) => i),
    447,
    448,
    511,
    512,
    1364,
    1365,
    1366,
    1367,
    4095,
    4096,
  ];
  const units = ["a", "é", "東", "😀"];
  for (const length of lengths) {
    for (const unit of units) {
      const value = unit.repeat(Math.ceil(length / unit.length))
        .slice(0, length);
      const safe = value.at(-1) === "\ud83d" ? value.slice(0, -1) : value;
      assertEquals(
        sha256Base64Url(safe),
        await h(safe),
        `${length} × ${JSON.stringify(unit)}`,
      );
    }
  }
  // bytes past the reused buffer
  const bytes = crypto.getRandomValues(new Uint8Array(20_000));
  assertEquals(
    sha256(bytes),
    new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
  );
  // the reused buffer holds nothing over from a longer message
  assertEquals(sha256Base64Url("abc"), await h("abc"));
  assertEquals(
    sha256Base64Url("abc"),
    "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0",
  );
});
