/**
 * Waking waiters for another's refresh (core/_client/wakeup.ts): through the
 * client's own notification, a BroadcastChannel between clients of one
 * isolate (as between Deno Deploy isolates), and Deno KV `watch`.
 */

import { assert, assertEquals } from "@std/assert";
import { pollDelay, Wakeup } from "../core/_client/wakeup.ts";
import { OAuthToken } from "../core/token.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { MemoryTokenStore } from "../stores/memory.ts";

const LONG_MS = 5_000;

async function timed(wait: Promise<void>): Promise<number> {
  const started = Date.now();
  await wait;
  return Date.now() - started;
}

Deno.test("poll delays start at 10 ms and grow by 1.25 to the interval", () => {
  assertEquals(
    Array.from({ length: 12 }, (_, i) => pollDelay(i, 250)),
    [10, 13, 16, 20, 24, 31, 38, 48, 60, 75, 93, 116],
  );
  assertEquals(pollDelay(40, 250), 250);
});

Deno.test("a waiter is woken by a notification from its own client at once", async () => {
  const wakeup = new Wakeup(new MemoryTokenStore());
  const waiting = timed(wakeup.wait("a1", LONG_MS));
  wakeup.notify("b2"); // another token: no effect
  setTimeout(() => wakeup.notify("a1"), 20);
  assert(await waiting < 1_000);
});

Deno.test("a waiter is woken through a BroadcastChannel by another client", async () => {
  const here = new Wakeup(new MemoryTokenStore());
  const there = new Wakeup(new MemoryTokenStore());
  const waiting = timed(here.wait("a1", LONG_MS));
  setTimeout(() => there.notify("a1"), 20);
  assert(await waiting < 1_000);
});

Deno.test("a waiter on a Deno KV store is woken by the token's change", async () => {
  const store = await KvTokenStore.open({ path: ":memory:" });
  try {
    const saved = await store.saveToken(
      new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
    );
    const wakeup = new Wakeup(store);
    const waiting = timed(wakeup.wait(saved.id!, LONG_MS));
    setTimeout(
      () => store.saveToken(saved.with({ accessToken: "1000.a" })),
      20,
    );
    assert(await waiting < 1_000);
  } finally {
    await store.close();
  }
});

Deno.test("without news a waiter waits its delay", async () => {
  const wakeup = new Wakeup(new MemoryTokenStore());
  assert(await timed(wakeup.wait("a1", 100)) >= 95);
});
