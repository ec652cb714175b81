/**
 * How the Deno KV token store runs its operations (private): bounded retries
 * of failed versionstamp checks and of SQLite's "database is locked", one
 * write at a time per natural key within the process, and unexpected errors
 * wrapped as `TokenStoreError("BACKEND")`.
 *
 * @module
 */

import { retry, type RetryPolicy } from "../../core/_retry.ts";
import { TokenStoreError } from "../../core/errors.ts";
import { isBusy, RETRY, type Retry } from "./transactions.ts";

/** Attempts of an operation whose versionstamp checks keep failing. */
export const MAX_ATTEMPTS = 30;

/** What an attempt that resolved {@linkcode RETRY} throws inside `retry`. */
const CONFLICTED: unique symbol = Symbol("conflicted");

/**
 * Backoff between attempts: full jitter over 2, 4, 8, … ms, at most 100 (a
 * versionstamp conflict or a busy local file clears within milliseconds).
 */
const POLICY: RetryPolicy = {
  maxAttempts: MAX_ATTEMPTS,
  baseDelayMs: 2,
  maxDelayMs: 100,
  sleep: (ms: number) =>
    new Promise<void>((resolve) => setTimeout(resolve, ms)),
  isRetriable: (error: unknown) => error === CONFLICTED || isBusy(error),
};

/** Runs the store's operations. */
export class KvRunner {
  #queues = new Map<string, Promise<unknown>>();
  #isClosed: () => boolean;

  /** @param isClosed Whether the store closed its database. */
  constructor(isClosed: () => boolean) {
    this.#isClosed = isClosed;
  }

  /** Runs `fn`, wrapping any error but a `TokenStoreError` as `BACKEND`. */
  async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof TokenStoreError) throw error;
      const detail = this.#isClosed()
        ? "the store is closed"
        : `${(error as Error)?.name ?? "Error"}: ${
          (error as Error)?.message ?? String(error)
        }`;
      throw new TokenStoreError(
        "BACKEND",
        `Cannot ${what} in Deno KV: ${detail}`,
        { cause: error },
      );
    }
  }

  /**
   * Runs an attempt until it neither resolves {@linkcode RETRY} (a failed
   * versionstamp check) nor throws "database is locked" (another process
   * writing a local file), at most {@linkcode MAX_ATTEMPTS} times.
   *
   * @throws {TokenStoreError} `CONFLICT` when every attempt conflicted.
   */
  async retry<T>(what: string, attempt: () => Promise<T | Retry>): Promise<T> {
    try {
      return await retry(async () => {
        const result = await attempt();
        if (result === RETRY) throw CONFLICTED;
        return result as T;
      }, POLICY);
    } catch (error) {
      if (error !== CONFLICTED) throw error;
      throw new TokenStoreError(
        "CONFLICT",
        `Cannot ${what} in Deno KV: concurrent writes kept changing it (${MAX_ATTEMPTS} attempts)`,
      );
    }
  }

  /** {@linkcode KvRunner.retry} inside {@linkcode KvRunner.guard}. */
  run<T>(what: string, attempt: () => Promise<T | Retry>): Promise<T> {
    return this.guard(what, () => this.retry(what, attempt));
  }

  /**
   * Runs writes of one key one after another within this process, so that
   * they do not conflict with each other in KV.
   */
  async serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.then(() => {}, () => {});
    this.#queues.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    }
  }
}
