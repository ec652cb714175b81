/**
 * The spans of design "Telemetry" (`tokenstore.exchange`,
 * `tokenstore.refresh`, `tokenstore.revoke`, `tokenstore.keep_alive`):
 * {@linkcode withSpan} runs work inside one, active meanwhile, and ends it
 * with the work's outcome and `error.type`.
 *
 * Nothing secret is recorded: token ids, outcomes, error codes of the
 * library's own errors (an unexpected value becomes `"_OTHER"`), host names
 * and grant types; no token, client secret, user name, message or stack.
 *
 * @module
 */

import { isOutcomeUnknown } from "../_client/endpoint.ts";
import { type Outcome, outcomeOf } from "../_client/observer.ts";
import { OAuthError, TokenStoreError } from "../errors.ts";
import {
  ATTR,
  type Attributes,
  type AttributeValue,
  ERROR,
  INTERNAL,
  type OtelSpan,
  type OtelTracer,
  type SpanName,
  tracer,
} from "./otel.ts";

/** A span being recorded, as its code sees it. */
export interface SpanRecorder {
  /** Sets attributes (`undefined` values are left out). */
  set(attributes: Record<string, AttributeValue | undefined>): void;
  /** Adds an event. */
  event(name: string, attributes?: Attributes): void;
}

const NO_SPAN: SpanRecorder = Object.freeze({
  set() {},
  event() {},
});

/** Records one span: what was set, and the outcome it ends with. */
class Recorder implements SpanRecorder {
  #span: OtelSpan;
  #outcome: string | undefined;
  #errorType = false;

  constructor(span: OtelSpan) {
    this.#span = span;
  }

  set(attributes: Record<string, AttributeValue | undefined>): void {
    const defined: Attributes = {};
    for (const [key, value] of Object.entries(attributes)) {
      if (value === undefined) continue;
      defined[key] = value;
      if (key === ATTR.outcome) this.#outcome = String(value);
      if (key === ATTR.errorType) this.#errorType = true;
    }
    try {
      this.#span.setAttributes(defined);
    } catch {
      // telemetry never breaks the client
    }
  }

  event(name: string, attributes?: Attributes): void {
    try {
      this.#span.addEvent(name, attributes);
    } catch {
      // telemetry never breaks the client
    }
  }

  /** Sets the outcome (unless set), `error.type` and the status; ends the span. */
  end(failed: boolean, error: unknown): void {
    if (this.#outcome === undefined) {
      this.set({
        [ATTR.outcome]: failed ? outcomeOfError(error) : "ok",
      });
    }
    if (failed && !this.#errorType) {
      this.set({ [ATTR.errorType]: errorType(error) });
    }
    try {
      if (this.#outcome !== "ok") this.#span.setStatus({ code: ERROR });
      this.#span.end();
    } catch {
      // telemetry never breaks the client
    }
  }
}

/**
 * Runs `fn` inside a span named `name` (the active span meanwhile, so that
 * the requests it sends are its children), with `attributes`. The span ends
 * when `fn` settles: with `tokenstore.outcome` `"ok"` when it resolved and
 * no outcome was set, otherwise the outcome of the error (`"failed"`,
 * `"rate_limited"`, `"unknown"`) and its `error.type`. Without a tracer
 * provider `fn` just runs. Telemetry failures never reach `fn`'s caller.
 *
 * @param name The span's name.
 * @param attributes Its first attributes (`undefined` values are left out).
 * @param fn The work; it may set more attributes (e.g. counts) through its argument.
 * @returns What `fn` resolves with.
 */
export async function withSpan<T>(
  name: SpanName,
  attributes: Record<string, AttributeValue | undefined>,
  fn: (span: SpanRecorder) => Promise<T>,
): Promise<T> {
  let active: OtelTracer | undefined;
  try {
    active = tracer();
  } catch {
    active = undefined;
  }
  if (active === undefined) return await fn(NO_SPAN);
  let started = false;
  try {
    return await active.startActiveSpan(
      name,
      { kind: INTERNAL, attributes: defined(attributes) },
      (span) => {
        started = true;
        return recorded(span, fn);
      },
    );
  } catch (error) {
    if (started) throw error;
    return await fn(NO_SPAN); // the tracer itself failed
  }
}

async function recorded<T>(
  span: OtelSpan,
  fn: (span: SpanRecorder) => Promise<T>,
): Promise<T> {
  const recorder = new Recorder(span);
  let result: T;
  try {
    result = await fn(recorder);
  } catch (error) {
    recorder.end(true, error);
    throw error;
  }
  recorder.end(false, undefined);
  return result;
}

export function defined(
  attributes: Record<string, AttributeValue | undefined>,
): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** The outcome a thrown error ends an operation with. */
function outcomeOfError(error: unknown): Outcome {
  return outcomeOf(
    error,
    isOutcomeUnknown(error) ||
      (error instanceof OAuthError && error.code === "refresh_outcome_unknown"),
  );
}

/** What `error.type` may hold: a code, never free text. */
const SAFE_TYPE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * `error.type` of `error`: the code of the library's errors (`invalid_grant`,
 * `timeout`, `BACKEND`, ...), else the error's class name; `"_OTHER"` for
 * anything that does not look like a code.
 */
export function errorType(error: unknown): string {
  let type: unknown;
  if (error instanceof OAuthError || error instanceof TokenStoreError) {
    type = error.code;
  } else if (error instanceof Error) {
    type = error.name;
  }
  return typeof type === "string" && SAFE_TYPE.test(type) ? type : "_OTHER";
}

/** The host of `url`, for `server.address`. */
export function serverAddress(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}
