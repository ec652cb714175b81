/**
 * The one place the refresh pipeline reports what happened: every grant
 * exchange and refresh ends in exactly one outcome, and the notes on the way
 * (a rate-limited attempt, a save that gave up, a wait for another holder's
 * lease) are reported as they happen. The client's events are one observer
 * ({@linkcode EventsObserver} in `events.ts`); health (`status.ts`, which
 * reports `"recovered"` back to the list) and telemetry add theirs to the
 * same list instead of calls spread through the pipeline.
 *
 * @module
 */

import { RateLimitError } from "../errors.ts";

/**
 * How a grant exchange or refresh ended: the `tokenstore.outcome` values of
 * the design's telemetry.
 */
export type Outcome = "ok" | "failed" | "revoked" | "rate_limited" | "unknown";

/** A grant exchange or a refresh ended (reported once per call of the work). */
export interface EndedReport {
  type: "exchange" | "refresh";
  /** The token's id (none for a first grant exchange that failed). */
  id?: string;
  outcome: Outcome;
  /** Whether the server sent a new refresh token (refreshes only). */
  rotated: boolean;
  durationMs: number;
  /** Why it failed (`outcome` other than `"ok"`). */
  error?: unknown;
  /** When the refresh token expires (epoch ms), when an `"ok"` answer said. */
  refreshTokenExpiresAt?: number;
}

/** Something the pipeline reports. */
export type PipelineReport =
  | EndedReport
  /** A request to the token endpoint was rate-limited (it may be retried). */
  | { type: "ratelimited"; id?: string; retryAfterMs?: number }
  /** Issued tokens could not be saved within `persistTimeoutMs` (or at all). */
  | { type: "persistfailed"; id?: string; error: unknown }
  /** A caller waited for another holder's refresh lease. */
  | { type: "leasewaited"; id: string; waitedMs: number }
  /** A token whose status was `failing` or `revoked` refreshed or was authorised again. */
  | { type: "recovered"; id: string };

/** Receives every report of the pipeline. */
export interface PipelineObserver {
  /** Called synchronously; must not throw (a throw is swallowed). */
  observe(report: PipelineReport): void;
}

/** The observers of one client, each told every report. */
export class Observers implements PipelineObserver {
  #list: PipelineObserver[];

  constructor(list: readonly PipelineObserver[]) {
    this.#list = [...list];
  }

  /** Tells every observer; one that throws does not stop the others or the pipeline. */
  observe(report: PipelineReport): void {
    for (const observer of this.#list) {
      try {
        observer.observe(report);
      } catch {
        // an observer's failure is not the refresh's
      }
    }
  }
}

/** The outcome an error ends a request with (`"revoked"` is decided by the work). */
export function outcomeOf(error: unknown, unknown: boolean): Outcome {
  if (unknown) return "unknown";
  return error instanceof RateLimitError ? "rate_limited" : "failed";
}
