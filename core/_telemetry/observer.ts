/**
 * The pipeline's telemetry observer: one more observer of the pipeline's
 * reports (see `core/_client/observer.ts`), recording the metrics and
 * completing the spans of refreshes.
 *
 * @module
 */

import type { PipelineObserver, PipelineReport } from "../_client/observer.ts";
import { drainLookups, instruments } from "./metrics.ts";
import { ATTR } from "./otel.ts";
import { defined, errorType, type SpanRecorder } from "./spans.ts";

/**
 * The pipeline's telemetry observer: records the metrics of its reports,
 * completes the span of a refresh running in this client (its outcome, as
 * the work decided it, and whether the refresh token rotated), and adds the
 * cache lookups counted meanwhile.
 */
export class TelemetryObserver implements PipelineObserver {
  /** The span of each refresh running in this client, by token id. */
  #refreshing = new Map<string, SpanRecorder>();

  /** Runs `fn`, the refresh of token `id` recorded by `span`. */
  async refreshing<T>(
    id: string,
    span: SpanRecorder,
    fn: () => Promise<T>,
  ): Promise<T> {
    this.#refreshing.set(id, span);
    try {
      return await fn();
    } finally {
      if (this.#refreshing.get(id) === span) this.#refreshing.delete(id);
    }
  }

  /** Records `report`'s metrics and span attributes; adds the lookups counted meanwhile. */
  observe(report: PipelineReport): void {
    try {
      this.#record(report);
    } catch {
      // telemetry never breaks the client
    }
    drainLookups();
  }

  #record(report: PipelineReport): void {
    switch (report.type) {
      case "refresh": {
        const { id, outcome, rotated, durationMs, error } = report;
        const span = id === undefined ? undefined : this.#refreshing.get(id);
        span?.set({
          [ATTR.outcome]: outcome,
          [ATTR.rotated]: rotated,
          [ATTR.errorType]: outcome === "ok" ? undefined : errorType(error),
        });
        instruments()?.refreshDuration.record(durationMs / 1000, {
          [ATTR.outcome]: outcome,
        });
        break;
      }
      case "ratelimited": {
        const span = report.id === undefined
          ? undefined
          : this.#refreshing.get(report.id);
        span?.event(
          "tokenstore.rate_limited",
          defined({
            "tokenstore.retry_after_ms": report.retryAfterMs,
          }),
        );
        break;
      }
      case "leasewaited":
        instruments()?.leaseWait.record(report.waitedMs / 1000);
        break;
    }
  }
}
