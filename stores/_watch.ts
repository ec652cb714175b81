/**
 * The waiters of a store's `watchToken`, by token id, woken by whatever
 * push the store has (PostgreSQL `LISTEN`, a file watch). A push that is
 * lost only costs time: the client's waiters poll as well.
 *
 * @module
 */

/** Waiters of one store, by token id. */
export class TokenWaiters {
  #waiters = new Map<string, Set<() => void>>();

  /** How many waiters wait now. */
  get size(): number {
    let size = 0;
    for (const set of this.#waiters.values()) size += set.size;
    return size;
  }

  /**
   * Resolves when {@linkcode TokenWaiters.prototype.wake} is called for `id`
   * (or {@linkcode TokenWaiters.prototype.wakeAll}), or when `signal`
   * aborts.
   */
  wait(id: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let set = this.#waiters.get(id);
      if (set === undefined) this.#waiters.set(id, set = new Set());
      const done = () => {
        signal.removeEventListener("abort", done);
        set.delete(done);
        if (set.size === 0 && this.#waiters.get(id) === set) {
          this.#waiters.delete(id);
        }
        resolve();
      };
      set.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Wakes the waiters of token `id`. */
  wake(id: string): void {
    for (const done of [...this.#waiters.get(id) ?? []]) done();
  }

  /** Wakes every waiter (a change whose token is not known). */
  wakeAll(): void {
    for (const set of [...this.#waiters.values()]) {
      for (const done of [...set]) done();
    }
  }
}
