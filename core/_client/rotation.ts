/**
 * Refresh-token rotation (design rule 6): whether the server rotates refresh
 * tokens (forced, or learned from its answers), and the refresh tokens whose
 * last request has an unknown outcome (a timeout, a connection lost after
 * sending). On a rotating server such a token is never presented again: the
 * server may have spent it, and a spent one coming back revokes the whole
 * token family (RFC 9700 §4.14.2).
 *
 * The mark is kept in this process and, when the store has a lock, as a
 * long lease `outcome:<id>:<fingerprint>` that every process checks under
 * the refresh lease before presenting that refresh token. The fingerprint is
 * a SHA-256 prefix: no secret is written as a lease key.
 *
 * @module
 */

import type { HeldLease } from "./lease.ts";
import { secretDigest } from "./secret_key.ts";
import type { OAuthToken } from "../token.ts";
import type { TokenLock } from "../token_store.ts";

/** How long a refresh token stays marked across processes: 30 days. */
const MARK_TTL_MS = 30 * 24 * 3600_000;
/** How many mark keys are kept computed. */
const MAX_KEYS = 1_000;

/** The rotation knowledge and unknown-outcome marks of one client. */
export class RotationState {
  #rotates: boolean | undefined;
  #forced: boolean;
  #lock: TokenLock | undefined;
  #marked = new Set<string>();
  /** Mark keys by id and refresh token (see `#markKey`). */
  #keys = new Map<string, Promise<string>>();
  /**
   * Mark checks started under a refresh lease, by that lease: the refresh
   * work run under the same lease uses the answer instead of asking again
   * (see {@linkcode RotationState.prototype.prefetch}).
   */
  #checks = new WeakMap<
    HeldLease,
    { refreshToken: string; marked: Promise<boolean> }
  >();

  /**
   * @param rotation `true` / `false` to force, `"auto"` to learn.
   * @param knownRotates What `"auto"` starts from (`false` for Zoho's servers,
   * which do not rotate; `undefined` for an unknown endpoint).
   * @param lock The store's lock, for marks shared across processes.
   */
  constructor(
    rotation: boolean | "auto",
    knownRotates: boolean | undefined,
    lock: TokenLock | undefined,
  ) {
    this.#forced = rotation !== "auto";
    this.#rotates = rotation === "auto" ? knownRotates : rotation;
    this.#lock = lock;
  }

  /**
   * Whether presenting a refresh token twice may cost the token family: the
   * server rotates, or it is not known yet that it does not.
   */
  get mayRotate(): boolean {
    return this.#rotates !== false;
  }

  /** Learns from a refresh answer: `rotated` when it carried a new refresh token. */
  learn(rotated: boolean): void {
    if (this.#forced) return;
    if (rotated) this.#rotates = true;
    else this.#rotates ??= false;
  }

  /**
   * Starts checking the mark of `token`'s refresh token under `lease`, the
   * refresh lease just taken, while the holder re-reads the token: the
   * check runs beside the re-read instead of after it. Only a check started
   * under the lease counts (a holder before may have marked the token until
   * it released the lease), and {@linkcode RotationState.prototype.isMarked}
   * uses it only under that same lease and for the same refresh token.
   */
  prefetch(token: OAuthToken, lease: HeldLease): void {
    if (!this.mayRotate || token.refreshToken === undefined) return;
    const marked = this.#check(token.id!, token.refreshToken);
    marked.catch(() => {}); // asked again by isMarked when it failed
    this.#checks.set(lease, { refreshToken: token.refreshToken, marked });
  }

  /**
   * Whether `token`'s refresh token has a request of unknown outcome;
   * `lease` is the refresh lease held, whose prefetched check is used when
   * it was for the same refresh token.
   */
  async isMarked(token: OAuthToken, lease?: HeldLease): Promise<boolean> {
    if (token.refreshToken === undefined) return false;
    const prefetched = lease === undefined
      ? undefined
      : this.#checks.get(lease);
    if (lease !== undefined) this.#checks.delete(lease);
    if (prefetched?.refreshToken === token.refreshToken) {
      try {
        return await prefetched.marked;
      } catch {
        // asked again below
      }
    }
    return await this.#check(token.id!, token.refreshToken);
  }

  /**
   * One store round trip: the mark is a lease another process holds. A
   * lock with `isHeld` is asked by a read; another is probed with a lease
   * of 1 ms, refused when the mark is there (the probe's release runs in
   * the background; it expires by itself anyway).
   */
  async #check(id: string, refreshToken: string): Promise<boolean> {
    const key = await this.#markKey(id, refreshToken);
    if (this.#marked.has(key)) return true;
    const lock = this.#lock;
    if (lock === undefined) return false;
    let marked: boolean;
    if (lock.isHeld !== undefined) {
      marked = await lock.isHeld(key);
    } else {
      const probe = await lock.acquire(key, { ttlMs: 1 });
      probe?.release().catch(() => {});
      marked = probe === null;
    }
    if (marked) this.#marked.add(key);
    return marked;
  }

  /**
   * Computes the mark key of `token`'s refresh token ahead of the check
   * (a digest: the holder's path does not wait for it under the lease).
   */
  prepare(token: OAuthToken): void {
    if (!this.mayRotate || token.refreshToken === undefined) return;
    this.#markKey(token.id!, token.refreshToken).catch(() => {});
  }

  /** The mark key of a refresh token, computed once (the last few kept). */
  #markKey(id: string, refreshToken: string): Promise<string> {
    const memo = `${id}\n${refreshToken}`;
    let key = this.#keys.get(memo);
    if (key === undefined) {
      if (this.#keys.size >= MAX_KEYS) this.#keys.clear();
      key = secretDigest(refreshToken).then((digest) =>
        `outcome:${id}:${digest}`
      );
      key.catch(() => this.#keys.delete(memo));
      this.#keys.set(memo, key);
    }
    return key;
  }

  /** Marks `token`'s refresh token as of unknown outcome, here and in the store. */
  async mark(token: OAuthToken): Promise<void> {
    if (token.refreshToken === undefined) return;
    const key = await this.#markKey(token.id!, token.refreshToken);
    this.#marked.add(key);
    try {
      await this.#lock?.acquire(key, { ttlMs: MARK_TTL_MS });
    } catch {
      // The store is down: the mark holds in this process.
    }
  }
}
