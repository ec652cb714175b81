/**
 * OpenTelemetry for the refresh pipeline (design "Telemetry"): the spans
 * `tokenstore.exchange`, `tokenstore.refresh`, `tokenstore.revoke` (started
 * by `traced_work.ts`) and `tokenstore.keep_alive` (by `client.keepAlive`,
 * through {@linkcode withSpan}), and the metrics
 * `tokenstore.refresh.duration`, `tokenstore.token.requests`,
 * `tokenstore.lease.wait.duration` and `tokenstore.cache.lookups`
 * ({@linkcode TelemetryObserver}, one more observer of the pipeline's
 * reports). Without a registered provider all of it is a no-op.
 *
 * ## How `@opentelemetry/api` is reached: its global registry, nothing imported
 *
 * Every copy of `npm:@opentelemetry/api` 1.x keeps the providers registered
 * with it (`trace.setGlobalTracerProvider`, `metrics.setGlobalMeterProvider`,
 * `NodeSDK.start()`, ...) in one object shared by all copies,
 * `globalThis[Symbol.for("opentelemetry.js.api.1")]`, with the keys
 * `version`, `trace`, `context`, `metrics` and `propagation`. Deno run with
 * `OTEL_DENO=true` writes its built-in providers there when it starts,
 * before any user code and whether or not anything imports the API (tested:
 * the object is there, version `"1.999.999"`, in a process that never
 * imports it). This module reads that object when it needs a tracer or a
 * meter, and imports nothing, so:
 *
 * - the package has no npm dependency for telemetry: `import
 *   "jsr:@tokenstore/tokenstore"` still loads no npm package (tests/mod_test.ts
 *   runs it with `--no-npm`), and the Worker and edge bundles get no API copy;
 * - a provider registered through any API copy, or Deno's, is used, and one
 *   registered after the client was created too (the registry is read at
 *   each use, off the hot path);
 * - only the API 1.x interfaces are used (`getTracer`, `startActiveSpan`,
 *   `setAttributes`, `addEvent`, `setStatus`, `end`; `getMeter`,
 *   `createCounter`, `createHistogram`, `createObservableCounter`,
 *   `addBatchObservableCallback`), declared here structurally and checked
 *   against `npm:@opentelemetry/api` by tests/telemetry_test.ts.
 *
 * Rejected: a static `import "npm:@opentelemetry/api"` (every user would
 * download it, `--no-npm` fails, the npm build gains a dependency and the
 * bundles its code) and a lazy `import()` (the same dependency in the JSR
 * graph and package.json, bundlers resolve it anyway, and the copy it loads
 * reads the very registry read here).
 *
 * ## The hot path
 *
 * A fresh token served from the cache may cost at most 0.2 µs more with a
 * provider registered, and one `counter.add` costs about 0.55 µs under Deno's.
 * So a cache lookup only increments a plain integer
 * ({@linkcode cacheLookups}), and the counts are added to the counter
 * `tokenstore.cache.lookups` in batches (one `add` per value of
 * `tokenstore.cache.hit`): at each collection of the meter (a callback of an
 * observable instrument that observes nothing: Deno and the JS SDK run such
 * callbacks before they read the synchronous instruments, so the batch is in
 * that very export), at each report of the pipeline, and at exit (Deno's
 * `unload` event: Deno runs no callback at its final export, but exports
 * what was added during `unload`; the JS SDK's `shutdown` and `forceFlush`
 * collect, and so run the callback).
 *
 * Nothing secret is recorded: token ids, outcomes, error codes of the
 * library's own errors (an unexpected value becomes `"_OTHER"`), host names
 * and grant types; no token, client secret, user name, message or stack.
 *
 * @module
 */

import { isOutcomeUnknown } from "./endpoint.ts";
import {
  type Outcome,
  outcomeOf,
  type PipelineObserver,
  type PipelineReport,
} from "./observer.ts";
import { OAuthError, TokenStoreError } from "../errors.ts";

/** An attribute value this module records. */
export type AttributeValue = string | number | boolean;

/** Span and metric attributes. */
export type Attributes = Record<string, AttributeValue>;

/** The part of `@opentelemetry/api`'s `Span` used here. */
export interface OtelSpan {
  setAttributes(attributes: Attributes): unknown;
  addEvent(name: string, attributes?: Attributes): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

/** The part of `@opentelemetry/api`'s `Tracer` used here. */
export interface OtelTracer {
  startActiveSpan<F extends (span: OtelSpan) => unknown>(
    name: string,
    options: { kind?: number; attributes?: Attributes },
    fn: F,
  ): ReturnType<F>;
}

/** The part of `@opentelemetry/api`'s `TracerProvider` used here. */
export interface OtelTracerProvider {
  getTracer(name: string, version?: string): OtelTracer;
}

/** Options of an instrument. */
export interface OtelMetricOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** The part of `@opentelemetry/api`'s `Counter` used here. */
export interface OtelCounter {
  add(value: number, attributes?: Attributes): void;
}

/** The part of `@opentelemetry/api`'s `Histogram` used here. */
export interface OtelHistogram {
  record(value: number, attributes?: Attributes): void;
}

/** An observable instrument (`@opentelemetry/api`'s `Observable`). */
export type OtelObservable = object;

/** The part of `@opentelemetry/api`'s `Meter` used here. */
export interface OtelMeter {
  createCounter(name: string, options?: OtelMetricOptions): OtelCounter;
  createHistogram(name: string, options?: OtelMetricOptions): OtelHistogram;
  createObservableCounter(
    name: string,
    options?: OtelMetricOptions,
  ): OtelObservable;
  addBatchObservableCallback(
    callback: (result: unknown) => void,
    observables: OtelObservable[],
  ): void;
}

/** The part of `@opentelemetry/api`'s `MeterProvider` used here. */
export interface OtelMeterProvider {
  getMeter(name: string, version?: string): OtelMeter;
}

/** What `@opentelemetry/api` 1.x keeps at {@linkcode OTEL_REGISTRY}. */
export interface OtelRegistry {
  version?: string;
  trace?: OtelTracerProvider;
  metrics?: OtelMeterProvider;
}

/** Where every copy of `@opentelemetry/api` 1.x keeps its registered providers. */
export const OTEL_REGISTRY: unique symbol = Symbol.for(
  "opentelemetry.js.api.1",
);

/** The instrumentation scope of every span and instrument. */
export const SCOPE = "@tokenstore/tokenstore";

/** Span names (design "Telemetry"). */
export type SpanName =
  | "tokenstore.exchange"
  | "tokenstore.refresh"
  | "tokenstore.revoke"
  | "tokenstore.keep_alive";

/** Attribute keys (design "Telemetry"). */
export const ATTR = {
  tokenId: "tokenstore.token.id",
  outcome: "tokenstore.outcome",
  rotated: "tokenstore.rotated",
  serverAddress: "server.address",
  errorType: "error.type",
  grantType: "tokenstore.grant_type",
  cacheHit: "tokenstore.cache.hit",
} as const;

/** Metric names (design "Telemetry"). */
export const METRIC = {
  refreshDuration: "tokenstore.refresh.duration",
  tokenRequests: "tokenstore.token.requests",
  leaseWait: "tokenstore.lease.wait.duration",
  cacheLookups: "tokenstore.cache.lookups",
} as const;

/** `SpanKind.INTERNAL` and `SpanStatusCode.ERROR` of the API. */
const INTERNAL = 0;
const ERROR = 2;

/** Seconds: from 5 ms (a loopback endpoint) to 2 min (retries, a long lease wait). */
const SECONDS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
  30,
  60,
  120,
];

/** The registry, if anything registered a provider. */
function registry(): OtelRegistry | undefined {
  const value = (globalThis as unknown as Record<symbol, unknown>)[
    OTEL_REGISTRY
  ];
  return typeof value === "object" && value !== null
    ? value as OtelRegistry
    : undefined;
}

let tracing: { provider: OtelTracerProvider; tracer: OtelTracer } | undefined;

/** The tracer of the registered provider, if any. */
function tracer(): OtelTracer | undefined {
  const provider = registry()?.trace;
  if (provider === undefined || typeof provider.getTracer !== "function") {
    return undefined;
  }
  if (tracing?.provider !== provider) {
    tracing = { provider, tracer: provider.getTracer(SCOPE) };
  }
  return tracing.tracer;
}

/** The instruments of one meter provider. */
interface Instruments {
  refreshDuration: OtelHistogram;
  tokenRequests: OtelCounter;
  leaseWait: OtelHistogram;
  cacheLookups: OtelCounter;
}

let metering:
  | { provider: OtelMeterProvider; instruments: Instruments | undefined }
  | undefined;

/** The instruments on the registered meter provider, created on first use. */
function instruments(): Instruments | undefined {
  const provider = registry()?.metrics;
  if (provider === undefined || typeof provider.getMeter !== "function") {
    return undefined;
  }
  if (metering?.provider !== provider) {
    // set first: a provider that throws is not asked again at every use
    metering = { provider, instruments: undefined };
    metering.instruments = createInstruments(provider.getMeter(SCOPE));
  }
  return metering.instruments;
}

function createInstruments(meter: OtelMeter): Instruments {
  const instruments: Instruments = {
    refreshDuration: meter.createHistogram(METRIC.refreshDuration, {
      description:
        "Duration of refreshes of access tokens, by tokenstore.outcome",
      unit: "s",
      advice: { explicitBucketBoundaries: SECONDS },
    }),
    tokenRequests: meter.createCounter(METRIC.tokenRequests, {
      description:
        "Requests sent to the token endpoint (retries included), by tokenstore.grant_type",
      unit: "{request}",
    }),
    leaseWait: meter.createHistogram(METRIC.leaseWait, {
      description:
        "Time a caller waited for another holder's refresh lease (another process refreshing)",
      unit: "s",
      advice: { explicitBucketBoundaries: SECONDS },
    }),
    cacheLookups: meter.createCounter(METRIC.cacheLookups, {
      description:
        "Lookups of the client's token cache, by tokenstore.cache.hit",
      unit: "{lookup}",
    }),
  };
  try {
    // Observes nothing (so it is not exported): collecting it hands the
    // counted lookups to the counter above, in the same export.
    const collect = meter.createObservableCounter(
      "tokenstore.cache.lookups.collect",
      {
        description:
          "Never observed: collecting it adds the cache lookups counted since to tokenstore.cache.lookups",
      },
    );
    meter.addBatchObservableCallback(drainLookups, [collect]);
  } catch {
    // a meter without observable instruments: reports and exit still add them
  }
  listenForExit();
  return instruments;
}

let listening = false;

/** Deno exports at exit what was added during `unload`, but runs no callback. */
function listenForExit(): void {
  if (listening) return;
  listening = true;
  const target = globalThis as {
    addEventListener?: EventTarget["addEventListener"];
  };
  if (typeof target.addEventListener !== "function") return;
  try {
    target.addEventListener("unload", () => drainLookups());
  } catch {
    // a runtime without the event: its SDK collects at shutdown
  }
}

/**
 * Cache lookups not added to `tokenstore.cache.lookups` yet: a hot path's
 * whole telemetry cost is one increment here (see the module doc).
 */
export const cacheLookups: { hits: number; misses: number } = {
  hits: 0,
  misses: 0,
};

const HIT: Attributes = Object.freeze({ [ATTR.cacheHit]: true });
const MISS: Attributes = Object.freeze({ [ATTR.cacheHit]: false });

/**
 * Adds the cache lookups counted since the last call to the counter
 * `tokenstore.cache.lookups`, when a meter provider is registered (until
 * then they keep adding up). Never throws.
 */
export function drainLookups(): void {
  const { hits, misses } = cacheLookups;
  if (hits === 0 && misses === 0) return;
  try {
    const counter = instruments()?.cacheLookups;
    if (counter === undefined) return;
    cacheLookups.hits = 0;
    cacheLookups.misses = 0;
    if (hits > 0) counter.add(hits, HIT);
    if (misses > 0) counter.add(misses, MISS);
  } catch {
    // telemetry never breaks the client
  }
}

/**
 * Counts a cache lookup that found nothing (off the hot path), and makes
 * sure the instruments exist, so that the lookups of a client that never
 * refreshes are collected too.
 */
export function lookupMissed(): void {
  cacheLookups.misses++;
  if (metering === undefined) drainLookups();
}

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

function defined(
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

const GRANT_TYPES = new Set(["refresh_token", "authorization_code"]);

/**
 * `fetch` that counts each request carrying a `grant_type` (a token
 * request; revocations carry none) in `tokenstore.token.requests`, then
 * sends it unchanged.
 */
export function countingFetch(send: typeof fetch): typeof fetch {
  return (input, init) => {
    countTokenRequest(init?.body);
    return send(input, init);
  };
}

function countTokenRequest(body: unknown): void {
  if (typeof body !== "string") return;
  try {
    const counter = instruments()?.tokenRequests;
    if (counter === undefined) return;
    const grantType = new URLSearchParams(body).get("grant_type");
    if (grantType === null) return;
    counter.add(1, {
      [ATTR.grantType]: GRANT_TYPES.has(grantType) ? grantType : "_OTHER",
    });
  } catch {
    // telemetry never breaks the client
  }
}

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
