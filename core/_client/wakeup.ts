/**
 * Waking the callers that wait for another's refresh (design "Cache"): a
 * refresh that finishes notifies the waiters of this client at once, other
 * isolates and workers of the app through a `BroadcastChannel` where the
 * runtime has one (Deno Deploy isolates, workers), and stores that can watch
 * a token ({@linkcode WatchableStore}: Deno KV `watch`, PostgreSQL
 * `LISTEN/NOTIFY`, Redis pub/sub, the file store's directory watch, libSQL
 * files looked at by `stat`) wake waiters in any process. Waiters poll as
 * well, with a delay that starts short and grows to `pollIntervalMs`: a
 * notification lost (a dropped connection, a missed event) costs time, never
 * a stuck waiter.
 *
 * A channel is open only while someone waits: an open `BroadcastChannel`
 * would keep a script from exiting.
 *
 * @module
 */

import type { TokenStore } from "../token_store.ts";

/**
 * A store that can tell when token `id` changes: Deno KV, PostgreSQL, Redis,
 * the file store, libSQL files.
 */
export interface WatchableStore extends TokenStore {
  /**
   * Resolves when token `id` changes (or is deleted) after the call, or
   * when `signal` aborts.
   */
  watchToken(id: string, options: { signal: AbortSignal }): Promise<void>;
}

const CHANNEL = "tokenstore:refreshed";
/** The first poll delay; each next one is 1.25 times longer, up to the interval. */
const FIRST_POLL_MS = 10;

function isWatchable(store: TokenStore): store is WatchableStore {
  return typeof (store as Partial<WatchableStore>).watchToken === "function";
}

/** The n-th poll delay (from 0): 10 ms growing by 1.25 to `maxMs`. */
export function pollDelay(attempt: number, maxMs: number): number {
  return Math.min(maxMs, Math.round(FIRST_POLL_MS * 1.25 ** attempt));
}

/** Waiters of one client, by token id. */
export class Wakeup {
  #store: TokenStore;
  #sleep: ((ms: number) => Promise<void>) | undefined;
  #waiters = new Map<string, Set<() => void>>();
  #channel: BroadcastChannel | undefined;

  /**
   * @param store The store, watched when it can be.
   * @param sleep An injected sleep (tests); by default a timer cleared on wake-up.
   */
  constructor(store: TokenStore, sleep?: (ms: number) => Promise<void>) {
    this.#store = store;
    this.#sleep = sleep;
  }

  /** Waits `ms` at most, less when token `id` is said to have changed. */
  async wait(id: string, ms: number): Promise<void> {
    // not Promise.withResolvers: Node 20 has none
    let resolve!: () => void;
    const promise = new Promise<void>((done) => resolve = done);
    let set = this.#waiters.get(id);
    if (set === undefined) this.#waiters.set(id, set = new Set());
    set.add(resolve);
    this.#listen();
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const slept = this.#sleep?.(ms) ??
      new Promise<void>((done) => timer = setTimeout(done, ms));
    if (isWatchable(this.#store)) {
      this.#store.watchToken(id, { signal: controller.signal }).then(
        resolve,
        () => {},
      );
    }
    try {
      await Promise.race([promise, slept]);
    } finally {
      clearTimeout(timer);
      controller.abort();
      set.delete(resolve);
      if (set.size === 0) this.#waiters.delete(id);
      if (this.#waiters.size === 0) this.#close();
    }
  }

  /** Tells this client's waiters, and other isolates', that token `id` changed. */
  notify(id: string): void {
    this.#wake(id);
    if (typeof BroadcastChannel !== "function") return;
    try {
      const channel = this.#channel ?? new BroadcastChannel(CHANNEL);
      channel.postMessage({ id });
      if (channel !== this.#channel) channel.close();
    } catch {
      // no channel here: waiters elsewhere poll
    }
  }

  #wake(id: string): void {
    for (const resolve of this.#waiters.get(id) ?? []) resolve();
  }

  #listen(): void {
    if (this.#channel !== undefined || typeof BroadcastChannel !== "function") {
      return;
    }
    try {
      const channel = new BroadcastChannel(CHANNEL);
      channel.onmessage = (event: MessageEvent) => {
        const id = (event.data as { id?: unknown } | null)?.id;
        if (typeof id === "string") this.#wake(id);
      };
      this.#channel = channel;
    } catch {
      // no channel here
    }
  }

  #close(): void {
    this.#channel?.close();
    this.#channel = undefined;
  }
}
