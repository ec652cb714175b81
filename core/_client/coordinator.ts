/**
 * Refresh coordination: one refresh per token per process (single-flight),
 * and across processes the lease protocol of the design:
 *
 * 1. take the lease `refresh:<id>` on `store.lock`;
 * 2. re-read the token (another process may have refreshed it);
 * 3. refresh only if it still needs it; save; release once the save is done
 *    (the work renews the lease while it sends requests and retries saves).
 *
 * Without the lease, poll the store until the token no longer needs work or
 * the lease can be taken (its holder finished, failed or died and the lease
 * expired). A holder that loses its lease before sending goes back to
 * waiting.
 *
 * @module
 */

import { HeldLease, LeaseLostError } from "./lease.ts";
import { pollDelay } from "./wakeup.ts";
import { TokenStoreError } from "../errors.ts";
import type { OAuthToken } from "../token.ts";
import type { TokenStore } from "../token_store.ts";

/** Whether a stored token still needs the work (refresh or exchange). */
export type NeedsWork = (token: OAuthToken) => boolean;

/** What the work hands back: the token, and the save still running, if any. */
export interface WorkResult {
  token: OAuthToken;
  /**
   * Settles once the issued token is saved or the save gave up, and the
   * lease is released: the work then owns the lease.
   */
  persisted?: Promise<void>;
}

/**
 * Refreshes `token` and saves it; `lease` is the held refresh lease, which
 * the work must keep covering its requests ({@linkcode HeldLease.cover}).
 */
export type Work = (
  token: OAuthToken,
  lease: HeldLease | undefined,
) => Promise<WorkResult>;

/** Settings of a {@linkcode RefreshCoordinator}. */
export interface CoordinatorConfig {
  store: TokenStore;
  leaseTtlMs: number;
  /** Longest a holder's lease may be extended to (a request's timeout plus a margin). */
  holdMs: number;
  /** The longest wait between two reads of a waiter; the first ones are shorter. */
  pollIntervalMs: number;
  /** Waits `ms` at most for news of token `id` (the wake-up of `wakeup.ts`). */
  wait: (id: string, ms: number) => Promise<void>;
  /** Tells waiters here and elsewhere that token `id` was refreshed. */
  notify: (id: string) => void;
  /** Reads token `id` (the store, or a token issued but not yet saved). */
  read: (id: string) => Promise<OAuthToken | null>;
}

/** The single-flight map and the lease protocol for one client. */
export class RefreshCoordinator {
  #config: CoordinatorConfig;
  #flights = new Map<string, Promise<OAuthToken>>();

  constructor(config: CoordinatorConfig) {
    this.#config = config;
  }

  /** Whether token `id` is being worked on in this process now. */
  inFlight(id: string): boolean {
    return this.#flights.has(id);
  }

  /**
   * Resolves with the token `id` once it no longer needs work, doing the work
   * at most once in this process at a time and, when the store has a lock,
   * once across every process sharing the store.
   */
  async run(id: string, needsWork: NeedsWork, work: Work): Promise<OAuthToken> {
    for (;;) {
      const flight = this.#flights.get(id);
      if (flight === undefined) break;
      const token = await flight;
      if (!needsWork(token)) return token;
    }
    const own: Promise<OAuthToken> = this.#coordinate(id, needsWork, work)
      .finally(() => {
        if (this.#flights.get(id) === own) this.#flights.delete(id);
      });
    this.#flights.set(id, own);
    return await own;
  }

  async #coordinate(
    id: string,
    needsWork: NeedsWork,
    work: Work,
  ): Promise<OAuthToken> {
    const { store, leaseTtlMs, holdMs, pollIntervalMs, wait, notify } =
      this.#config;
    const lock = store.lock;
    if (lock === undefined) {
      const current = await this.#read(id);
      if (!needsWork(current)) return current;
      const { token } = await work(current, undefined);
      notify(id);
      return token;
    }
    const key = `refresh:${id}`;
    const maxWaitMs = Math.max(2 * (holdMs + leaseTtlMs), 10 * pollIntervalMs);
    let waitedMs = 0;
    // When the lease was last tried: a waiter reads the store often (the
    // holder may finish any moment) but asks for the lease at most once per
    // poll interval, so that waiters do not hold up the holder's own writes
    // (a file store serialises both through one lock file).
    let triedAt = -Infinity;
    for (let polls = 0;; polls++) {
      const current = await this.#read(id);
      if (!needsWork(current)) return current;
      const due = waitedMs - triedAt >= pollIntervalMs;
      if (due) triedAt = waitedMs;
      const lease = due ? await HeldLease.take(lock, key, leaseTtlMs) : null;
      if (lease !== null) {
        let result: WorkResult | undefined;
        try {
          const again = await this.#read(id);
          if (!needsWork(again)) return again;
          result = await work(again, lease);
          notify(id);
          return result.token;
        } catch (error) {
          if (!(error instanceof LeaseLostError)) throw error;
          // Another holder took over before anything was sent: wait for it.
        } finally {
          // A save still retried in the background releases the lease itself.
          if (result?.persisted === undefined) await lease.release();
        }
      }
      if (waitedMs >= maxWaitMs) {
        throw new TokenStoreError(
          "CONFLICT",
          `Cannot refresh token "${id}": lease "${key}" stayed taken for ${waitedMs} ms`,
        );
      }
      const delay = pollDelay(polls, pollIntervalMs);
      await wait(id, delay);
      waitedMs += delay;
    }
  }

  async #read(id: string): Promise<OAuthToken> {
    const token = await this.#config.read(id);
    if (token === null) {
      throw new TokenStoreError(
        "INVALID_QUERY",
        `Cannot find token "${id}": it was deleted while being refreshed`,
      );
    }
    return token;
  }
}
