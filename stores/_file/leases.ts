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
import { backendError, readSnapshot, writeFileAtomic } from "./atomic_io.ts";
import { type FileSystem, fileSystem, type SyncFiles } from "./fs.ts";
import { tryFileLockSync, withFileLock } from "./lock_file.ts";

/** Synchronous tries of a lease change before it queues for the lock file. */
const SHORT_TRIES = 3;

/** Leases longer than this are fsynced (rotation marks: 30 days). */
const DURABLE_AFTER_MS = 600_000;

/** What a change of the lease file comes to (see `FileTokenLock.#apply`). */
interface Applied {
  /** Whether the change did something. */
  changed: boolean;
  /** The file to write; `undefined` when nothing is. */
  text?: string;
  /** Whether the write must be fsynced. */
  durable: boolean;
}

interface Held {
  owner: string;
  expiresAt: number;
}

/** Leases shared by every process using the same sidecar and lock file. */
export class FileTokenLock implements TokenLock {
  #path: string;
  #lockPath: string;
  #timeoutMs: number;
  /** The file system's synchronous calls and this host's name, once known. */
  #now: { sync: SyncFiles; fs: FileSystem; host: string } | undefined;

  /**
   * @param path The sidecar file.
   * @param lockPath The lock file the token file uses too.
   * @param timeoutMs How long to wait for the lock file.
   */
  constructor(path: string, lockPath: string, timeoutMs: number) {
    this.#path = path;
    this.#lockPath = lockPath;
    this.#timeoutMs = timeoutMs;
    fileSystem().then(async (fs) => {
      const host = await fs.hostname();
      if (fs.sync) this.#now = { sync: fs.sync, fs, host };
    }).catch(() => {}); // the asynchronous path reports it
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
    }, key);
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

  /**
   * Whether a lease on `key` is held now: the lease file as last replaced
   * (atomically), read without the lock file (synchronously where the
   * runtime can: one small file).
   */
  async isHeld(key: string): Promise<boolean> {
    validateLeaseKey(key);
    const now = this.#heldNow(key);
    if (now !== undefined) return now;
    let snapshot;
    try {
      snapshot = await readSnapshot(this.#path);
    } catch (error) {
      throw backendError(`Cannot read "${this.#path}"`, error);
    }
    return snapshot !== null && this.#held(snapshot.text, key);
  }

  /**
   * Whether a lease on `key` is held, read synchronously (one small file,
   * replaced atomically: no lock needed); `undefined` where the runtime has
   * no synchronous calls or they are not known yet.
   */
  #heldNow(key: string): boolean | undefined {
    if (this.#now === undefined) return undefined;
    let text: string | null;
    try {
      text = this.#now.sync.readText(this.#path);
    } catch (error) {
      throw backendError(`Cannot read "${this.#path}"`, error);
    }
    return text !== null && this.#held(text, key);
  }

  #held(text: string, key: string): boolean {
    const held = this.#parse(text).get(key);
    return held !== undefined && held.expiresAt > Date.now();
  }

  /**
   * Reads the lease file, applies `fn` and writes the file back when it
   * changed something or an expired entry was pruned, all under the lock
   * file. When the lock file can be taken at once (the usual case: a lease
   * change holds it for a few system calls), it all runs synchronously,
   * without an event-loop turn per call: under load (8 processes at one
   * instant on 2 cores) the asynchronous path took 15-30 ms, one turn for
   * each of its ~20 calls.
   */
  async #change(
    fn: (leases: Map<string, Held>, now: number) => boolean,
    taking?: string,
  ): Promise<boolean> {
    // The first try before any await: the caller's own stack (a refresh
    // holder's, before the other callers of the same instant run) does the
    // whole change. A lock file held means another process's change of a
    // few system calls, or a token save: tried again a few times, 1-4 ms
    // apart, before queueing for it (a process queued holds the lock file
    // over many event-loop turns, and every process after it would queue
    // too). A lease asked for (`taking`) that the file shows held is
    // refused without the lock file.
    for (let attempt = 0; this.#now !== undefined; attempt++) {
      if (taking !== undefined && this.#heldNow(taking)) return false;
      const changed = this.#changeNow(fn);
      if (changed !== undefined) return changed;
      if (attempt === SHORT_TRIES) break;
      await new Promise((resolve) => setTimeout(resolve, 1 + attempt));
    }
    return await withFileLock(this.#lockPath, this.#timeoutMs, async () => {
      const snapshot = await readSnapshot(this.#path);
      const result = this.#apply(snapshot?.text ?? null, fn);
      if (result.text !== undefined) {
        await writeFileAtomic(this.#path, result.text, {
          sync: result.durable,
        });
      }
      return result.changed;
    });
  }

  /** {@linkcode FileTokenLock.#change} at once; `undefined` when the lock file cannot be taken at once. */
  #changeNow(
    fn: (leases: Map<string, Held>, now: number) => boolean,
  ): boolean | undefined {
    const now = this.#now;
    if (now === undefined) return undefined;
    const { sync, fs, host } = now;
    const release = tryFileLockSync(this.#lockPath, fs, host);
    if (release !== null) {
      let result: Applied;
      try {
        result = this.#apply(sync.readText(this.#path), fn);
        if (result.text !== undefined) {
          sync.replace(this.#path, result.text, result.durable);
        }
      } catch (error) {
        try {
          release();
        } catch {
          // the first error is the one to report
        }
        throw backendError(`Cannot write "${this.#path}"`, error);
      }
      try {
        release();
      } catch (error) {
        throw backendError(`Cannot unlock "${this.#lockPath}"`, error);
      }
      return result.changed;
    }
    return undefined;
  }

  /**
   * `fn` applied to the lease file's `text` (`null`: none): whether it
   * changed something, and the file to write (`undefined`: nothing to
   * write), and whether that must be fsynced.
   */
  #apply(
    text: string | null,
    fn: (leases: Map<string, Held>, now: number) => boolean,
  ): Applied {
    const leases = text === null ? new Map<string, Held>() : this.#parse(text);
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
    if (!changed && !pruned) return { changed, durable: false };
    return {
      changed,
      text: `${
        JSON.stringify(
          { version: 1, leases: Object.fromEntries(leases) },
          null,
          2,
        )
      }\n`,
      // Short leases are worth nothing after a reboot (every holder is gone
      // with it): not fsynced. A file holding a long one (a rotation mark)
      // is.
      durable: [...leases.values()].some((held) =>
        held.expiresAt - now > DURABLE_AFTER_MS
      ),
    };
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
