/**
 * The file store's lock, shared by every process (and serialised within this
 * one): where the runtime has `flock` (Deno), an exclusive lock on
 * `<path>.lock`; then, on every runtime, the owner file `<path>.lock.owner`
 * created exclusively (`lock_owner.ts`), which is all Node and Bun have.
 * Both are polled with the one retry helper's backoff until a timeout.
 *
 * @module
 */

import { dirname } from "@std/path";
import { retry } from "../../core/_retry.ts";
import { TokenStoreError } from "../../core/errors.ts";
import { backendError, makeDirectory } from "./atomic_io.ts";
import { type FileSystem, fileSystem, type OpenFile } from "./fs.ts";
import { type OwnerHold, tryOwn, tryOwnSync } from "./lock_owner.ts";

/** Callers waiting, per lock file, in this process (a promise chain). */
const queues = new Map<string, Promise<void>>();

/** Backoff cap of the first and of any later pause between two attempts (ms). */
const POLL_FIRST_MS = 2;
const POLL_MAX_MS = 25;

/** What an attempt throws when another process holds the lock. */
const HELD: unique symbol = Symbol("held");

/**
 * Runs `fn` while holding the exclusive lock of `lockPath`: first in turn
 * among this process's callers, then, with `flock` (Deno), through
 * `Deno.FsFile.tryLock` on `lockPath`, then by creating the owner file
 * `<lockPath>.owner`, each polled until `timeoutMs` has passed since `since`
 * (default: the call; a caller that waited already passes when it began).
 * The lock file is created (mode 0600, its directory too) if missing and
 * never deleted; the owner file is removed on the way out. A process that
 * dies holding the lock releases the `flock` at once (the kernel drops it)
 * and leaves an owner file the next holder finds stale (`lock_owner.ts`).
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { join } from "@std/path";
 * import { withFileLock } from "./lock_file.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const lockPath = join(dir, "tokens.json.lock");
 * const order: string[] = [];
 * await Promise.all(["first", "second"].map((name) =>
 *   withFileLock(lockPath, 10_000, async () => {
 *     // read, change and replace the file: one holder at a time
 *     order.push(`${name} in`);
 *     await new Promise((resolve) => setTimeout(resolve, 10));
 *     order.push(`${name} out`);
 *   })
 * ));
 * assertEquals(order, ["first in", "first out", "second in", "second out"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @throws {TokenStoreError} `BACKEND` when the lock is not taken in time or
 * the lock file cannot be opened.
 */
export async function withFileLock<T>(
  lockPath: string,
  timeoutMs: number,
  fn: () => Promise<T>,
  since: number = Date.now(),
): Promise<T> {
  const deadline = since + timeoutMs;
  const previous = queues.get(lockPath) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => done = resolve);
  const tail = previous.then(() => mine);
  queues.set(lockPath, tail);
  const timedOut = (error: unknown) => {
    if (error !== HELD) throw error;
    throw new TokenStoreError(
      "BACKEND",
      `Cannot lock "${lockPath}": timed out after ${timeoutMs} ms`,
    );
  };
  try {
    await previous;
    const fs = await fileSystem();
    const file = fs.flock ? await openLockFile(fs, lockPath) : null;
    try {
      if (file?.tryLock) {
        const tryLock = file.tryLock;
        await poll(async () => (await tryLock()) || undefined, deadline)
          .catch(timedOut);
      }
      const owner: OwnerHold = await poll(
        async () =>
          (await tryOwn(`${lockPath}.owner`, file !== null)) ?? undefined,
        deadline,
      ).catch(timedOut);
      try {
        return await fn();
      } finally {
        await owner.release();
      }
    } finally {
      await file?.close(); // closing the descriptor releases the flock
    }
  } finally {
    done();
    if (queues.get(lockPath) === tail) queues.delete(lockPath);
  }
}

/**
 * Runs `attempt` until it resolves a value, polling until `deadline`;
 * rejects {@linkcode HELD} then.
 */
/**
 * Takes the lock file at once, synchronously (its `flock`, then its owner
 * file, as {@linkcode withFileLock} does), for work of a few system calls
 * that then runs without an event-loop turn per call: the function that
 * releases it, or `null` when that cannot be done at once (it is held, this
 * process is queued for it, the runtime has no synchronous calls, or
 * anything fails): then use {@linkcode withFileLock}.
 *
 * @param lockPath The lock file.
 * @param fs The file system.
 * @param host This host's name, for the owner file.
 */
export function tryFileLockSync(
  lockPath: string,
  fs: FileSystem,
  host: string,
): (() => void) | null {
  const sync = fs.sync;
  if (sync === undefined || queues.has(lockPath)) return null;
  let unlock: (() => void) | null = null;
  try {
    unlock = sync.tryLock(lockPath);
    if (unlock === null) return null;
    const release: () => void = unlock;
    const disown = tryOwnSync(fs, `${lockPath}.owner`, host);
    if (disown === null) {
      release();
      return null;
    }
    return () => {
      try {
        disown();
      } finally {
        release();
      }
    };
  } catch {
    unlock?.();
    return null;
  }
}

function poll<T>(
  attempt: () => Promise<T | undefined>,
  deadline: number,
): Promise<T> {
  return retry(async () => {
    const value = await attempt();
    if (value === undefined) throw HELD;
    return value;
  }, {
    maxAttempts: Infinity,
    baseDelayMs: POLL_FIRST_MS,
    maxDelayMs: POLL_MAX_MS,
    budgetMs: deadline - Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    isRetriable: (error) => error === HELD,
  });
}

async function openLockFile(
  fs: FileSystem,
  lockPath: string,
): Promise<OpenFile> {
  const open = () =>
    fs.open(lockPath, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
  try {
    return await open();
  } catch (error) {
    if (!fs.isNotFound(error)) {
      throw backendError(`Cannot open lock file "${lockPath}"`, error);
    }
  }
  await makeDirectory(dirname(lockPath));
  try {
    return await open();
  } catch (error) {
    throw backendError(`Cannot open lock file "${lockPath}"`, error);
  }
}
