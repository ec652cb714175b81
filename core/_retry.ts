/**
 * The one retry helper: attempts, exponential backoff with full jitter, a
 * `Retry-After` floor, a time budget and an `isRetriable` predicate. Every
 * retry loop of the client uses it, so there is one backoff formula.
 *
 * The budget counts the time attempts took plus the delays asked of `sleep`,
 * so an injected instant `sleep` (tests) still ends the loop.
 *
 * @module
 */

/** The knobs of {@linkcode retry}. */
export interface RetryPolicy {
  /** Attempts in all, the first included. `Infinity` for no limit (then set `budgetMs`). */
  maxAttempts: number;
  /** Backoff cap before the second attempt; doubled each time, full jitter. */
  baseDelayMs: number;
  /** Longest wait between attempts. */
  maxDelayMs: number;
  /** Time the attempts and waits may take in all; no new wait starts past it. */
  budgetMs?: number;
  /** Waits between attempts. */
  sleep: (ms: number) => Promise<void>;
  /** Whether to try again after `error`. */
  isRetriable: (error: unknown, attempt: number) => boolean;
  /**
   * A server's `Retry-After` for `error`, in ms: the wait is at least that
   * long, and one longer than `maxDelayMs` ends the retries.
   */
  retryAfterMs?: (error: unknown) => number | undefined;
  /** Called before each wait. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * The wait before attempt `attempt + 1`: full jitter over
 * `min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1))`.
 */
export function backoffDelay(
  policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">,
  attempt: number,
): number {
  const cap = Math.min(
    policy.maxDelayMs,
    policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30),
  );
  return Math.floor(Math.random() * cap);
}

/**
 * Runs `fn` until it resolves, the error is not retriable, the attempts or
 * the budget run out; then rethrows the last error.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
): Promise<T> {
  let spentMs = 0;
  for (let attempt = 1;; attempt++) {
    const started = Date.now();
    try {
      return await fn(attempt);
    } catch (error) {
      spentMs += Date.now() - started;
      if (attempt >= policy.maxAttempts) throw error;
      if (!policy.isRetriable(error, attempt)) throw error;
      let delay = backoffDelay(policy, attempt);
      const after = policy.retryAfterMs?.(error);
      if (after !== undefined) {
        if (after > policy.maxDelayMs) throw error;
        delay = Math.max(after, delay);
      }
      if (policy.budgetMs !== undefined) {
        const left = policy.budgetMs - spentMs;
        if (left <= 0) throw error;
        delay = Math.min(delay, left);
      }
      policy.onRetry?.(error, attempt, delay);
      const slept = Date.now();
      await policy.sleep(delay);
      spentMs += Math.max(delay, Date.now() - slept);
    }
  }
}
