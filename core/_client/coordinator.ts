/**
 * Refresh coordination: one refresh per token per process (single-flight),
 * and across processes the lease protocol of the design:
 *
 * 1. take the lease `refresh:<id>` on `store.lock`;
 * 2. re-read the token (another process may have refreshed it);
 * 3. refresh only if it still needs it; save; release once the save is done.
 *
 * The holder's path before it sends is kept to as few store round trips as
 * these rules allow. A caller that has just read the token and found it in
 * need (`seen`) asks for the lease at once, without reading it again first:
 * that read only spared a lease when the token no longer needed work, and
 * the read under the lease (step 2) decides either way. The read under the
 * lease is never skipped: between any read before the lease and the lease,
 * another holder may have refreshed, saved and released, and only a read
 * after the lease is taken is sure to see its save. Beside that read runs
 * the rotation mark check the request needs (it too must come after the
 * lease: a holder before may have marked the refresh token until it
 * released), and a lease whose time to live already covers the request is
 * not renewed before sending. So: lease, then read and mark check side by
 * side, then the request (was: read, lease, read, mark probe, its release,
 * renewal).
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
import { secretDigest } from "./secret_key.ts";
import { pollDelay, type Wakeup } from "./wakeup.ts";
import { warmFetch } from "./warm_fetch.ts";
import type { RefreshWork, WorkResult } from "./work.ts";
import { TokenStoreError } from "../errors.ts";
import type { OAuthToken } from "../token.ts";
import type { TokenLock, TokenQuery } from "../token_store.ts";

/**
 * Why a token needs work: it is `"expiring"` (within its skew of expiry), it
 * has less than `marginMs` to live (at most half its lifetime), or (a forced
 * refresh) it still carries the access token the caller saw — and then,
 * with `still`, only while `still` (asked last, under the lease too) says
 * the work is still wanted (keep-alive: the status another process wrote
 * may say it is done).
 */
export type Need =
  | "expiring"
  | { marginMs: number }
  | {
    accessToken: string | undefined;
    still?: (token: OAuthToken) => Promise<boolean>;
  };

/** What a leased loop found: the token is `done`, or there is work `todo`. */
type Probe<T> = { done: OAuthToken } | { todo: T };

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
  /**
   * What must land before the refresh lease of token `id` is released once
   * its refresh succeeded (its status record), if anything: the lease is
   * kept, in the background, until it settles.
   */
  after?: (id: string) => Promise<void> | undefined;
}

/** The single-flight map and the lease protocol for one client. */
export class RefreshCoordinator {
  #config: CoordinatorConfig;
  #flights = new Map<string, Promise<OAuthToken>>();
  /** Grant exchanges in flight, by lease key. */
  #exchanges = new Map<string, Promise<OAuthToken>>();
  /** Refreshes ahead of expiry and saves still retried, running in the background. */
  #background = new Set<Promise<unknown>>();

  constructor(config: CoordinatorConfig) {
    this.#config = config;
  }

  /** Whether token `id` is being worked on in this process now. */
  inFlight(id: string): boolean {
    return this.#flights.has(id);
  }

  /** The work running on token `id` in this process, if any (it resolves with the token). */
  flight(id: string): Promise<OAuthToken> | undefined {
    return this.#flights.get(id);
  }

  /**
   * Resolves with the token `id` once it no longer has `need`, doing the work
   * at most once in this process at a time and, when the store has a lock,
   * once across every process sharing the store. `seen` is the token as
   * the caller has just read it (and found it in `need`): the lease is then
   * asked for without reading the token first.
   */
  async run(id: string, need: Need, seen?: OAuthToken): Promise<OAuthToken> {
    for (;;) {
      const flight = this.#flights.get(id);
      if (flight === undefined) break;
      const token = await flight;
      if (!this.#needs(need, token)) return token;
      seen = token;
    }
    const own: Promise<OAuthToken> = this.#coordinate(id, need, seen)
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

  /**
   * Exchanges grant token `code` once across every process sharing the
   * store: under a lease per code, the store is read again (by `query`) and
   * a token already holding the code is returned instead of sending it; a
   * stored token holding only the code is exchanged as a refresh would be.
   */
  async exchange(
    code: string,
    query: TokenQuery,
    exchange: (lease: HeldLease | undefined) => Promise<WorkResult>,
  ): Promise<OAuthToken> {
    const key = `exchange:${await secretDigest(code)}`;
    const running = this.#exchanges.get(key);
    if (running !== undefined) return await running;
    const own = this.#exchange(key, query, exchange)
      .finally(() => this.#exchanges.delete(key));
    this.#exchanges.set(key, own);
    return await own;
  }

  /** Resolves once every refresh ahead of expiry and every background save has ended. */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.all([...this.#background]);
  }

  #needs(need: Need, token: OAuthToken): boolean {
    if (need === "expiring") return this.#config.reader.isExpiring(token);
    if ("marginMs" in need) {
      return this.#config.reader.isExpiring(token, need.marginMs);
    }
    return token.accessToken === need.accessToken;
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  async #coordinate(
    id: string,
    need: Need,
    seen: OAuthToken | undefined,
  ): Promise<OAuthToken> {
    const still = typeof need === "object" && "accessToken" in need
      ? need.still
      : undefined;
    /** The token as last read: what the mark check is started for. */
    let last = seen;
    if (seen !== undefined) this.#config.work.prepare(seen);
    const probe = async (): Promise<Probe<OAuthToken>> => {
      const current = await this.#read(id);
      last = current;
      if (!this.#needs(need, current)) return { done: current };
      if (still !== undefined && !await still(current)) {
        return { done: current };
      }
      return { todo: current };
    };
    const key = `refresh:${id}`;
    return await this.#leased(
      { key, wakeKey: id, what: `refresh token "${id}"` },
      probe,
      (current, lease) => this.#config.work.run(current, lease),
      {
        leaseFirst: seen !== undefined && this.#needs(need, seen),
        taken: (lease) => {
          if (last !== undefined) this.#config.work.prefetch(last, lease);
        },
      },
    );
  }

  async #exchange(
    key: string,
    query: TokenQuery,
    exchange: (lease: HeldLease | undefined) => Promise<WorkResult>,
  ): Promise<OAuthToken> {
    const { reader } = this.#config;
    const lookup = reader.lookup(query);
    const probe = async (): Promise<Probe<undefined>> => {
      const stored = await reader.match(lookup);
      return stored === null ? { todo: undefined } : { done: stored };
    };
    const token = await this.#leased(
      { key, wakeKey: key, what: "exchange grant token" },
      probe,
      (_, lease) => exchange(lease),
    );
    if (token.accessToken !== undefined || token.refreshToken !== undefined) {
      return token;
    }
    // stored with the code only: exchanged under the token's refresh lease
    return await this.run(token.id!, "expiring");
  }

  /**
   * The lease protocol: while `probe` finds work to do, take the lease on
   * `key` (at most once per poll interval), probe again under it, do the
   * work and tell the waiters of `wakeKey`; without the lease, wait for news
   * of `wakeKey` (or the next poll). Without a lock, probe once and work.
   * With `leaseFirst`, the first probe is left out (the caller has just
   * read and found work); `taken` is called as soon as the lease is taken,
   * before the probe under it.
   */
  async #leased<T>(
    names: { key: string; wakeKey: string; what: string },
    probe: () => Promise<Probe<T>>,
    act: (todo: T, lease: HeldLease | undefined) => Promise<WorkResult>,
    options: { leaseFirst?: boolean; taken?: (lease: HeldLease) => void } = {},
  ): Promise<OAuthToken> {
    const { lock, leaseTtlMs, holdMs, pollIntervalMs, wakeup, after } =
      this.#config;
    const { key, wakeKey, what } = names;
    if (lock === undefined) {
      const found = await probe();
      if ("done" in found) return found.done;
      const result = await act(found.todo, undefined);
      if (result.persisted !== undefined) this.#track(result.persisted);
      wakeup.notify(wakeKey);
      return result.token;
    }
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
      if (polls > 0 || !options.leaseFirst) {
        const found = await probe();
        if ("done" in found) {
          this.#waited(wakeKey, waitingSince);
          return found.done;
        }
      }
      const due = waitedMs - triedAt >= pollIntervalMs;
      if (due) triedAt = waitedMs;
      const taking = due ? HeldLease.take(lock, key, leaseTtlMs) : null;
      // while the lease is asked for: what the request will need loaded
      if (due) warmFetch();
      const lease = await taking;
      if (lease !== null) {
        this.#waited(wakeKey, waitingSince);
        waitingSince = undefined;
        let result: WorkResult | undefined;
        try {
          options.taken?.(lease);
          const again = await probe();
          if ("done" in again) return again.done;
          result = await act(again.todo, lease);
          wakeup.notify(wakeKey);
          return result.token;
        } catch (error) {
          if (!(error instanceof LeaseLostError)) throw error;
          // Another holder took over before anything was sent: wait for it.
        } finally {
          // A refresh that ended well keeps the lease until its status is
          // written, in the background: the next holder reads it. A failure
          // frees the lease before its error reaches the callers.
          const landed = result === undefined
            ? undefined
            : settledAll(result.persisted, after?.(wakeKey));
          if (landed === undefined) await lease.release();
          else this.#holdWhile(lease, landed);
        }
      }
      if (waitedMs >= maxWaitMs) {
        throw new TokenStoreError(
          "CONFLICT",
          `Cannot ${what}: lease "${key}" stayed taken for ${waitedMs} ms`,
        );
      }
      const delay = pollDelay(polls, pollIntervalMs);
      waitingSince ??= Date.now();
      await wakeup.wait(wakeKey, delay);
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

/** Settles once every promise given settles; `undefined` when none is. */
function settledAll(
  ...promises: (Promise<void> | undefined)[]
): Promise<void> | undefined {
  const list = promises.filter((p) => p !== undefined);
  if (list.length === 0) return undefined;
  return Promise.allSettled(list).then(() => {});
}
