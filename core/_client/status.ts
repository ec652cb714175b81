/**
 * Health (design "Health"): the observer of the refresh pipeline that
 * records how every grant exchange and refresh ended in the store's
 * statuses (`store.status`), so that every process and every restart sees
 * the same status, and reports `"recovered"` when a `failing` or `revoked`
 * token refreshes or is authorised again.
 *
 * Each record is a read-modify-write done after the outcome, never on the
 * callers' path: the previous status is read (`get`), the next one written
 * (`put`). A successful refresh of a token this process last recorded as
 * `ok` skips the read: it costs one write. (A failure another process
 * recorded since is then overwritten by this `ok` without a `"recovered"`
 * event here: failures do not change the token, so nothing tells. Failures
 * and exchanges always read first.) A failure to read or write a status is
 * swallowed: it never fails a refresh. Records of one token are written in
 * order, and after a successful refresh the coordinator keeps the token's
 * refresh lease until its record has landed (in the background), so that
 * the next holder, in any process, reads it.
 *
 * @module
 */

import { OAuthError, TokenStoreError } from "../errors.ts";
import type { TokenStatus, TokenStatusStore } from "../token_status.ts";
import type {
  EndedReport,
  PipelineObserver,
  PipelineReport,
} from "./observer.ts";

/** Settings of a {@linkcode StatusObserver}. */
export interface StatusConfig {
  /** Where statuses are kept. */
  status: TokenStatusStore;
  /** The client's clock (epoch ms). */
  now: () => number;
  /** Where `"recovered"` is reported: the pipeline's observers. */
  report: (report: PipelineReport) => void;
  /** How many statuses this process remembers having written. Default 10 000. */
  maxKnown?: number;
  /**
   * The longest {@linkcode StatusObserver.prototype.pending} waits for a
   * record (a status store that hangs must not hold a lease for ever), ms.
   * Default 5 000.
   */
  maxWaitMs?: number;
}

/** Characters an error code may hold (as `checkTokenStatus` wants them). */
const CODE_CHARS = /[^\w.:-]+/g;

/**
 * The code a status records for `error`: an `OAuthError` or
 * `TokenStoreError` code, else the error's name; never its message.
 */
export function errorCode(error: unknown): string {
  const raw = error instanceof OAuthError || error instanceof TokenStoreError
    ? error.code
    : error instanceof Error
    ? error.name
    : "Error";
  const code = String(raw).replace(CODE_CHARS, "_").slice(0, 100);
  return code === "" ? "Error" : code;
}

/** The status that follows `previous` after the outcome `report`, at `now`. */
export function nextStatus(
  previous: TokenStatus | null,
  report: EndedReport,
  now: number,
): TokenStatus {
  const id = report.id!;
  if (report.outcome === "ok") {
    const status: TokenStatus = {
      id,
      state: "ok",
      failures: 0,
      lastRefreshAt: now,
    };
    if (previous?.lastFailureAt !== undefined) {
      status.lastFailureAt = previous.lastFailureAt;
    }
    if (previous?.lastError !== undefined) {
      status.lastError = previous.lastError;
    }
    // A refresh that kept the refresh token keeps its expiry; a new one
    // (exchanged or rotated) has only the expiry its answer gave.
    const kept = report.type === "refresh" && !report.rotated
      ? previous?.refreshTokenExpiresAt
      : undefined;
    const expires = report.refreshTokenExpiresAt ?? kept;
    if (expires !== undefined) status.refreshTokenExpiresAt = expires;
    return status;
  }
  const revoked = report.outcome === "revoked" ||
    previous?.state === "revoked";
  const status: TokenStatus = {
    id,
    state: revoked ? "revoked" : "failing",
    failures: (previous?.failures ?? 0) + 1,
    lastFailureAt: now,
    lastError: errorCode(report.error),
  };
  if (previous?.lastRefreshAt !== undefined) {
    status.lastRefreshAt = previous.lastRefreshAt;
  }
  if (previous?.refreshTokenExpiresAt !== undefined) {
    status.refreshTokenExpiresAt = previous.refreshTokenExpiresAt;
  }
  return status;
}

/** Records every exchange and refresh outcome in `store.status`. */
export class StatusObserver implements PipelineObserver {
  #config: StatusConfig;
  #maxKnown: number;
  /** The status this process wrote last, by token id (oldest first). */
  #known = new Map<string, TokenStatus>();
  /** The record being written, by token id (each chained after the one before). */
  #writing = new Map<string, Promise<void>>();

  constructor(config: StatusConfig) {
    this.#config = config;
    this.#maxKnown = config.maxKnown ?? 10_000;
  }

  observe(report: PipelineReport): void {
    if (report.type !== "exchange" && report.type !== "refresh") return;
    const id = report.id;
    if (id === undefined) return; // a first exchange that failed: no token
    const at = this.#config.now();
    const before = this.#writing.get(id) ?? Promise.resolve();
    const write: Promise<void> = before
      .then(() => this.#record(id, report, at))
      .catch(() => {}) // a status is not worth a failed refresh
      .finally(() => {
        if (this.#writing.get(id) === write) this.#writing.delete(id);
      });
    this.#writing.set(id, write);
  }

  /**
   * Settles once the record of token `id` still being written, if any, has
   * landed or failed, or after `maxWaitMs` at the latest.
   */
  pending(id: string): Promise<void> | undefined {
    const writing = this.#writing.get(id);
    if (writing === undefined) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#config.maxWaitMs ?? 5_000);
    });
    return Promise.race([writing, late]).finally(() => clearTimeout(timer));
  }

  /** Resolves once every record started so far has landed or failed. */
  async settled(): Promise<void> {
    while (this.#writing.size > 0) await Promise.all(this.#writing.values());
  }

  /** Forgets what this process wrote for token `id` (every token without an id). */
  forget(id?: string): void {
    if (id === undefined) this.#known.clear();
    else this.#known.delete(id);
  }

  async #record(id: string, report: EndedReport, at: number): Promise<void> {
    const { status: store } = this.#config;
    const known = this.#known.get(id);
    // The common case, a refresh of a token this process last recorded as
    // ok, costs one write. A failure, an exchange (a revoked user
    // authorising again, maybe in another process) or a status this process
    // did not write last reads the store first.
    const previous = report.type === "refresh" && report.outcome === "ok" &&
        known?.state === "ok"
      ? known
      : await store.get(id);
    const status = nextStatus(previous, report, at);
    this.#known.delete(id);
    await store.put(status);
    this.#known.set(id, status);
    if (this.#known.size > this.#maxKnown) {
      this.#known.delete(this.#known.keys().next().value!);
    }
    if (status.state === "ok" && previous !== null && previous.state !== "ok") {
      this.#config.report({ type: "recovered", id });
    }
  }
}
