/**
 * The events a {@linkcode TokenClient} dispatches (design "Events"): each a
 * `CustomEvent` whose `detail` holds ids, counts and errors, never a secret
 * (the errors of this package redact them). They are one observer of the
 * refresh pipeline ({@linkcode EventsObserver}).
 *
 * @module
 */

import type { PipelineObserver, PipelineReport } from "./observer.ts";

/** `detail` of each event type of a `TokenClient`. */
export interface TokenClientEventMap {
  /** A token was refreshed (or a grant exchanged) and the answer accepted. */
  refresh: { id?: string; rotated: boolean; durationMs: number };
  /** A refresh failed. */
  refresherror: { id?: string; error: unknown };
  /** The server refused the stored refresh token: the user must authorise again. */
  revoked: { id: string };
  /** Issued tokens could not be saved within `persistTimeoutMs` (or not at all). */
  persistfailed: { id?: string; error: unknown };
  /** The token endpoint rate-limited a request. */
  ratelimited: { id?: string; retryAfterMs?: number };
}

/** The type of a `TokenClient` event. */
export type TokenClientEventType = keyof TokenClientEventMap;

/** Dispatches `type` with `detail` on `target`; a throwing listener is not the client's failure. */
export function emit<K extends TokenClientEventType>(
  target: EventTarget,
  type: K,
  detail: TokenClientEventMap[K],
): void {
  try {
    target.dispatchEvent(new CustomEvent(type, { detail }));
  } catch {
    // a listener's error must not break a refresh
  }
}

/** Turns the pipeline's reports into the client's events. */
export class EventsObserver implements PipelineObserver {
  #target: EventTarget;

  constructor(target: EventTarget) {
    this.#target = target;
  }

  observe(report: PipelineReport): void {
    const target = this.#target;
    switch (report.type) {
      case "exchange":
      case "refresh": {
        const { id, outcome, rotated, durationMs, error } = report;
        if (outcome === "ok") {
          emit(target, "refresh", { id, rotated, durationMs });
          return;
        }
        if (outcome === "revoked") emit(target, "revoked", { id: id! });
        emit(target, "refresherror", { id, error });
        return;
      }
      case "ratelimited":
        emit(target, "ratelimited", {
          id: report.id,
          retryAfterMs: report.retryAfterMs,
        });
        return;
      case "persistfailed":
        emit(target, "persistfailed", { id: report.id, error: report.error });
        return;
      case "leasewaited":
        return; // no event: telemetry measures it
    }
  }
}
