/**
 * Expiring leases in Deno KV (private): `[...prefix, "lock", key]` holds
 * `{ owner, expiresAt }`, written with `expireIn` so that KV drops it by
 * itself; since KV deletes expired keys late, `expiresAt` inside the value
 * decides. Renewal rewrites the value (new `expiresAt`, new `expireIn`)
 * only if it still names the holder, checked on its versionstamp.
 *
 * @module
 */

import {
  type Lease,
  type TokenLock,
  validateLeaseKey,
  validateLeaseRequest,
} from "../../core/token_store.ts";
import type { KvKeys } from "./keys.ts";
import type { KvKey, KvLike } from "./kv_like.ts";

/** What a lease key holds. */
export interface LeaseValue {
  /** Random id of the holder. */
  owner: string;
  /** Epoch milliseconds when the lease ends. */
  expiresAt: number;
}

/** Attempts when a check fails because the lease changed meanwhile. */
const ATTEMPTS = 5;
/** How many keys seen held are remembered. */
const MAX_SEEN = 1_000;

function heldBy(value: unknown, now: number): LeaseValue | null {
  if (value === null || typeof value !== "object") return null;
  const { owner, expiresAt } = value as Partial<LeaseValue>;
  if (typeof owner !== "string" || typeof expiresAt !== "number") return null;
  return expiresAt > now ? { owner, expiresAt } : null;
}

/** Leases kept in Deno KV, exclusive across every process using it. */
export class KvLeases implements TokenLock {
  #kv: KvLike;
  #keys: KvKeys;
  /** Runs an operation: retried while the database is busy, unexpected errors wrapped. */
  #run: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  /** Leases this process last saw held, by key, with their expiry. */
  #seenHeld = new Map<string, number>();

  constructor(
    kv: KvLike,
    keys: KvKeys,
    run: <T>(what: string, fn: () => Promise<T>) => Promise<T>,
  ) {
    this.#kv = kv;
    this.#keys = keys;
    this.#run = run;
  }

  /**
   * Takes the lease on `key` for `ttlMs`, or resolves `null` while another
   * holder's lease has not expired.
   */
  acquire(key: string, options: { ttlMs: number }): Promise<Lease | null> {
    let ttlMs: number;
    try {
      ttlMs = validateLeaseRequest(key, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#run("acquire lease", async () => {
      const kvKey = this.#keys.lock(key);
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        // First as if the key were free (no entry: a released lease is
        // deleted): one commit and no read on a holder's path. Not when
        // this process last saw the lease held and not yet expired (a
        // waiter asking again): a read then spares a write that would fail.
        // An entry there fails the check and is read.
        let entry: { key: KvKey; versionstamp: string | null } = {
          key: kvKey,
          versionstamp: null,
        };
        let now = Date.now();
        if (attempt > 0 || (this.#seenHeld.get(key) ?? 0) > now) {
          const read = await this.#kv.get(kvKey, { consistency: "strong" });
          now = Date.now();
          const held = heldBy(read.value, now);
          if (held) {
            if (this.#seenHeld.size >= MAX_SEEN) this.#seenHeld.clear();
            this.#seenHeld.set(key, held.expiresAt);
            return null;
          }
          entry = read;
        }
        const value: LeaseValue = {
          owner: crypto.randomUUID(),
          expiresAt: now + ttlMs,
        };
        const result = await this.#kv.atomic()
          .check(entry)
          .set(kvKey, value, { expireIn: Math.ceil(ttlMs) })
          .commit();
        if (result.ok) {
          this.#seenHeld.delete(key);
          return this.#lease(key, kvKey, value.owner);
        }
      }
      return null;
    });
  }

  isHeld(key: string): Promise<boolean> {
    try {
      validateLeaseKey(key);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#run("read lease", async () => {
      const entry = await this.#kv.get(this.#keys.lock(key), {
        consistency: "strong",
      });
      return heldBy(entry.value, Date.now()) !== null;
    });
  }

  #lease(key: string, kvKey: KvKey, owner: string): Lease {
    const kv = this.#kv;
    const run = this.#run;
    let released = false;
    return {
      key,
      release(): Promise<void> {
        if (released) return Promise.resolve();
        return run("release lease", async () => {
          for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
            const entry = await kv.get(kvKey, { consistency: "strong" });
            const value = entry.value as Partial<LeaseValue> | null;
            if (value?.owner !== owner) break;
            const result = await kv.atomic().check(entry).delete(kvKey)
              .commit();
            if (result.ok) break;
          }
          released = true;
        });
      },
      renew(options: { ttlMs: number }): Promise<boolean> {
        let ttlMs: number;
        try {
          ttlMs = validateLeaseRequest(key, options);
        } catch (error) {
          return Promise.reject(error);
        }
        if (released) return Promise.resolve(false);
        return run("renew lease", async () => {
          for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
            const entry = await kv.get(kvKey, { consistency: "strong" });
            // expired but not yet taken (nor dropped by KV): still ours
            const value = entry.value as Partial<LeaseValue> | null;
            if (value?.owner !== owner) return false;
            const next: LeaseValue = { owner, expiresAt: Date.now() + ttlMs };
            const result = await kv.atomic().check(entry)
              .set(kvKey, next, { expireIn: Math.ceil(ttlMs) })
              .commit();
            if (result.ok) return true;
          }
          return false;
        });
      },
    };
  }
}
