/**
 * The file store's leases on their short path (issue 20): a lease change
 * takes the lock file and does its few system calls at once, synchronously,
 * when the lock file is free, and queues on it as before when it is not; a
 * lease the file already shows held is refused without the lock file.
 * Another descriptor holding the lock file's `flock` (as another process's
 * store does while it writes) stands in for contention.
 *
 * @module
 */

import { assert, assertEquals, assertExists } from "@std/assert";
import { join } from "@std/path";
import { FileTokenStore } from "../stores/file.ts";

async function withStore(
  fn: (store: FileTokenStore, path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "file_leases_" });
  const path = join(dir, "tokens.json");
  const store = new FileTokenStore({ path, lockTimeoutMs: 5_000 });
  try {
    // the store's synchronous calls are known once its file system is
    await store.getTokens();
    await fn(store, path);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Holds the lock file's `flock` from another descriptor until released. */
function holdLockFile(path: string): () => void {
  const file = Deno.openSync(`${path}.lock`, {
    read: true,
    write: true,
    create: true,
  });
  file.lockSync(true);
  return () => file.close();
}

Deno.test("file leases: a free lock file is taken and the lease file written before acquire returns to the event loop", async () => {
  await withStore(async (store, path) => {
    const leases = `${path}.leases.json`;
    const pending = store.lock.acquire("refresh:now", { ttlMs: 10_000 });
    // no await yet: the change is already on disk, and the lock file free
    const written = JSON.parse(Deno.readTextFileSync(leases));
    assertExists(written.leases["refresh:now"]);
    const release = holdLockFile(path); // would throw (wait) if still held
    release();
    const lease = await pending;
    assertExists(lease);
    await lease.release();
    assertEquals(JSON.parse(Deno.readTextFileSync(leases)).leases, {});
  });
});

Deno.test("file leases: with the lock file held elsewhere, acquire waits for it, then takes the lease", async () => {
  await withStore(async (store) => {
    const release = holdLockFile(store.path);
    let settled = false;
    const pending = store.lock.acquire("refresh:wait", { ttlMs: 10_000 })
      .finally(() => settled = true);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assertEquals(
      settled,
      false,
      "taken while another descriptor held the lock",
    );
    release();
    const lease = await pending;
    assertExists(lease);
    await lease.release();
  });
});

Deno.test("file leases: a lease the file shows held is refused at once, without waiting for the lock file", async () => {
  await withStore(async (store) => {
    const held = await store.lock.acquire("refresh:held", { ttlMs: 10_000 });
    assertExists(held);
    const release = holdLockFile(store.path);
    try {
      const started = performance.now();
      assertEquals(
        await store.lock.acquire("refresh:held", { ttlMs: 10_000 }),
        null,
      );
      // the lock file is held for good here: only a read can have answered
      assert(performance.now() - started < 1_000);
      assertEquals(await store.lock.isHeld!("refresh:held"), true);
    } finally {
      release();
    }
    await held.release();
    assertEquals(await store.lock.isHeld!("refresh:held"), false);
  });
});
