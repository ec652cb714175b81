/**
 * A held lease that knows how long it lasts: the one lease helper of the
 * refresh coordinator. Before its holder sends a token request it makes sure
 * the lease outlives the request ({@linkcode HeldLease.prototype.cover}), a
 * timer renews it while a save is retried
 * ({@linkcode HeldLease.prototype.keepAlive}), and release is retried so that
 * no lease row outlives a recovered outage.
 *
 * @module
 */

import { retry } from "../_retry.ts";
import { TokenStoreError } from "../errors.ts";
import type { Lease, TokenLock } from "../token_store.ts";

/** The lease was lost (it expired and another holder took it): stop. */
export class LeaseLostError extends TokenStoreError {
  constructor(key: string, why: string) {
    super("CONFLICT", `Cannot keep lease "${key}": ${why}`);
  }
}

/** A lease this process holds, with the time it is known to last until. */
export class HeldLease {
  #lease: Lease;
  #ttlMs: number;
  #until: number;
  #released = false;

  private constructor(lease: Lease, ttlMs: number, until: number) {
    this.#lease = lease;
    this.#ttlMs = ttlMs;
    this.#until = until;
  }

  /** Takes the lease on `key`, or `null` while another holder has it. */
  static async take(
    lock: TokenLock,
    key: string,
    ttlMs: number,
  ): Promise<HeldLease | null> {
    const asked = Date.now();
    const lease = await lock.acquire(key, { ttlMs });
    return lease === null ? null : new HeldLease(lease, ttlMs, asked + ttlMs);
  }

  /** The lease key. */
  get key(): string {
    return this.#lease.key;
  }

  /**
   * Makes sure the lease lasts at least `ms` from now (the timeout of the
   * request about to be sent plus a margin): nothing to do when its time to
   * live, counted from before it was asked for, already reaches that far (no
   * round trip); else renews it, or, on a store whose leases cannot be
   * renewed, refuses.
   *
   * @throws {LeaseLostError} When the lease is no longer this holder's or
   * would run out first: nothing may be sent.
   */
  async cover(ms: number): Promise<void> {
    const ttlMs = Math.max(this.#ttlMs, Math.ceil(ms));
    // Known to last long enough (its time counts from before it was asked
    // for): no round trip.
    if (Date.now() + ms <= this.#until) return;
    if (this.#lease.renew === undefined) {
      throw new LeaseLostError(
        this.key,
        `it runs out in ${
          this.#until - Date.now()
        } ms, before a request of ${ms} ms would end`,
      );
    }
    const asked = Date.now();
    if (!await this.#lease.renew({ ttlMs })) {
      throw new LeaseLostError(this.key, "another holder has it now");
    }
    this.#until = asked + ttlMs;
  }

  /**
   * Renews the lease every third of its time to live until the returned
   * function is called. Failed renewals are ignored (the next one may work).
   */
  keepAlive(): () => void {
    const renew = this.#lease.renew?.bind(this.#lease);
    if (renew === undefined) return () => {};
    const timer = setInterval(() => {
      const asked = Date.now();
      renew({ ttlMs: this.#ttlMs }).then((held) => {
        if (held) this.#until = Math.max(this.#until, asked + this.#ttlMs);
      }, () => {});
    }, Math.max(10, Math.floor(this.#ttlMs / 3)));
    return () => clearInterval(timer);
  }

  /** Releases the lease (once), retrying transient store failures briefly. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    try {
      await retry(() => this.#lease.release(), {
        maxAttempts: 5,
        baseDelayMs: 100,
        maxDelayMs: 2_000,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        isRetriable: (error) =>
          error instanceof TokenStoreError &&
          (error.code === "BACKEND" || error.code === "CONFLICT"),
      });
    } catch {
      // The lease expires by itself after its time to live.
    }
  }
}
