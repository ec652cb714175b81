/**
 * Refresh coordination: one refresh per token per process (single-flight),
 * and across processes the lease protocol of the design:
 *
 * 1. take the lease `refresh:<id>` on `store.lock`;
 * 2. re-read the token (another process may have refreshed it);
 * 3. refresh only if it still needs it; save; release once the save is done.
 *
 * Without the lease, poll the store until the token no longer needs work or
 * the lease can be taken (its holder finished, failed or died and the lease
 * expired). A holder that loses its lease before sending goes back to
 * waiting.
 *
 * The coordinator is the only owner of the refresh lease: it takes it,
 * lends it to the work (which renews it before each request), keeps it
 * renewed while an issued token's save is retried in the background, and
 * releases it. It also keeps the background work a client's `flush` waits
 * for: refreshes ahead of expiry and those saves.
 *
 * @module
 */

import { HeldLease, LeaseLostError } from "./lease.ts";
import type { PipelineObserver } from "./observer.ts";
import type { TokenReader } from "./reader.ts";
import { pollDelay, type Wakeup } from "./wakeup.ts";
import type { RefreshWork, WorkResult } from "./work.ts";
import { TokenStoreError } from "../errors.ts";
import type { OAuthToken } from "../token.ts";
import type { TokenLock } from "../token_store.ts";

/**
 * Why a token needs work: it is `"expiring"`, or (a forced refresh) it still
 * carries the access token the caller saw.
 */
export type Need = "expiring" | { accessToken: string | undefined };

/** Settings of a {@linkcode RefreshCoordinator}. */
export interface CoordinatorConfig {
  lock: TokenLock | undefined;
  leaseTtlMs: number;
  /** Longest a holder's lease may be extended to (a request's timeout plus a margin). */
  holdMs: number;
  /** The longest wait between two reads of a waiter; the first ones are shorter. */
  pollIntervalMs: number;
  /** Where waiters wait for news of a token, and holders tell of it. */
  wakeup: Wakeup;
  reader: TokenReader;
  work: RefreshWork;
  observer: PipelineObserver;
}

/** The single-flight map and the lease protocol for one client. */
export class RefreshCoordinator {
  #config: CoordinatorConfig;
  #flights = new Map<string, Promise<OAuthToken>>();
  /** Refreshes ahead of expiry and saves still retried, running in the background. */
  #background = new Set<Promise<unknown>>();

  constructor(config: CoordinatorConfig) {
    this.#config = config;
  }

  /** Whether token `id` is being worked on in this process now. */
  inFlight(id: string): boolean {
    return this.#flights.has(id);
  }

  /**
   * Resolves with the token `id` once it no longer has `need`, doing the work
   * at most once in this process at a time and, when the store has a lock,
   * once across every process sharing the store.
   */
  async run(id: string, need: Need): Promise<OAuthToken> {
    for (;;) {
      const flight = this.#flights.get(id);
      if (flight === undefined) break;
      const token = await flight;
      if (!this.#needs(need, token)) return token;
    }
    const own: Promise<OAuthToken> = this.#coordinate(id, need)
      .finally(() => {
        if (this.#flights.get(id) === own) this.#flights.delete(id);
      });
    this.#flights.set(id, own);
    return await own;
  }

  /**
   * Refreshes token `id` in the background unless it is already being
   * worked on (a still-valid token within its skew of expiry). A failure is
   * reported through the observer only.
   */
  ahead(id: string): void {
    if (this.inFlight(id)) return;
    this.#track(this.run(id, "expiring").catch(() => {}));
  }

  /** Resolves once every refresh ahead of expiry and every background save has ended. */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.all([...this.#background]);
  }

  #needs(need: Need, token: OAuthToken): boolean {
    return need === "expiring"
      ? this.#config.reader.isExpiring(token)
      : token.accessToken === need.accessToken;
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  async #coordinate(id: string, need: Need): Promise<OAuthToken> {
    const { lock, leaseTtlMs, holdMs, pollIntervalMs, wakeup, work } =
      this.#config;
    if (lock === undefined) {
      const current = await this.#read(id);
      if (!this.#needs(need, current)) return current;
      const result = await work.run(current, undefined);
      if (result.persisted !== undefined) this.#track(result.persisted);
      wakeup.notify(id);
      return result.token;
    }
    const key = `refresh:${id}`;
    const maxWaitMs = Math.max(2 * (holdMs + leaseTtlMs), 10 * pollIntervalMs);
    let waitedMs = 0;
    /** When this caller started waiting for another holder, if it did. */
    let waitingSince: number | undefined;
    // When the lease was last tried: a waiter reads the store often (the
    // holder may finish any moment) but asks for the lease at most once per
    // poll interval, so that waiters do not hold up the holder's own writes
    // (a file store serialises both through one lock file).
    let triedAt = -Infinity;
    for (let polls = 0;; polls++) {
      const current = await this.#read(id);
      if (!this.#needs(need, current)) {
        this.#waited(id, waitingSince);
        return current;
      }
      const due = waitedMs - triedAt >= pollIntervalMs;
      if (due) triedAt = waitedMs;
      const lease = due ? await HeldLease.take(lock, key, leaseTtlMs) : null;
      if (lease !== null) {
        this.#waited(id, waitingSince);
        waitingSince = undefined;
        let result: WorkResult | undefined;
        try {
          const again = await this.#read(id);
          if (!this.#needs(need, again)) return again;
          result = await work.run(again, lease);
          wakeup.notify(id);
          return result.token;
        } catch (error) {
          if (!(error instanceof LeaseLostError)) throw error;
          // Another holder took over before anything was sent: wait for it.
        } finally {
          if (result?.persisted === undefined) await lease.release();
          else this.#holdWhile(lease, result.persisted);
        }
      }
      if (waitedMs >= maxWaitMs) {
        throw new TokenStoreError(
          "CONFLICT",
          `Cannot refresh token "${id}": lease "${key}" stayed taken for ${waitedMs} ms`,
        );
      }
      const delay = pollDelay(polls, pollIntervalMs);
      waitingSince ??= Date.now();
      await wakeup.wait(id, delay);
      waitedMs += delay;
    }
  }

  /** Keeps `lease` renewed while an issued token's save is retried, then releases it. */
  #holdWhile(lease: HeldLease, persisted: Promise<void>): void {
    const stop = lease.keepAlive();
    this.#track(persisted.finally(async () => {
      stop();
      await lease.release();
    }));
  }

  #waited(id: string, since: number | undefined): void {
    if (since === undefined) return;
    this.#config.observer.observe({
      type: "leasewaited",
      id,
      waitedMs: Date.now() - since,
    });
  }

  async #read(id: string): Promise<OAuthToken> {
    const token = await this.#config.reader.read(id);
    if (token === null) {
      throw new TokenStoreError(
        "INVALID_QUERY",
        `Cannot find token "${id}": it was deleted while being refreshed`,
      );
    }
    return token;
  }
}
