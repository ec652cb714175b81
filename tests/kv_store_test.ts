import {
  assert,
  assertEquals,
  assertExists,
  assertGreater,
  assertLessOrEqual,
  assertRejects,
} from "@std/assert";
import { join } from "@std/path";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken, type OAuthTokenInit } from "../core/token.ts";
import type { TokenStore } from "../core/token_store.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { testTokenStore } from "./conformance.ts";
import { assertLayout, h, rawLayout } from "./_kv_layout.ts";

testTokenStore(
  "KvTokenStore (:memory:)",
  () => KvTokenStore.open({ path: ":memory:" }),
);

/** A store over a fresh temporary file; closing it removes the file. */
async function openFileStore(): Promise<TokenStore> {
  const dir = await Deno.makeTempDir({ prefix: "kv_store_test_" });
  const store = await KvTokenStore.open({ path: join(dir, "tokens.sqlite3") });
  return {
    findToken: (query) => store.findToken(query),
    saveToken: (token) => store.saveToken(token),
    deleteToken: (id) => store.deleteToken(id),
    getTokens: () => store.getTokens(),
    deleteTokens: () => store.deleteTokens(),
    findTokenById: (id) => store.findTokenById(id),
    lock: store.lock,
    async close() {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

testTokenStore("KvTokenStore (file)", openFileStore);

// ---------------------------------------------------------------------------
// KV-specific behaviour

const test = (name: string, fn: (kv: Deno.Kv) => Promise<void>) =>
  Deno.test(`KvTokenStore › ${name}`, async () => {
    const kv = await Deno.openKv(":memory:");
    try {
      await fn(kv);
    } finally {
      kv.close();
    }
  });

function t(init: OAuthTokenInit): OAuthToken {
  return new OAuthToken(init);
}

test("index entries are exactly right after updates that change values and user", async (kv) => {
  const store = new KvTokenStore({ kv });
  const a = await store.saveToken(t({
    userName: "a@example.com",
    clientId: "1000.A",
    refreshToken: "1000.r1",
    accessToken: "1000.a1",
    grantToken: "1000.g1",
    expiresAt: 1,
  }));
  await assertLayout(kv, store);
  // new access and refresh token, grant dropped (replace, not merge)
  await store.saveToken(t({
    userName: "a@example.com",
    clientId: "1000.A",
    refreshToken: "1000.r2",
    accessToken: "1000.a2",
  }));
  await assertLayout(kv, store);
  // renamed user and new client, by id
  await store.saveToken(t({
    id: a.id,
    userName: "renamed@example.com",
    clientId: "1000.B",
    refreshToken: "1000.r2",
  }));
  await assertLayout(kv, store);
  assertEquals(await store.findToken({ userName: "a@example.com" }), null);
  assertEquals(await store.findToken({ accessToken: "1000.a2" }), null);
  // saved with userName but no clientId: the existing row loses its client
  const b = await store.saveToken(
    t({ userName: "renamed@example.com", refreshToken: "1000.r3" }),
  );
  assertEquals(b.id, a.id);
  assertEquals((await store.getTokens()).length, 1);
  await assertLayout(kv, store);
  // two tokens sharing an access token and refresh token: counters count both
  const c = await store.saveToken(t({
    id: "shared1",
    userName: "c@example.com",
    accessToken: "1000.same",
    refreshToken: "1000.r3",
  }));
  await store.saveToken(t({
    id: "shared2",
    userName: "d@example.com",
    accessToken: "1000.same",
    refreshToken: "1000.r3",
  }));
  await assertLayout(kv, store);
  assertEquals(
    (await kv.get(["tokenstore", "uniq", "refresh", await h("1000.r3"), ""]))
      .value,
    3,
  );
  assertEquals(await store.deleteToken(c.id!), true);
  await assertLayout(kv, store);
  assertEquals(await store.deleteToken("shared2"), true);
  assertEquals(await store.deleteToken(a.id!), true);
  assertEquals(await store.getTokens(), []);
  assertEquals((await rawLayout(kv, ["tokenstore"])).size, 0);
});

test("no value is written into a key: user names and tokens are hashed", async (kv) => {
  const store = new KvTokenStore({ kv });
  const long = "u".repeat(4096);
  await store.saveToken(t({
    userName: long,
    clientId: "c".repeat(4096),
    refreshToken: "1000.refresh-5ecret",
    accessToken: "1000.access-5ecret",
  }));
  for await (const { key } of kv.list({ prefix: [] })) {
    const text = JSON.stringify(key);
    assertLessOrEqual(text.length, 200);
    assert(!text.includes("5ecret") && !text.includes("uuuu"), text);
  }
  assertEquals((await store.findToken({ userName: long }))?.userName, long);
  await assertLayout(kv, store);
});

test("eventual consistency reads eventually, writes read strongly", async (kv) => {
  const seen: { op: string; consistency: unknown }[] = [];
  const spy = new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "get" || prop === "getMany" || prop === "list") {
        return (...args: unknown[]) => {
          const options = args[1] as { consistency?: string } | undefined;
          seen.push({ op: String(prop), consistency: options?.consistency });
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const store = new KvTokenStore({ kv: spy, consistency: "eventual" });
  const saved = await store.saveToken(
    t({ userName: "e@example.com", refreshToken: "1000.r" }),
  );
  assert(seen.length > 0);
  assert(seen.every((s) => s.consistency === "strong"), JSON.stringify(seen));
  seen.length = 0;
  assertEquals(
    (await store.findToken({ userName: "e@example.com" }))?.id,
    saved.id,
  );
  assertEquals((await store.findTokenById(saved.id!))?.id, saved.id);
  assertEquals((await store.getTokens()).length, 1);
  assertEquals(
    (await store.findToken({ refreshToken: "1000.r" }))?.id,
    saved.id,
  );
  assert(seen.length >= 4);
  assert(seen.every((s) => s.consistency === "eventual"), JSON.stringify(seen));
  // the default is strong
  seen.length = 0;
  await new KvTokenStore({ kv: spy }).findToken({ userName: "e@example.com" });
  assert(seen.every((s) => s.consistency === "strong"), JSON.stringify(seen));
  assert(
    (() => {
      try {
        new KvTokenStore({ kv, consistency: "sometimes" as "strong" });
        return false;
      } catch (error) {
        return error instanceof TypeError;
      }
    })(),
  );
});

async function saveMany(store: KvTokenStore, n: number): Promise<OAuthToken[]> {
  const saved: OAuthToken[] = [];
  for (let i = 0; i < n; i += 100) {
    saved.push(
      ...await Promise.all(
        Array.from(
          { length: Math.min(100, n - i) },
          (_, j) =>
            store.saveToken(t({
              userName: `user-${i + j}@example.com`,
              clientId: "1000.CLIENT",
              refreshToken: `1000.refresh-${i + j}`,
              accessToken: `1000.access-${i + j}`,
            })),
        ),
      ),
    );
  }
  return saved;
}

test("getTokens returns all of 1,200 tokens", async (kv) => {
  const store = new KvTokenStore({ kv });
  const saved = await saveMany(store, 1200);
  const all = await store.getTokens();
  assertEquals(all.length, 1200);
  assertEquals(
    new Set(all.map((x) => x.id)),
    new Set(saved.map((x) => x.id)),
  );
});

test("deleteTokens removes every key of 1,200 tokens but keeps leases", async (kv) => {
  const store = new KvTokenStore({ kv });
  await saveMany(store, 1200);
  const other = new KvTokenStore({ kv, prefix: ["other"] });
  await other.saveToken(
    t({ userName: "o@example.com", refreshToken: "1000.o" }),
  );
  const lease = await store.lock.acquire("refresh:x", { ttlMs: 60_000 });
  assertExists(lease);
  assertGreater((await rawLayout(kv, ["tokenstore"])).size, 1200 * 7);
  await store.deleteTokens();
  const left = [...(await rawLayout(kv, ["tokenstore"])).keys()];
  assertEquals(left, [JSON.stringify(["tokenstore", "lock", "refresh:x"])]);
  assertEquals(await store.getTokens(), []);
  assertEquals((await other.getTokens()).length, 1);
  // the lease still excludes others
  assertEquals(await store.lock.acquire("refresh:x", { ttlMs: 60_000 }), null);
  await lease.release();
  // and the store works as new
  await saveMany(store, 3);
  await assertLayout(kv, store);
});

test("deleteTokens removes orphan index entries and counters", async (kv) => {
  const store = new KvTokenStore({ kv });
  await store.saveToken(
    t({ userName: "a@example.com", refreshToken: "1000.r" }),
  );
  // as if an older writer had crashed between writes
  await kv.set(["tokenstore", "by_user", "x", "", "ghost1"], true);
  await kv.set(["tokenstore", "uniq", "refresh", "y", ""], 2);
  await store.deleteTokens();
  assertEquals((await rawLayout(kv, ["tokenstore"])).size, 0);
});

test("a stale counter does not block inserts for ever", async (kv) => {
  const store = new KvTokenStore({ kv });
  await kv.set(["tokenstore", "uniq", "user", await h("s@example.com"), ""], 5);
  const saved = await store.saveToken(
    t({ userName: "s@example.com", refreshToken: "1000.r" }),
  );
  assertExists(saved.id);
  await assertLayout(kv, store);
});

test("an oversized token is INVALID_TOKEN naming a field, and nothing is stored", async (kv) => {
  const store = new KvTokenStore({ kv });
  const wide = "東".repeat(4096);
  const big = t({
    userName: wide,
    clientId: wide,
    clientSecret: wide,
    redirectUrl: wide,
    grantToken: wide,
    refreshToken: wide,
    accessToken: wide,
    apiDomain: wide,
  });
  const error = await assertRejects(
    () => store.saveToken(big),
    TokenStoreError,
  );
  assertEquals(error.code, "INVALID_TOKEN");
  assert(/field "\w+"/.test(error.message), error.message);
  assert(!error.message.includes("東東"));
  assertEquals((await rawLayout(kv, [])).size, 0);
  // Deno KV itself would refuse the value: the check is not overcautious
  await assertRejects(() => kv.set(["probe"], big.toRecord()));
  // every field at its longest in ASCII fits
  const ascii = "x".repeat(4096);
  const large = await store.saveToken(t({
    userName: ascii,
    clientId: ascii,
    clientSecret: ascii,
    redirectUrl: ascii,
    grantToken: ascii,
    refreshToken: ascii,
    accessToken: ascii,
    apiDomain: ascii,
  }));
  assertEquals(
    (await store.findTokenById(large.id!))?.toRecord(),
    large.toRecord(),
  );
});

test("two prefixes on one Kv do not see each other", async (kv) => {
  const a = new KvTokenStore({ kv, prefix: ["app", "a"] });
  const b = new KvTokenStore({ kv, prefix: ["app", "b"] });
  const user = t({ userName: "same@example.com", refreshToken: "1000.r" });
  const sa = await a.saveToken(user);
  assertEquals(await b.findToken({ userName: "same@example.com" }), null);
  assertEquals(await b.findTokenById(sa.id!), null);
  assertEquals(await b.getTokens(), []);
  const sb = await b.saveToken(user);
  assertEquals((await a.getTokens()).map((x) => x.id), [sa.id]);
  assertEquals((await b.getTokens()).map((x) => x.id), [sb.id]);
  await b.deleteTokens();
  assertEquals((await a.getTokens()).length, 1);
  assertExists(await a.lock.acquire("k", { ttlMs: 10_000 }));
  assertExists(await b.lock.acquire("k", { ttlMs: 10_000 }));
  await assertLayout(kv, a, ["app", "a"]);
  assertEquals(
    [...(await rawLayout(kv, ["app", "b"])).keys()],
    [JSON.stringify(["app", "b", "lock", "k"])],
  );
});

test("a bad prefix is a TypeError", (kv) => {
  for (const prefix of [[null], "tokens", [{}], ["x".repeat(600)]]) {
    try {
      new KvTokenStore({ kv, prefix: prefix as Deno.KvKey });
      throw new Error(`accepted ${JSON.stringify(prefix).slice(0, 40)}`);
    } catch (error) {
      assert(error instanceof TypeError, String(error));
    }
  }
  return Promise.resolve();
});

test("lease value holds owner and expiry; an expired lease still present can be taken", async (kv) => {
  const store = new KvTokenStore({ kv });
  const before = Date.now();
  const lease = await store.lock.acquire("refresh:a", { ttlMs: 30_000 });
  assertExists(lease);
  const stored = await kv.get<{ owner: string; expiresAt: number }>(
    ["tokenstore", "lock", "refresh:a"],
  );
  assertEquals(typeof stored.value?.owner, "string");
  assert(stored.value!.expiresAt >= before + 30_000);
  assert(stored.value!.expiresAt <= Date.now() + 30_000);
  // expired by its value, still present as a key (KV deletes expired keys late)
  await kv.set(["tokenstore", "lock", "refresh:a"], {
    owner: stored.value!.owner,
    expiresAt: Date.now() - 1,
  });
  const next = await store.lock.acquire("refresh:a", { ttlMs: 30_000 });
  assertExists(next);
  assertEquals(await store.lock.acquire("refresh:a", { ttlMs: 30_000 }), null);
  // the old holder's release does not free the new lease
  await lease.release();
  assertEquals(await store.lock.acquire("refresh:a", { ttlMs: 30_000 }), null);
  await next.release();
  assertEquals((await kv.get(["tokenstore", "lock", "refresh:a"])).value, null);
});

test("concurrent saves of one user through separate store instances leave one row", async (kv) => {
  const stores = Array.from({ length: 5 }, () => new KvTokenStore({ kv }));
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      stores[i % 5].saveToken(t({
        userName: "race@example.com",
        clientId: "1000.C",
        refreshToken: `1000.r-${i}`,
      }))),
  );
  assertEquals(new Set(results.map((r) => r.id)).size, 1);
  assertEquals((await stores[0].getTokens()).length, 1);
  await assertLayout(kv, stores[0]);
  // with and without clientId, and tokens without user name
  const mixed = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      stores[i % 5].saveToken(
        i % 3 === 0
          ? t({ userName: "mix@example.com", refreshToken: `1000.m-${i}` })
          : i % 3 === 1
          ? t({
            refreshToken: "1000.solo",
            accessToken: `1000.a-${i}`,
            clientId: "1000.C",
          })
          : t({ grantToken: "1000.grant", clientId: "1000.C" }),
      )),
  );
  const all = await stores[0].getTokens();
  assertEquals(all.length, 1 + 3);
  assertEquals(new Set(mixed.map((r) => r.id)).size, 3);
  await assertLayout(kv, stores[0]);
});

test("close() closes only a Kv the store opened; errors after close are BACKEND", async (kv) => {
  const borrowed = new KvTokenStore({ kv });
  await borrowed.close();
  await kv.set(["still", "open"], 1);
  const dir = await Deno.makeTempDir({ prefix: "kv_store_test_" });
  try {
    const owned = await KvTokenStore.open({ path: join(dir, "a.sqlite3") });
    await owned.saveToken(
      t({ userName: "x@example.com", refreshToken: "1000.r" }),
    );
    await owned.close();
    await owned.close();
    const error = await assertRejects(() => owned.getTokens(), TokenStoreError);
    assertEquals(error.code, "BACKEND");
    assertExists(error.cause);
    const reopened = await KvTokenStore.open({ path: join(dir, "a.sqlite3") });
    assertEquals((await reopened.getTokens()).length, 1);
    await reopened.close();
    const bad = await assertRejects(
      () => KvTokenStore.open({ path: join(dir, "missing", "x", "a.sqlite3") }),
      TokenStoreError,
    );
    assertEquals(bad.code, "BACKEND");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("a corrupt stored record is CORRUPT, and can still be deleted", async (kv) => {
  const store = new KvTokenStore({ kv });
  await kv.set(["tokenstore", "token", "bad1"], {
    id: "bad1",
    expiresAt: "soon",
  });
  const error = await assertRejects(
    () => store.findTokenById("bad1"),
    TokenStoreError,
  );
  assertEquals(error.code, "CORRUPT");
  assertEquals(
    (await assertRejects(() => store.getTokens(), TokenStoreError)).code,
    "CORRUPT",
  );
  assertEquals(await store.deleteToken("bad1"), true);
  assertEquals(await store.getTokens(), []);
});

test("a write whose checks always fail ends in CONFLICT after bounded attempts, storing nothing", async (kv) => {
  // Every commit of this view of the (real) database reports a failed check,
  // as if another writer always won.
  const losing = new Proxy(kv, {
    get(target, prop) {
      if (prop === "atomic") {
        return () => {
          const op = target.atomic();
          const wrapper: Deno.AtomicOperation = new Proxy(op, {
            get(o, p) {
              if (p === "commit") {
                return () => Promise.resolve({ ok: false });
              }
              const value = Reflect.get(o, p, o);
              return typeof value === "function"
                ? (...args: unknown[]) => {
                  value.apply(o, args);
                  return wrapper;
                }
                : value;
            },
          });
          return wrapper;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const store = new KvTokenStore({ kv: losing });
  const started = Date.now();
  const error = await assertRejects(
    () =>
      store.saveToken(t({ userName: "c@example.com", refreshToken: "1000.r" })),
    TokenStoreError,
  );
  assertEquals(error.code, "CONFLICT");
  assertLessOrEqual(Date.now() - started, 10_000);
  assertEquals((await rawLayout(kv, [])).size, 0);
});
