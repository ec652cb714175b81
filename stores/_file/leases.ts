/**
 * Expiring leases for the file store, kept in a sidecar file
 * (`<path>.leases.json`: `{"version": 1, "leases": {key: {owner, expiresAt}}}`)
 * that is read, changed and replaced atomically under the store's file lock.
 * Expired entries are pruned on every write, so a lease that expired can be
 * renewed only until the next write to the file.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import {
  type Lease,
  type TokenLock,
  validateLeaseKey,
  validateLeaseRequest,
} from "../../core/token_store.ts";
import { readSnapshot, writeFileAtomic } from "./atomic_io.ts";
import { withFileLock } from "./lock_file.ts";

/** Leases longer than this are fsynced (rotation marks: 30 days). */
const DURABLE_AFTER_MS = 600_000;

interface Held {
  owner: string;
  expiresAt: number;
}

/** Leases shared by every process using the same sidecar and lock file. */
export class FileTokenLock implements TokenLock {
  #path: string;
  #lockPath: string;
  #timeoutMs: number;

  /**
   * @param path The sidecar file.
   * @param lockPath The lock file the token file uses too.
   * @param timeoutMs How long to wait for the lock file.
   */
  constructor(path: string, lockPath: string, timeoutMs: number) {
    this.#path = path;
    this.#lockPath = lockPath;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Takes the lease on `key` unless another holder's lease on it has not
   * expired.
   */
  async acquire(
    key: string,
    options: { ttlMs: number },
  ): Promise<Lease | null> {
    const ttlMs = validateLeaseRequest(key, options);
    const owner = crypto.randomUUID();
    const taken = await this.#change((leases, now) => {
      const held = leases.get(key);
      if (held && held.expiresAt > now) return false;
      leases.set(key, { owner, expiresAt: now + ttlMs });
      return true;
    });
    if (!taken) return null;
    return {
      key,
      release: async () => {
        await this.#change((leases) => {
          if (leases.get(key)?.owner !== owner) return false;
          leases.delete(key);
          return true;
        });
      },
      renew: async (options: { ttlMs: number }) => {
        const ttlMs = validateLeaseRequest(key, options);
        // an expired entry nobody took (or pruned) since is still ours
        return await this.#change((leases, now) => {
          if (leases.get(key)?.owner !== owner) return false;
          leases.set(key, { owner, expiresAt: now + ttlMs });
          return true;
        });
      },
    };
  }

  /** Applies `fn` under the lock; writes back when it reports a change. */
  /**
   * Whether a lease on `key` is held now: the lease file as last replaced
   * (atomically), read without the lock file.
   */
  async isHeld(key: string): Promise<boolean> {
    validateLeaseKey(key);
    const snapshot = await readSnapshot(this.#path);
    if (!snapshot) return false;
    const held = this.#parse(snapshot.text).get(key);
    return held !== undefined && held.expiresAt > Date.now();
  }

  #change(
    fn: (leases: Map<string, Held>, now: number) => boolean,
  ): Promise<boolean> {
    return withFileLock(this.#lockPath, this.#timeoutMs, async () => {
      const snapshot = await readSnapshot(this.#path);
      const leases = snapshot
        ? this.#parse(snapshot.text)
        : new Map<string, Held>();
      const now = Date.now();
      // `fn` sees expired entries too (a renewal needs its own); they are
      // pruned afterwards
      const changed = fn(leases, now);
      let pruned = false;
      for (const [key, held] of leases) {
        if (held.expiresAt <= now) {
          leases.delete(key);
          pruned = true;
        }
      }
      if (changed || pruned) {
        // Short leases are worth nothing after a reboot (every holder is
        // gone with it): not fsynced, a few ms off every take and release.
        // A file holding a long one (a rotation mark) is.
        const sync = [...leases.values()].some((held) =>
          held.expiresAt - now > DURABLE_AFTER_MS
        );
        await writeFileAtomic(
          this.#path,
          `${
            JSON.stringify(
              { version: 1, leases: Object.fromEntries(leases) },
              null,
              2,
            )
          }\n`,
          { sync },
        );
      }
      return changed;
    });
  }

  #parse(text: string): Map<string, Held> {
    if (text.trim() === "") return new Map();
    let data: { version?: unknown; leases?: unknown };
    try {
      data = JSON.parse(text);
    } catch {
      data = {};
    }
    const leases = data?.leases;
    if (
      data?.version !== 1 || leases === null || typeof leases !== "object" ||
      Array.isArray(leases) ||
      !Object.values(leases).every((held) =>
        typeof held?.owner === "string" &&
        typeof held?.expiresAt === "number"
      )
    ) {
      throw new TokenStoreError(
        "CORRUPT",
        `Cannot parse "${this.#path}": not a lease file`,
      );
    }
    return new Map(Object.entries(leases as Record<string, Held>));
  }
}
