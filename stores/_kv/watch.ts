/**
 * Waiting for a token record to change, with Deno KV `watch`: how waiters
 * for another isolate's refresh are woken at once on Deno Deploy. (The
 * local SQLite backend only reports changes made in the same process;
 * waiters elsewhere still poll.)
 *
 * @module
 */

import type { KvKey, KvLike } from "./kv_like.ts";

/**
 * Resolves once the value at `key` changes after the call (its versionstamp
 * differs from the first one `watch` reports), or when `signal` aborts.
 */
export async function watchKey(
  kv: KvLike,
  key: KvKey,
  signal: AbortSignal,
): Promise<void> {
  if (signal.aborted) return;
  const reader = kv.watch([key]).getReader();
  const stop = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    let first: string | null | undefined;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const stamp = value[0].versionstamp;
      if (first === undefined) first = stamp;
      else if (stamp !== first) return;
    }
  } finally {
    signal.removeEventListener("abort", stop);
    stop();
  }
}
