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
import {
  MAX_EXPIRES_AT,
  OAuthToken,
  type OAuthTokenInit,
} from "../core/token.ts";
import type { TokenStore } from "../core/token_store.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { testTokenStore } from "./conformance.ts";
import { assertLayout, h, rawLayout } from "./_kv_layout.ts";
import { wideToken } from "./fixtures/wide_columns.ts";

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
    status: store.status,
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

/** A token with every string field at its longest (4096 characters of `c`). */
function widest(c: string): OAuthToken {
  return wideToken((tag) => `${tag}${c.repeat(4095)}`, MAX_EXPIRES_AT);
}

/** The raw entries of the token's record and parts. */
async function rawToken(kv: Deno.Kv, id: string) {
  const record = await kv.get<Record<string, unknown>>([
    "tokenstore",
    "token",
    id,
  ]);
  const parts = new Map<string, Deno.KvEntry<unknown>>();
  for await (const entry of kv.list({ prefix: ["tokenstore", "part", id] })) {
    parts.set(String(entry.key[3]), entry);
  }
  return { record, parts };
}

test("a token too large for one Deno KV value keeps its unindexed fields apart and round-trips", async (kv) => {
  const store = new KvTokenStore({ kv });
  // two bytes per character: 65.6 KiB, which Deno KV refuses as one value
  const big = widest("東");
  await assertRejects(() => kv.set(["probe"], big.toRecord()));
  await kv.delete(["probe"]);
  const saved = await store.saveToken(big);
  const record = { ...big.toRecord(), id: saved.id };
  assertEquals(saved.toRecord(), record);
  assertEquals((await store.findTokenById(saved.id!))?.toRecord(), record);
  for (
    const query of [
      { userName: big.userName, clientId: big.clientId },
      { accessToken: big.accessToken },
      { refreshToken: big.refreshToken, clientId: big.clientId },
      { grantToken: big.grantToken },
    ]
  ) {
    assertEquals((await store.findToken(query))?.toRecord(), record);
  }
  assertEquals((await store.getTokens()).map((x) => x.toRecord()), [record]);
  // the largest unindexed field is apart, written with the record
  const raw = await rawToken(kv, saved.id!);
  const spilled = raw.record.value!.$spilled as string[];
  assert(spilled.length >= 1, JSON.stringify(spilled));
  assertEquals([...raw.parts.keys()].sort(), [...spilled].sort());
  for (const [field, part] of raw.parts) {
    assert(["clientSecret", "redirectUrl", "apiDomain"].includes(field));
    assertEquals(part.value, big[field as keyof OAuthTokenInit]);
    assertEquals(part.versionstamp, raw.record.versionstamp);
    assert(!(field in raw.record.value!));
  }
  // shrunk: the parts go, and the layout is the documented one
  const small = await store.saveToken(
    saved.with({ clientSecret: "s", redirectUrl: "d", apiDomain: "p" }),
  );
  assertEquals((await rawToken(kv, saved.id!)).parts.size, 0);
  await assertLayout(kv, store);
  // large again, then deleted: nothing is left
  await store.saveToken(small.with(big.toRecord()));
  assertEquals(
    (await store.findTokenById(saved.id!))?.toRecord(),
    record,
  );
  assertEquals(await store.deleteToken(saved.id!), true);
  assertEquals((await rawLayout(kv, [])).size, 0);
  await store.saveToken(big);
  await store.deleteTokens();
  assertEquals((await rawLayout(kv, [])).size, 0);
  // at its longest in ASCII and in Latin-1 too (V8 may store any string with
  // two bytes per character, so the store counts two)
  for (const c of ["x", "é"]) {
    const one = await store.saveToken(widest(c));
    assertEquals(
      (await store.findTokenById(one.id!))?.toRecord(),
      one.toRecord(),
    );
  }
  assertEquals((await store.getTokens()).length, 2);
});

test("a part that is missing or not written with its record is CORRUPT; deleteTokens sweeps stray parts", async (kv) => {
  const store = new KvTokenStore({ kv });
  const corrupt = async (id: string) => {
    for (
      const read of [() => store.findTokenById(id), () => store.getTokens()]
    ) {
      const error = await assertRejects(read, TokenStoreError);
      assertEquals(error.code, "CORRUPT");
      assert(!error.message.includes("東東"), error.message);
    }
  };
  const missing = await store.saveToken(widest("東"));
  const { parts } = await rawToken(kv, missing.id!);
  const [field] = [...parts.keys()];
  await kv.delete(["tokenstore", "part", missing.id!, field]);
  await corrupt(missing.id!);
  assertEquals(await store.deleteToken(missing.id!), true);
  assertEquals((await rawLayout(kv, [])).size, 0);

  const stale = await store.saveToken(widest("東"));
  await kv.set(["tokenstore", "part", stale.id!, field], "rewritten alone");
  await corrupt(stale.id!);
  await kv.set(["tokenstore", "token", "bad1"], {
    id: "bad1",
    refreshToken: "1000.r",
    $spilled: ["refreshToken"],
  });
  const error = await assertRejects(
    () => store.findTokenById("bad1"),
    TokenStoreError,
  );
  assertEquals(error.code, "CORRUPT");
  // stray parts: of no token, or of a token that does not list them
  await kv.set(["tokenstore", "part", "ghost1", "clientSecret"], "x");
  const plain = await store.saveToken(
    t({ userName: "p@example.com", refreshToken: "1000.p" }),
  );
  await kv.set(["tokenstore", "part", plain.id!, "apiDomain"], "x");
  await store.deleteTokens();
  assertEquals((await rawLayout(kv, [])).size, 0);
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
