/**
 * The Deno KV store under faults: writers on separate handles of one KV file
 * racing on the same user (real versionstamp conflicts and SQLite write
 * locks), and the KV file's disk filling up.
 */

import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
} from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { assertLayout } from "./_kv_layout.ts";
import { CAN_MOUNT, mountTmpfs } from "./fixtures/tmpfs.ts";
import {
  assertSecretFree,
  renderError,
  secretsOf,
} from "./fixtures/secret_scan.ts";

const WRITERS = 6;
const ROUNDS = 10;

Deno.test("writers on separate handles of one KV file race on one user: no lost token, success or CONFLICT, never a raw KV error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokenstore_kv_faults_" });
  const kvs: Deno.Kv[] = [];
  try {
    for (let i = 0; i < WRITERS + 1; i++) {
      kvs.push(await Deno.openKv(`${dir}/tokens.db`));
    }
    const stores = kvs.map((kv) => new KvTokenStore({ kv }));
    const reader = stores[WRITERS];
    const race = "race@example.com";
    const seed = await stores[0].saveToken(
      new OAuthToken({ userName: race, refreshToken: "1000.kv-race-seed" }),
    );

    // a reader on its own handle must see the raced user at every moment
    let writing = true;
    let reads = 0;
    const readerLoop = (async () => {
      while (writing) {
        const found = await reader.findToken({ userName: race });
        assertEquals(found?.id, seed.id, "the raced user vanished");
        reads++;
      }
    })();

    const started = Date.now();
    // each writer: its own user and the shared one, every round
    const writes: { writer: number; own: boolean; value: string }[] = [];
    const results = await Promise.allSettled(
      stores.slice(0, WRITERS).flatMap((store, writer) =>
        Array.from({ length: ROUNDS }, (_, round) => {
          const own = `1000.kv-own-${writer}-${round}`;
          const shared = `1000.kv-race-${writer}-${round}`;
          writes.push({ writer, own: true, value: own });
          writes.push({ writer, own: false, value: shared });
          return [
            store.saveToken(
              new OAuthToken({
                userName: `w${writer}@example.com`,
                refreshToken: own,
              }),
            ),
            store.saveToken(
              new OAuthToken({ userName: race, refreshToken: shared }),
            ),
          ];
        }).flat()
      ),
    );
    writing = false;
    await readerLoop;
    assert(reads > 0);
    assert(Date.now() - started < 20_000, "the writes were not bounded");

    let conflicts = 0;
    const ok = new Set<string>();
    const lastOwn = new Map<number, string>();
    for (const [i, result] of results.entries()) {
      const write = writes[i];
      if (result.status === "fulfilled") {
        assertEquals(result.value.refreshToken, write.value);
        ok.add(write.value);
        if (write.own) lastOwn.set(write.writer, write.value);
        continue;
      }
      // a typed error, never a raw KV or SQLite error
      assertInstanceOf(result.reason, TokenStoreError);
      assertEquals(result.reason.code, "CONFLICT", result.reason.message);
      assertSecretFree(renderError(result.reason), [write.value], "CONFLICT");
      conflicts++;
    }
    assert(conflicts < results.length / 2, `${conflicts} conflicts`);

    // one token per user: the raced one holds a value whose save succeeded,
    // each writer's own user the last value it saved successfully
    const tokens = await reader.getTokens();
    assertEquals(tokens.length, 1 + WRITERS);
    const raced = tokens.find((t) => t.userName === race)!;
    assertEquals(raced.id, seed.id);
    assert(ok.has(raced.refreshToken!), "the raced user lost its last save");
    for (let writer = 0; writer < WRITERS; writer++) {
      const own = tokens.find((t) => t.userName === `w${writer}@example.com`);
      assertEquals(own?.refreshToken, lastOwn.get(writer), `writer ${writer}`);
      assertEquals(
        (await reader.findToken({ refreshToken: own!.refreshToken }))?.id,
        own!.id,
      );
    }
    // every index entry and counter is exactly right
    await assertLayout(kvs[0], stores[0]);
  } finally {
    for (const kv of kvs) kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saves of one user made in order on one KV store apply in that order, even when not awaited one by one", async () => {
  for (let trial = 0; trial < 20; trial++) {
    const store = await KvTokenStore.open({ path: ":memory:" });
    try {
      const saves = Array.from({ length: 8 }, (_, i) =>
        store.saveToken(
          new OAuthToken({
            userName: "order@example.com",
            clientId: "1000.C",
            refreshToken: `1000.kv-order-${i}`,
          }),
        ));
      await Promise.all(saves);
      assertEquals(
        (await store.findToken({ userName: "order@example.com" }))
          ?.refreshToken,
        "1000.kv-order-7",
        `trial ${trial}`,
      );
    } finally {
      await store.close();
    }
  }
});

if (!CAN_MOUNT) {
  console.log(
    "Notice: not root, so tests/faults_kv_test.ts cannot mount a tmpfs: the disk-full test is not registered",
  );
} else {
  Deno.test("a KV file whose disk is full: BACKEND, stored tokens intact, the next save after space is freed succeeds", async () => {
    await using disk = await mountTmpfs(512);
    const store = await KvTokenStore.open({ path: `${disk.path}/tokens.db` });
    try {
      const seeded: OAuthToken[] = [];
      for (const user of ["ada", "bob"]) {
        seeded.push(
          await store.saveToken(
            new OAuthToken({
              userName: `${user}@example.com`,
              clientSecret: `kv-full-client-secret-${user}`,
              refreshToken: `1000.kv-full-refresh-${user}`,
              accessToken: `1000.kv-full-access-${user}`,
              expiresAt: 1_800_000_000_000,
            }),
          ),
        );
      }
      await disk.fill();
      const big = (n: number) =>
        new OAuthToken({
          userName: `big${n}@example.com`,
          refreshToken: `1000.kv-full-big-${n}-${"x".repeat(4000)}`,
          accessToken: `1000.kv-full-big-access-${n}-${"y".repeat(4000)}`,
        });
      const secrets = seeded.flatMap(secretsOf);
      for (let n = 0; n < 8; n++) {
        const token = big(n);
        const error = await assertRejects(
          () => store.saveToken(token),
          TokenStoreError,
        );
        assertEquals(error.code, "BACKEND");
        assert(/full/i.test(error.message), error.message);
        assertSecretFree(
          renderError(error),
          [...secrets, ...secretsOf(token)],
          "the disk-full error",
        );
      }
      const update = await assertRejects(
        () =>
          store.saveToken(seeded[0].with({ accessToken: "x".repeat(4000) })),
        TokenStoreError,
      );
      assertEquals(update.code, "BACKEND");
      // nothing half-written: the stored tokens read back exactly
      const read = await store.getTokens();
      assertEquals(
        read.map((t) => t.toRecord()).sort((a, b) =>
          a.userName! < b.userName! ? -1 : 1
        ),
        seeded.map((t) => t.toRecord()),
      );
      assertEquals(
        (await store.findToken({ refreshToken: seeded[1].refreshToken }))?.id,
        seeded[1].id,
      );

      await disk.free();
      const saved = await store.saveToken(big(0));
      assertEquals(
        (await store.findToken({ userName: "big0@example.com" }))?.id,
        saved.id,
      );
      const updated = await store.saveToken(
        seeded[0].with({ accessToken: "1000.kv-full-access-after" }),
      );
      assertEquals(updated.id, seeded[0].id);
      assertEquals((await store.getTokens()).length, 3);
    } finally {
      await store.close();
    }
  });
}
