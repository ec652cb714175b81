/**
 * The lease contract of the stores shared across processes:
 * {@linkcode TokenLock} (expiring leases, at most one holder per key across
 * every process using the same backing store), {@linkcode Lease}, and the
 * one check of their arguments every store uses. Exported from
 * `token_store.ts` too.
 *
 * @example Take, renew and release a lease
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MemoryTokenLock } from "@tokenstore/tokenstore/memory";
 *
 * const lock = new MemoryTokenLock();
 * const lease = await lock.acquire("refresh:a1", { ttlMs: 10_000 });
 * assertEquals(await lock.acquire("refresh:a1", { ttlMs: 10_000 }), null);
 * assertEquals(await lock.isHeld?.("refresh:a1"), true);
 * await lease?.release();
 * assertEquals(await lock.isHeld?.("refresh:a1"), false);
 * ```
 *
 * @module
 */

/** An expiring lease held on a key (see {@linkcode TokenLock}). */
export interface Lease {
  /** The key the lease is held on. */
  readonly key: string;
  /** Frees the lease if it is still this holder's; otherwise does nothing. */
  release(): Promise<void>;
  /**
   * Extends the lease to `ttlMs` from now if it is still this holder's.
   * Resolves `false` when it is not (it expired and another holder took it, or it was released).
   *
   * A lease that expired but that nobody has taken since is still this
   * holder's while the store still records it, and is renewed. Once
   * `false`, the lease is lost for good: take a new one with
   * {@linkcode TokenLock.acquire}. Optional so that stores written before it
   * still type-check; every store in this package implements it.
   *
   * @example Keep a lease alive during a long operation
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenLock } from "@tokenstore/tokenstore/memory";
   *
   * const lease = await new MemoryTokenLock().acquire("refresh:a1", {
   *   ttlMs: 10_000,
   * });
   * assertEquals(await lease?.renew?.({ ttlMs: 10_000 }), true); // still ours
   * await lease?.release();
   * ```
   *
   * @param options `ttlMs`: the lease's new time to live, from now; checked
   * like {@linkcode TokenLock.acquire}'s.
   * @returns `true` when the lease was extended.
   * @throws {TypeError} when `ttlMs` is not a positive, finite number.
   */
  renew?(options: { ttlMs: number }): Promise<boolean>;
}

/**
 * Expiring leases: at most one holder per key across every process that uses
 * the same backing store; a crashed holder's lease expires after `ttlMs`.
 */
export interface TokenLock {
  /**
   * Takes the lease on `key`, or resolves `null` if another holder has it.
   *
   * @param key The key, e.g. `refresh:<id>`.
   * @param options `ttlMs`: how long the lease lasts if never released.
   */
  acquire(key: string, options: { ttlMs: number }): Promise<Lease | null>;
  /**
   * Whether a lease on `key` is held now (taken, neither released nor
   * expired), found by reading alone: nothing is written, so it costs what a
   * read costs, where {@linkcode TokenLock.acquire} costs a write. The
   * answer may be outdated by the time it arrives; use it only where a
   * lease, once taken, is kept until the question no longer matters (the
   * client checks the marks of refresh tokens whose last request had an
   * unknown outcome with it, while it holds the refresh lease). Optional so
   * that stores written before it still type-check (the client then probes
   * with a 1 ms lease); every store in this package implements it.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { MemoryTokenLock } from "@tokenstore/tokenstore/memory";
   *
   * const lock = new MemoryTokenLock();
   * assertEquals(await lock.isHeld?.("outcome:a1"), false);
   * const lease = await lock.acquire("outcome:a1", { ttlMs: 10_000 });
   * assertEquals(await lock.isHeld?.("outcome:a1"), true);
   * await lease?.release();
   * assertEquals(await lock.isHeld?.("outcome:a1"), false);
   * ```
   *
   * @param key The key, e.g. `refresh:<id>`.
   * @returns `true` while another or this caller's lease on `key` lasts.
   * @throws {TypeError} when the key is empty.
   */
  isHeld?(key: string): Promise<boolean>;
}

/**
 * Longest lease key every store accepts (fits a `varchar(255)` key column).
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MAX_LEASE_KEY_LENGTH } from "@tokenstore/tokenstore";
 *
 * assertEquals(MAX_LEASE_KEY_LENGTH, 255);
 * ```
 */
export const MAX_LEASE_KEY_LENGTH = 255;

/**
 * Checks the arguments of {@linkcode TokenLock.acquire}, the same way in every
 * store, and returns the lease's time to live.
 *
 * @example Usage
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { validateLeaseRequest } from "@tokenstore/tokenstore";
 *
 * assertEquals(validateLeaseRequest("refresh:a1", { ttlMs: 30_000 }), 30_000);
 * assertThrows(() => validateLeaseRequest("", { ttlMs: 30_000 }), TypeError);
 * ```
 *
 * @param key The lease key: 1 to {@linkcode MAX_LEASE_KEY_LENGTH} characters.
 * @param options `ttlMs`: a positive, finite number of milliseconds.
 * @returns `ttlMs`.
 * @throws {TypeError} naming the bad argument.
 */
export function validateLeaseRequest(
  key: string,
  options: { ttlMs: number },
): number {
  validateLeaseKey(key);
  const ttlMs = options?.ttlMs;
  if (typeof ttlMs !== "number" || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new TypeError(
      `Invalid lease ttlMs ${
        typeof ttlMs === "number" ? String(ttlMs) : typeof ttlMs
      }: expected a positive number of milliseconds`,
    );
  }
  return ttlMs;
}

/**
 * Checks a lease key, the same way in every store: what
 * {@linkcode TokenLock.isHeld} is given.
 *
 * @example Usage
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { validateLeaseKey } from "@tokenstore/tokenstore";
 *
 * validateLeaseKey("refresh:a1");
 * assertThrows(() => validateLeaseKey(""), TypeError);
 * ```
 *
 * @param key The lease key: 1 to {@linkcode MAX_LEASE_KEY_LENGTH} characters.
 * @throws {TypeError} when it is not.
 */
export function validateLeaseKey(key: string): void {
  if (
    typeof key !== "string" || key.length === 0 ||
    key.length > MAX_LEASE_KEY_LENGTH
  ) {
    throw new TypeError(
      `Invalid lease key: expected a string of 1 to ${MAX_LEASE_KEY_LENGTH} characters`,
    );
  }
}
