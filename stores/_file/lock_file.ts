/**
 * The file store's lock file: an exclusive lock on `<path>.lock` shared by
 * every process (and serialised within this one), polled with the one retry
 * helper's backoff until a timeout.
 *
 * @module
 */

import { dirname } from "@std/path";
import { retry } from "../../core/_retry.ts";
import { TokenStoreError } from "../../core/errors.ts";
import { backendError, makeDirectory } from "./atomic_io.ts";

/** Callers waiting, per lock file, in this process (a promise chain). */
const queues = new Map<string, Promise<void>>();

/** Backoff cap of the first and of any later pause between two `tryLock` attempts (ms). */
const POLL_FIRST_MS = 2;
const POLL_MAX_MS = 25;

/** What a `tryLock` attempt throws when another process holds the lock. */
const HELD: unique symbol = Symbol("held");

/**
 * Runs `fn` while holding the exclusive lock on `lockPath`: first in turn
 * among this process's callers, then through `Deno.FsFile.tryLock` polled
 * until `timeoutMs` has passed since `since` (default: the call; a caller
 * that waited already passes when it began). The lock file is created (mode
 * 0600, its directory too) if missing and never deleted. A process that dies
 * holding the lock releases it: the kernel drops the lock with the process.
 *
 * @example Usage
 * ```ts ignore
 * await withFileLock("/tmp/tokens.json.lock", 10_000, async () => {
 *   // read, change and replace the file
 * });
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
  try {
    await previous;
    const file = await openLockFile(lockPath);
    try {
      await lock(file, deadline).catch((error) => {
        if (error !== HELD) throw error;
        throw new TokenStoreError(
          "BACKEND",
          `Cannot lock "${lockPath}": timed out after ${timeoutMs} ms`,
        );
      });
      return await fn();
    } finally {
      file.close(); // closing the descriptor releases the lock
    }
  } finally {
    done();
    if (queues.get(lockPath) === tail) queues.delete(lockPath);
  }
}

/** Takes the lock on `file`, polling until `deadline`; rejects {@linkcode HELD} then. */
function lock(file: Deno.FsFile, deadline: number): Promise<void> {
  return retry(async () => {
    if (!(await file.tryLock(true))) throw HELD;
  }, {
    maxAttempts: Infinity,
    baseDelayMs: POLL_FIRST_MS,
    maxDelayMs: POLL_MAX_MS,
    budgetMs: deadline - Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    isRetriable: (error) => error === HELD,
  });
}

async function openLockFile(lockPath: string): Promise<Deno.FsFile> {
  const open = () =>
    Deno.open(lockPath, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
  try {
    return await open();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
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
