/**
 * OpenTelemetry, reached without importing it: the structural types of the
 * `@opentelemetry/api` 1.x interfaces used, its global registry, and the
 * names of design "Telemetry". The rest of `core/_telemetry/` records the
 * spans
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
 * @module
 */

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

/** `SpanKind.INTERNAL` of the API. */
export const INTERNAL = 0;
/** `SpanStatusCode.ERROR` of the API. */
export const ERROR = 2;

/** The registry, if anything registered a provider. */
export function registry(): OtelRegistry | undefined {
  const value = (globalThis as unknown as Record<symbol, unknown>)[
    OTEL_REGISTRY
  ];
  return typeof value === "object" && value !== null
    ? value as OtelRegistry
    : undefined;
}

let tracing: { provider: OtelTracerProvider; tracer: OtelTracer } | undefined;

/** The tracer of the registered provider, if any. */
export function tracer(): OtelTracer | undefined {
  const provider = registry()?.trace;
  if (provider === undefined || typeof provider.getTracer !== "function") {
    return undefined;
  }
  if (tracing?.provider !== provider) {
    tracing = { provider, tracer: provider.getTracer(SCOPE) };
  }
  return tracing.tracer;
}
