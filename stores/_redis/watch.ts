/**
 * Waking waiters by Redis pub/sub (private): every save publishes the
 * token's id on `{p}:refreshed`; one subscriber connection per store,
 * opened on the first wait (a duplicate of the store's node-redis client),
 * resolves the waiters of that id. node-redis subscribes again after a
 * reconnection; a message lost meanwhile leaves waiters to their polling.
 *
 * @module
 */

import type { NodeRedisClientLike } from "./client.ts";

/** The waiters of one store, by token id. */
export class RedisWatcher {
  #client: NodeRedisClientLike | undefined;
  #channel: string;
  #subscriber: Promise<NodeRedisClientLike | null> | undefined;
  #waiters = new Map<string, Set<() => void>>();
  #closed = false;

  /**
   * @param client The store's client (node-redis), or `undefined` where
   * there is no pub/sub (Upstash): waits then end only by their signal.
   * @param channel The channel saves are published on.
   */
  constructor(client: NodeRedisClientLike | undefined, channel: string) {
    this.#client = client;
    this.#channel = channel;
  }

  /** Resolves when `id` is published, or when `signal` aborts. */
  wait(id: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let set = this.#waiters.get(id);
      if (set === undefined) this.#waiters.set(id, set = new Set());
      const done = () => {
        signal.removeEventListener("abort", done);
        set!.delete(done);
        if (set!.size === 0 && this.#waiters.get(id) === set) {
          this.#waiters.delete(id);
        }
        resolve();
      };
      set.add(done);
      signal.addEventListener("abort", done, { once: true });
      this.#subscribe();
    });
  }

  #subscribe(): void {
    if (this.#client === undefined || this.#subscriber !== undefined) return;
    const subscriber = this.#client.duplicate();
    subscriber.on("error", () => {});
    this.#subscriber = (async () => {
      try {
        await subscriber.connect();
        await subscriber.subscribe(this.#channel, (message) => {
          for (const done of [...this.#waiters.get(message) ?? []]) done();
        });
        if (this.#closed) await closeClient(subscriber);
        return subscriber;
      } catch {
        // no push here: waiters poll; try again on a later wait
        this.#subscriber = undefined;
        await closeClient(subscriber).catch(() => {});
        return null;
      }
    })();
  }

  /** Ends every wait and closes the subscriber connection. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const set of this.#waiters.values()) {
      for (const done of [...set]) done();
    }
    const subscriber = await this.#subscriber;
    if (subscriber) await closeClient(subscriber).catch(() => {});
  }
}

/** Closes a node-redis client, whichever version. */
export async function closeClient(client: NodeRedisClientLike): Promise<void> {
  if (client.isOpen === false) return;
  if (typeof client.close === "function") await client.close();
  else if (typeof client.quit === "function") await client.quit();
  else await client.disconnect?.();
}
