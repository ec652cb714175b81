/**
 * The wiring of a client's refresh pipeline, built once from its resolved
 * options: reader → coordinator → work → endpoint / persister, every part
 * reporting to one list of observers.
 *
 * @module
 */

import type { AuthorizedFetchDeps } from "./authorized_fetch.ts";
import { TokenCache } from "./cache.ts";
import { RefreshCooldown } from "./cooldown.ts";
import { RefreshCoordinator } from "./coordinator.ts";
import { EndedTap, type KeepAliveDeps } from "./keep_alive.ts";
import { Observers, type PipelineObserver } from "./observer.ts";
import type { ResolvedClientOptions } from "./options.ts";
import { OriginPolicy } from "./origins.ts";
import { Persister } from "./persist.ts";
import { TokenReader } from "./reader.ts";
import { RotationState } from "./rotation.ts";
import { EndpointRouter } from "./routing.ts";
import { SkewTracker } from "./skew.ts";
import { StatusObserver } from "./status.ts";
import { TelemetryObserver } from "../_telemetry/observer.ts";
import { TracedWork } from "../_telemetry/traced_work.ts";
import { Wakeup } from "./wakeup.ts";
import type { RefreshWork } from "./work.ts";

/** The parts of a client's pipeline its public API calls. */
export interface Pipeline {
  reader: TokenReader;
  coordinator: RefreshCoordinator;
  work: RefreshWork;
  /** What `client.fetch` sends API requests with. */
  fetch: AuthorizedFetchDeps;
  /** Records outcomes in `store.status`, when the store keeps statuses. */
  status: StatusObserver | undefined;
  /** What `client.keepAlive` runs with. */
  keepAlive: KeepAliveDeps;
  /** Resolves once background refreshes, saves and status records have ended. */
  settled(): Promise<void>;
}

/** Builds the pipeline of a client with `options`, reporting to `observers`. */
export function createPipeline(
  options: ResolvedClientOptions,
  observers: readonly PipelineObserver[],
): Pipeline {
  const { store, endpoint, leaseTtlMs } = options;
  const status = store.status === undefined ? undefined : new StatusObserver({
    status: store.status,
    now: endpoint.now,
    report: (report) => observer.observe(report),
  });
  const ended = new EndedTap();
  const telemetry = new TelemetryObserver();
  const observer = new Observers([
    ...observers,
    ...(status === undefined ? [] : [status]),
    ended,
    telemetry,
  ]);
  const persister = new Persister({
    store,
    persistTimeoutMs: options.persistTimeoutMs,
    baseDelayMs: endpoint.baseDelayMs,
    maxDelayMs: endpoint.maxDelayMs,
    sleep: endpoint.sleep,
    observer,
  });
  const reader = new TokenReader({
    store,
    cache: new TokenCache(options.cache),
    skew: new SkewTracker(options.skewMs, endpoint.now),
    persister,
    now: endpoint.now,
  });
  // what a holder's lease must outlast a request by
  const marginMs = Math.min(leaseTtlMs, 5_000);
  const work = new TracedWork({
    endpoint,
    router: new EndpointRouter(options),
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    redirectUrl: options.redirectUrl,
    now: endpoint.now,
    marginMs,
    rotation: new RotationState(
      options.rotation,
      options.knownRotates,
      store.lock,
    ),
    persister,
    reader,
    observer,
  }, telemetry);
  const coordinator = new RefreshCoordinator({
    lock: store.lock,
    leaseTtlMs,
    holdMs: endpoint.timeoutMs + marginMs,
    pollIntervalMs: options.pollIntervalMs,
    wakeup: new Wakeup(
      store,
      options.customSleep ? endpoint.sleep : undefined,
    ),
    reader,
    work,
    observer,
    after: status && ((id) => status.pending(id)),
  });
  const cooldown = new RefreshCooldown({
    lock: store.lock,
    intervalMs: options.minRefreshIntervalMs,
    now: endpoint.now,
  });
  const fetch = {
    fetch: endpoint.fetch,
    scheme: options.authScheme,
    coordinator,
    cooldown,
    reader,
    origins: new OriginPolicy(options.allowedOrigins),
  };
  return {
    reader,
    coordinator,
    work,
    fetch,
    status,
    keepAlive: {
      store,
      coordinator,
      now: endpoint.now,
      ended,
      pending: (id) => status?.pending(id),
    },
    async settled() {
      await coordinator.settled();
      await status?.settled();
    },
  };
}
