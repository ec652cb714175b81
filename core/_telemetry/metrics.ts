/**
 * The metrics of design "Telemetry": `tokenstore.refresh.duration`,
 * `tokenstore.token.requests`, `tokenstore.lease.wait.duration` and
 * `tokenstore.cache.lookups`, on the registered meter provider (see
 * `otel.ts`), created on first use.
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
 * @module
 */

import {
  ATTR,
  type Attributes,
  METRIC,
  type OtelCounter,
  type OtelHistogram,
  type OtelMeter,
  type OtelMeterProvider,
  registry,
  SCOPE,
} from "./otel.ts";

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

/** The instruments of one meter provider. */
export interface Instruments {
  refreshDuration: OtelHistogram;
  tokenRequests: OtelCounter;
  leaseWait: OtelHistogram;
  cacheLookups: OtelCounter;
}

let metering:
  | { provider: OtelMeterProvider; instruments: Instruments | undefined }
  | undefined;

/** The instruments on the registered meter provider, created on first use. */
export function instruments(): Instruments | undefined {
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
