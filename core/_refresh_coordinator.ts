/**
 * Refresh coordination: one refresh per token per process (single-flight),
 * and across processes the lease protocol of the design:
 *
 * 1. take the lease `refresh:<id>` on `store.lock`;
 * 2. re-read the token (another process may have refreshed it);
 * 3. refresh only if it still needs it; save; release.
 *
 * Without the lease, poll the store until the token no longer needs work or
 * the lease can be taken (its holder finished, failed or died and the lease
 * expired).
 *
 * @module
 */

import { TokenStoreError } from "./errors.ts";
import type { OAuthToken } from "./token.ts";
import type { TokenStore } from "./token_store.ts";

/** Whether a stored token still needs the work (refresh or exchange). */
export type NeedsWork = (token: OAuthToken) => boolean;

/**
 * Refreshes `token` and saves it; `deadline` (real-time epoch ms) is when the
 * lease runs out, so no request should still be running then.
 */
export type Work = (
  token: OAuthToken,
  deadline: number | undefined,
) => Promise<OAuthToken>;

/** Settings of a {@linkcode RefreshCoordinator}. */
export interface CoordinatorConfig {
  store: TokenStore;
  leaseTtlMs: number;
  pollIntervalMs: number;
  sleep: (ms: number) => Promise<void>;
}

/** The single-flight map and the lease protocol for one client. */
export class RefreshCoordinator {
  #config: CoordinatorConfig;
  #flights = new Map<string, Promise<OAuthToken>>();

  constructor(config: CoordinatorConfig) {
    this.#config = config;
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
    const { store, leaseTtlMs, pollIntervalMs, sleep } = this.#config;
    const lock = store.lock;
    if (lock === undefined) {
      const current = await this.#read(id);
      return needsWork(current) ? await work(current, undefined) : current;
    }
    const key = `refresh:${id}`;
    const maxWaitMs = Math.max(2 * leaseTtlMs, 10 * pollIntervalMs);
    // A margin so that the holder's last request ends before its lease does.
    const marginMs = Math.min(1000, Math.floor(leaseTtlMs / 10));
    let waitedMs = 0;
    for (;;) {
      const current = await this.#read(id);
      if (!needsWork(current)) return current;
      const lease = await lock.acquire(key, { ttlMs: leaseTtlMs });
      if (lease !== null) {
        const deadline = Date.now() + leaseTtlMs - marginMs;
        try {
          const again = await this.#read(id);
          if (!needsWork(again)) return again;
          return await work(again, deadline);
        } finally {
          try {
            await lease.release();
          } catch {
            // The lease expires by itself after leaseTtlMs.
          }
        }
      }
      if (waitedMs >= maxWaitMs) {
        throw new TokenStoreError(
          "CONFLICT",
          `Cannot refresh token "${id}": lease "${key}" stayed taken for ${waitedMs} ms`,
        );
      }
      await sleep(pollIntervalMs);
      waitedMs += pollIntervalMs;
    }
  }

  async #read(id: string): Promise<OAuthToken> {
    const token = await this.#config.store.findTokenById(id);
    if (token === null) {
      throw new TokenStoreError(
        "INVALID_QUERY",
        `Cannot find token "${id}": it was deleted while being refreshed`,
      );
    }
    return token;
  }
}
