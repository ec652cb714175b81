import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStrictEquals,
} from "@std/assert";
import { join } from "@std/path";
import { EncryptedTokenStore } from "../core/encrypted_token_store.ts";
import { TokenStoreError } from "../core/errors.ts";
import { TokenClient } from "../core/token_client.ts";
import { OAuthToken, type OAuthTokenInit } from "../core/token.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import {
  expectCorrupt,
  full,
  KEY_A,
  KEY_B,
  SECRET_FIELDS,
} from "./fixtures/encrypted_helpers.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";
import { testTokenStore } from "./conformance.ts";
import { createZohoLibsqlTable } from "./fixtures/zoho_tables.ts";

// A 4096-character column holds an encrypted secret of 3036 bytes at most.
const ENCRYPTED = { maxSecretLength: 3036 };

testTokenStore(
  "EncryptedTokenStore (memory)",
  () =>
    Promise.resolve(
      new EncryptedTokenStore(new MemoryTokenStore(), { keys: [KEY_A] }),
    ),
  ENCRYPTED,
);

testTokenStore(
  "EncryptedTokenStore (memory, rotated keys)",
  () =>
    Promise.resolve(
      new EncryptedTokenStore(new MemoryTokenStore(), {
        keys: `${KEY_B},${KEY_A}`,
      }),
    ),
  ENCRYPTED,
);

testTokenStore("EncryptedTokenStore (libSQL file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "encrypted_conformance_" });
  const inner = await LibsqlTokenStore.open({
    url: `file:${join(dir, "tokens.db")}`,
  });
  const store = new EncryptedTokenStore(inner, { keys: [KEY_A] });
  return Object.assign(store, {
    async close(): Promise<void> {
      await inner.close();
      await Deno.remove(dir, { recursive: true });
    },
  });
}, ENCRYPTED);

Deno.test("EncryptedTokenStore keeps no plaintext secret in the inner store", async () => {
  const inner = new MemoryTokenStore();
  const store = new EncryptedTokenStore(inner, { keys: [KEY_A] });
  const token = full("ada@example.com");
  const saved = await store.saveToken(token);
  assertEquals(saved.toRecord(), { ...token.toRecord(), id: saved.id });
  const [raw] = await inner.getTokens();
  for (const field of SECRET_FIELDS) {
    const stored = raw[field]!;
    assertMatch(stored, /^enc1:[A-Za-z0-9_-]{4}:[A-Za-z0-9_-]+$/);
    assertFalse(stored.includes(token[field]!.slice(5, 20)));
    // 70 characters encrypt to 141
    assertEquals(stored.length, 141);
  }
  for (
    const field of ["id", "userName", "clientId", "expiresAt", "apiDomain"]
  ) {
    assertEquals(
      raw[field as keyof OAuthTokenInit],
      saved[field as keyof OAuthTokenInit],
    );
  }
  // each value names the same key, and equal values in different fields differ
  const keyIds = new Set(SECRET_FIELDS.map((f) => raw[f]!.split(":")[1]));
  assertEquals(keyIds.size, 1);
});

Deno.test("EncryptedTokenStore encryption is deterministic per key and field only", async () => {
  const innerA = new MemoryTokenStore();
  const innerB = new MemoryTokenStore();
  const value = "1000.same-value";
  const token = new OAuthToken({
    refreshToken: value,
    accessToken: value,
    grantToken: value,
  });
  await new EncryptedTokenStore(innerA, { keys: [KEY_A] }).saveToken(token);
  await new EncryptedTokenStore(innerA, { keys: [KEY_A] }).saveToken(
    token.with({ userName: "x@example.com", refreshToken: "1000.other" }),
  );
  await new EncryptedTokenStore(innerB, { keys: [KEY_B] }).saveToken(token);
  const [a1, a2] = await innerA.getTokens();
  const [b] = await innerB.getTokens();
  // same key, field and value: same string (what lets the inner store match)
  assertEquals(a1.accessToken, a2.accessToken);
  assertNotEquals(a1.refreshToken, a2.refreshToken);
  // another field or another key: a different string
  assertNotEquals(a1.refreshToken, a1.accessToken);
  assertNotEquals(a1.accessToken, a1.grantToken);
  assertNotEquals(a1.accessToken, b.accessToken);
});

Deno.test("EncryptedTokenStore finds tokens by refresh, access and grant token", async () => {
  const inner = new MemoryTokenStore();
  const store = new EncryptedTokenStore(inner, { keys: [KEY_A] });
  const a = await store.saveToken(full("a@example.com"));
  const b = await store.saveToken(full("b@example.com", 100));
  for (const t of [a, b]) {
    for (
      const query of [
        { refreshToken: t.refreshToken },
        { refreshToken: t.refreshToken, clientId: "1000.CLIENTID" },
        { accessToken: t.accessToken },
        { grantToken: t.grantToken },
      ]
    ) {
      assertEquals((await store.findToken(query))?.toRecord(), t.toRecord());
    }
  }
  // the inner store cannot be searched by plaintext
  assertEquals(await inner.findToken({ refreshToken: a.refreshToken }), null);
  assertEquals(await store.findToken({ refreshToken: "1000.unknown" }), null);
  // a value too long to have been stored matches nothing
  assertEquals(await store.findToken({ refreshToken: "x".repeat(4000) }), null);
  const error = await assertRejects(
    () => store.saveToken(new OAuthToken({ refreshToken: "x".repeat(4000) })),
    TokenStoreError,
  );
  assertEquals(error.code, "INVALID_TOKEN");
  assertMatch(error.message, /"refreshToken".*too long to store encrypted/);
  assertEquals((await inner.getTokens()).length, 2);
});

Deno.test("EncryptedTokenStore reads old keys, rekeys to the first, then drops the old key", async () => {
  const inner = new MemoryTokenStore();
  const old = new EncryptedTokenStore(inner, { keys: [KEY_A] });
  const user = await old.saveToken(full("ada@example.com"));
  const solo = await old.saveToken(
    new OAuthToken({ refreshToken: "1000.solo", clientId: "1000.X" }),
  );
  const oldKeyId = (await inner.getTokens())[0].refreshToken!.split(":")[1];

  const rotated = new EncryptedTokenStore(inner, { keys: [KEY_B, KEY_A] });
  assertEquals(
    (await rotated.findTokenById(user.id!))?.toRecord(),
    user.toRecord(),
  );
  assertEquals(
    (await rotated.findToken({ refreshToken: "1000.solo" }))?.id,
    solo.id,
  );
  assertEquals(
    (await rotated.findToken({ accessToken: user.accessToken }))?.id,
    user.id,
  );
  // a save matched by an old-key refresh token updates that row in place
  const updated = await rotated.saveToken(
    new OAuthToken({
      refreshToken: "1000.solo",
      clientId: "1000.X",
      accessToken: "1000.acc",
    }),
  );
  assertEquals(updated.id, solo.id);
  assertEquals((await inner.getTokens()).length, 2);
  const newKeyId =
    (await inner.findTokenById(solo.id!))!.accessToken!.split(":")[1];
  assertNotEquals(newKeyId, oldKeyId);

  const result = await rotated.rekey();
  assertEquals(result, {
    keyId: newKeyId,
    scanned: 2,
    rekeyed: 1,
    skipped: [],
    corrupt: [],
  });
  for (const raw of await inner.getTokens()) {
    for (const field of SECRET_FIELDS) {
      if (raw[field] !== undefined) {
        assert(raw[field]!.startsWith(`enc1:${newKeyId}:`));
      }
    }
  }
  assertEquals((await rotated.rekey()).rekeyed, 0);

  const only = new EncryptedTokenStore(inner, { keys: [KEY_B] });
  assertEquals(
    (await only.findToken({ refreshToken: user.refreshToken }))?.toRecord(),
    user.toRecord(),
  );
  assertEquals((await only.getTokens()).length, 2);
  // the old key alone no longer reads anything
  const error = await expectCorrupt(
    () =>
      new EncryptedTokenStore(inner, { keys: [KEY_A] }).findTokenById(user.id!),
    [user.refreshToken!, KEY_A, KEY_B],
  );
  assertMatch(
    error.message,
    new RegExp(`key "${newKeyId}", which is not among the configured keys`),
  );
});

Deno.test("EncryptedTokenStore.rekey waits for a busy lease, skips it and does not undo a refresh", async () => {
  const inner = new MemoryTokenStore();
  const old = new EncryptedTokenStore(inner, { keys: [KEY_A] });
  const saved = await old.saveToken(full("ada@example.com"));
  const store = new EncryptedTokenStore(inner, { keys: [KEY_B, KEY_A] });
  assertStrictEquals(store.lock, inner.lock);
  const lease = await store.lock!.acquire(`refresh:${saved.id}`, {
    ttlMs: 10_000,
  });
  assert(lease !== null);
  const busy = await store.rekey({ waitMs: 120 });
  assertEquals([busy.rekeyed, busy.skipped], [0, [saved.id!]]);
  // the holder refreshes meanwhile (with the old key, as an old process would)
  await old.saveToken(saved.with({ accessToken: "1000.refreshed" }));
  setTimeout(() => lease.release(), 100);
  const done = await store.rekey({ waitMs: 5_000 });
  assertEquals([done.rekeyed, done.skipped], [1, []]);
  assertEquals(
    (await store.findTokenById(saved.id!))?.accessToken,
    "1000.refreshed",
  );
});

Deno.test("EncryptedTokenStore on libSQL: Zoho-length tokens fit varchar(255), 155 bytes at most", async () => {
  const dir = await Deno.makeTempDir({ prefix: "encrypted_libsql_" });
  const url = `file:${join(dir, "tokens.db")}`;
  await createZohoLibsqlTable(url);
  const inner = await LibsqlTokenStore.open({ url });
  const store = new EncryptedTokenStore(inner, { keys: [KEY_A] });
  try {
    const lengths = new Map<number, number>();
    for (const length of [70, 100, 155]) {
      const saved = await store.saveToken(
        full(`u${length}@example.com`, length),
      );
      const raw = (await inner.findTokenById(saved.id!))!;
      lengths.set(length, raw.refreshToken!.length);
      assertEquals(
        (await store.findToken({ refreshToken: saved.refreshToken }))
          ?.toRecord(),
        saved.toRecord(),
      );
    }
    assertEquals(Object.fromEntries(lengths), { 70: 141, 100: 181, 155: 254 });
    const error = await assertRejects(
      () => store.saveToken(full("too-long@example.com", 156)),
      TokenStoreError,
    );
    assertEquals(error.code, "INVALID_TOKEN");
    assertEquals((await store.getTokens()).length, 3);
    // close closes the inner store
    await store.close();
    await assertRejects(() => inner.getTokens());
  } finally {
    await inner.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TokenClient exchanges and refreshes through an EncryptedTokenStore on libSQL", async () => {
  await using server = await startTokenServer({ mode: "zoho" });
  const inner = await LibsqlTokenStore.open({ url: ":memory:" });
  const store = new EncryptedTokenStore(inner, { keys: [KEY_A] });
  try {
    const { clientId, clientSecret, redirectUrl } = DEFAULT_CLIENT;
    const client = new TokenClient({
      store,
      clientId,
      clientSecret,
      redirectUrl,
      tokenUrl: server.url,
    });
    const userName = "ada@example.com";
    const code = server.issueGrantCode({ userName });
    const exchanged = await client.exchangeGrantToken(code, { userName });
    const first = await client.getAccessToken({ userName });
    assertEquals(first, exchanged.accessToken);
    const refreshed = await client.refresh({ userName });
    assert(server.isValid(refreshed.accessToken!));
    assertNotEquals(refreshed.accessToken, first);
    assertEquals(server.stats().refreshToken, 1);
    assertEquals(
      (await store.findToken({ accessToken: refreshed.accessToken }))?.id,
      refreshed.id,
    );
    const [raw] = await inner.getTokens();
    for (const field of SECRET_FIELDS) {
      const value = raw[field];
      if (value === undefined) continue;
      assert(value.startsWith("enc1:") && value.length <= 255);
      for (const secret of [clientSecret, refreshed.refreshToken!, first]) {
        assertFalse(value.includes(secret));
      }
    }
  } finally {
    await store.close();
  }
});
