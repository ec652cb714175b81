/**
 * The cache's staleness bound across processes: a worker process keeps
 * serving a cached token that the test (another process's view) deleted
 * from the shared store for at most `maxStaleMs`, then reads the store
 * again and stops.
 */

import { assert, assertEquals } from "@std/assert";
import {
  closeAll,
  harness,
  USER,
  Worker,
} from "./fixtures/stampede_harness.ts";
import type { RoundResult } from "./fixtures/stampede_worker.ts";
import { STORE_TARGETS } from "./fixtures/store_specs.ts";

const MAX_STALE_MS = 500;

for (const name of ["Deno KV file", "libSQL file"]) {
  Deno.test(`cache: a token deleted from the ${name} store by another process is served for at most maxStaleMs (${MAX_STALE_MS} ms)`, async () => {
    const target = STORE_TARGETS.find((t) => t.name === name)!;
    await using h = await harness(
      target,
      "cache_stale_",
      0,
    );
    const worker = new Worker(
      h.config({ concurrency: 5, cache: { maxStaleMs: MAX_STALE_MS } }),
    );
    try {
      await worker.next();
      await worker.round(1, 0);
      const first = await worker.next<RoundResult>();
      const hash = await h.storedHash();
      assertEquals(first.tokenHashes, [hash]);
      const stored = await h.store.findToken({ userName: USER });
      await h.store.deleteToken(stored!.id!);
      const deleted = Date.now();
      await worker.round(2, 0);
      const stale = await worker.next<RoundResult>();
      assertEquals(stale.errors, [], "served from the cache");
      assertEquals(stale.tokenHashes, [hash]);
      assert(Date.now() - deleted < MAX_STALE_MS);
      await new Promise((resolve) =>
        setTimeout(resolve, MAX_STALE_MS - (Date.now() - deleted) + 50)
      );
      await worker.round(3, 0);
      const gone = await worker.next<RoundResult>();
      assertEquals(gone.tokenHashes, []);
      assertEquals(gone.errors.length, 5);
      assert(gone.errors.every((e) => e.includes("no stored token matches")));
    } finally {
      const codes = await closeAll([worker], h.secrets);
      assertEquals(codes, [0]);
    }
  });
}
