/**
 * Retries and errors of the SQL store engine: a driver fault a dialect
 * classifies as transient (busy database, deadlock or conflict, lost pooled
 * connection) is run again through `core/_retry.ts`, a bounded number of
 * times per kind; anything else becomes `TokenStoreError("BACKEND")` with
 * secrets and credentials removed.
 *
 * @module
 */

import { retry } from "../../core/_retry.ts";
import { scrub } from "../../core/_redact.ts";
import { TokenStoreError } from "../../core/errors.ts";

/** A transient fault: worth running the operation again. */
export type Fault = "busy" | "conflict" | "connection";

/** How a dialect's driver errors are retried and reported. */
export interface FaultRules {
  /** The kind of transient fault an error is, or `null`. */
  classify(error: unknown): Fault | null;
  /** How many times each kind is run again (absent: never). */
  readonly retries: Readonly<Partial<Record<Fault, number>>>;
  /** Backoff cap before the second attempt (full jitter, doubling). */
  readonly baseDelayMs: number;
  /** Longest wait between attempts. */
  readonly maxDelayMs: number;
  /**
   * Whether the driver's error may be kept as `cause` as it is; otherwise a
   * copy without the statement and its values is (MySQL and PostgreSQL
   * drivers attach both to their errors).
   */
  readonly keepCause: boolean;
}

const unknownOutcome = new WeakSet<object>();

/**
 * Marks an error whose statement may have taken effect (a `COMMIT` without
 * an answer): it is never retried.
 */
export function markOutcomeUnknown(error: unknown): void {
  if (error instanceof Object) unknownOutcome.add(error);
}

/** Error properties that say what failed and hold no value. */
const SAFE_KEYS = ["code", "errno", "sqlState", "fatal", "severity"];

/**
 * A copy of a driver error that is safe to print: the message with secrets
 * scrubbed, `name` and {@linkcode SAFE_KEYS} kept; the statement text and its
 * values (mysql2's `sql`, postgres' `query` and `parameters`) dropped.
 */
export function safeCause(
  error: unknown,
  secrets: Iterable<string | undefined>,
): Error {
  const copy = new Error(scrubbed(error, secrets));
  const e = error as Record<string, unknown> | null;
  if (error instanceof Error) copy.name = error.name;
  for (const key of SAFE_KEYS) {
    const value = e?.[key];
    if (["string", "number", "boolean"].includes(typeof value)) {
      Object.defineProperty(copy, key, { value, enumerable: true });
    }
  }
  return copy;
}

function scrubbed(
  error: unknown,
  secrets: Iterable<string | undefined>,
): string {
  const raw = error instanceof Error
    ? error.message
    : String(error ?? "unknown error");
  return scrub(raw, secrets)
    .replace(/(authToken=|password=)[^&\s"'<>]*/gi, "$1…(redacted)")
    .replace(/(Bearer\s+)[^\s"'<>]+/gi, "$1…(redacted)")
    .replace(/(\/\/[^/:@\s]*:)[^@/\s]+@/g, "$1…(redacted)@");
}

/**
 * A driver error as `TokenStoreError("BACKEND")`: `Cannot <action>: <driver
 * message>` with the given secrets and any credential in a URL redacted; a
 * `TokenStoreError` is returned as it is.
 */
export function backendError(
  rules: Pick<FaultRules, "keepCause">,
  action: string,
  error: unknown,
  secrets: Iterable<string | undefined>,
): TokenStoreError {
  if (error instanceof TokenStoreError) return error;
  const list = [...secrets];
  const message = scrubbed(error, list);
  const short = message.length > 300 ? `${message.slice(0, 300)}…` : message;
  return new TokenStoreError("BACKEND", `Cannot ${action}: ${short}`, {
    cause: rules.keepCause ? error : safeCause(error, list),
  });
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn`, running it again after each transient fault while that kind's
 * retries last (never after one whose outcome is unknown); any other error,
 * or the last transient one, becomes a `BACKEND` error.
 */
export async function withRetry<T>(
  rules: FaultRules,
  action: string,
  secrets: readonly (string | undefined)[],
  fn: () => Promise<T>,
): Promise<T> {
  const used: Record<Fault, number> = { busy: 0, conflict: 0, connection: 0 };
  const limits = Object.values(rules.retries) as number[];
  try {
    return await retry(fn, {
      maxAttempts: 1 + limits.reduce((sum, n) => sum + n, 0),
      baseDelayMs: rules.baseDelayMs,
      maxDelayMs: rules.maxDelayMs,
      sleep,
      isRetriable(error) {
        if (error instanceof TokenStoreError) return false;
        if (error instanceof Object && unknownOutcome.has(error)) return false;
        const kind = rules.classify(error);
        return kind !== null && ++used[kind] <= (rules.retries[kind] ?? 0);
      },
    });
  } catch (error) {
    throw backendError(rules, action, error, secrets);
  }
}
