/**
 * Dispatching the events of a {@linkcode TokenClient} (design "Events"; their
 * types are in `token_client_events.ts`): the first observer of the refresh
 * pipeline ({@linkcode EventsObserver}).
 *
 * @module
 */

import type { PipelineObserver, PipelineReport } from "./observer.ts";
import type {
  TokenClientEventMap,
  TokenClientEventType,
} from "../token_client_events.ts";

/** Dispatches `type` with `detail` on `target`; a throwing listener is not the client's failure. */
function emit<K extends TokenClientEventType>(
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
      case "recovered":
        emit(target, "recovered", { id: report.id });
        return;
      case "leasewaited":
        return; // no event: telemetry measures it
    }
  }
}
