/**
 * Telemetry (design "Telemetry"). A process run with `OTEL_DENO=true` and
 * exporting OTLP/HTTP JSON to a receiver on loopback
 * (tests/fixtures/telemetry_client.ts) sends every span and metric with
 * its attributes, the cache lookups both in periodic exports and at exit,
 * and no secret in any byte. In this process: providers registered through
 * `npm:@opentelemetry/api` are used (the package itself imports nothing),
 * the structural types match the API's, and a failing provider never
 * breaks the client.
 */

import * as api from "@opentelemetry/api";
import { assert, assertEquals, assertGreaterOrEqual } from "@std/assert";
import { drainLookups } from "../core/_telemetry/metrics.ts";
import type {
  OtelMeterProvider,
  OtelTracerProvider,
} from "../core/_telemetry/otel.ts";
import { withSpan } from "../core/_telemetry/spans.ts";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import {
  type OtlpMetric,
  type OtlpReceiver,
  type OtlpSpan,
  startOtlpReceiver,
} from "./fixtures/otlp_receiver.ts";
import { assertSecretFree } from "./fixtures/secret_scan.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";

const LOOKUPS = 50;
const QUIET_MS = 1_200;
const EXPORT_INTERVAL_MS = 300;

interface ChildOutput {
  secrets: string[];
  ids?: { ada: string; bob: string };
  quietEndNs?: string;
}

/** Runs tests/fixtures/telemetry_client.ts exporting to `receiver`. */
async function runTraced(
  receiver: OtlpReceiver,
  args: string[],
  env: Record<string, string> = {},
): Promise<ChildOutput> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tests/fixtures/telemetry_client.ts", ...args],
    cwd: new URL("../", import.meta.url),
    env: {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: "tokenstore-telemetry-test",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 0, stderr);
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}

function ours(spans: OtlpSpan[]): OtlpSpan[] {
  return spans.filter((span) => span.scope === "@tokenstore/tokenstore");
}

/** The metric `name` of the last export that has it. */
function last(metrics: OtlpMetric[], name: string): OtlpMetric {
  const found = metrics.filter((metric) => metric.name === name).at(-1);
  assert(found !== undefined, `no metric ${name} received`);
  assertEquals(found.scope, "@tokenstore/tokenstore");
  return found;
}

/** The data point of `metric` with `attributes` (exactly). */
function point(metric: OtlpMetric, attributes: Record<string, unknown>) {
  const found = metric.points.find((p) =>
    JSON.stringify(Object.entries(p.attributes).sort()) ===
      JSON.stringify(Object.entries(attributes).sort())
  );
  assert(
    found !== undefined,
    `${metric.name} has no point ${JSON.stringify(attributes)}: ${
      JSON.stringify(metric.points.map((p) => p.attributes))
    }`,
  );
  return found;
}

Deno.test("telemetry over OTLP (OTEL_DENO=true): spans, metrics, batched cache lookups, no secret", async (t) => {
  await using receiver = await startOtlpReceiver();
  const child = await runTraced(
    receiver,
    ["scenario", String(LOOKUPS), String(QUIET_MS)],
    { OTEL_METRIC_EXPORT_INTERVAL: String(EXPORT_INTERVAL_MS) },
  );
  const { ada, bob } = child.ids!;
  const spans = ours(receiver.spans());
  const metrics = receiver.metrics();

  await t.step(
    "a span per exchange, refresh, revoke and keep-alive, with its attributes",
    () => {
      const named = (name: string) =>
        spans.filter((span) => span.name === name);
      const attributes = (span: OtlpSpan) => span.attributes;

      const [exchange] = named("tokenstore.exchange");
      assertEquals(attributes(exchange), {
        "tokenstore.token.id": ada,
        "tokenstore.outcome": "ok",
        "server.address": "127.0.0.1",
      });
      assertEquals(exchange.kind, 1); // internal

      const refreshes = named("tokenstore.refresh").map(attributes);
      assertEquals(refreshes, [
        {
          "tokenstore.token.id": ada,
          "server.address": "127.0.0.1",
          "tokenstore.outcome": "ok",
          "tokenstore.rotated": true,
        },
        {
          "tokenstore.token.id": ada,
          "server.address": "127.0.0.1",
          "tokenstore.outcome": "failed",
          "tokenstore.rotated": false,
          "error.type": "server_error",
        },
        {
          "tokenstore.token.id": ada,
          "server.address": "127.0.0.1",
          "tokenstore.outcome": "rate_limited",
          "tokenstore.rotated": false,
          "error.type": "too_many_requests",
        },
        {
          "tokenstore.token.id": bob,
          "server.address": "127.0.0.1",
          "tokenstore.outcome": "revoked",
          "tokenstore.rotated": false,
          "error.type": "invalid_grant",
        },
        // the lease holder's (the waiter sends nothing)
        {
          "tokenstore.token.id": ada,
          "server.address": "127.0.0.1",
          "tokenstore.outcome": "ok",
          "tokenstore.rotated": true,
        },
      ]);
      const statuses = named("tokenstore.refresh").map((span) => span.status);
      assertEquals(statuses, [0, 2, 2, 2, 0]); // unset, or error
      const limited = named("tokenstore.refresh")[2];
      assertEquals(limited.events.map((event) => event.name), [
        "tokenstore.rate_limited",
        "tokenstore.rate_limited",
      ]);

      const [revoke] = named("tokenstore.revoke");
      assertEquals(attributes(revoke), {
        "tokenstore.token.id": ada,
        "server.address": "127.0.0.1",
        "tokenstore.outcome": "ok",
      });
      const [keepAlive] = named("tokenstore.keep_alive");
      assertEquals(attributes(keepAlive)["tokenstore.outcome"], "ok");
      // client.keepAlive's own span, with its report (the token has no refresh token)
      assertEquals(attributes(keepAlive)["tokenstore.keep_alive.checked"], 1);
      assertEquals(attributes(keepAlive)["tokenstore.keep_alive.skipped"], 1);
      assertEquals(
        spans.map((span) => span.name).sort(),
        [
          "tokenstore.exchange",
          "tokenstore.keep_alive",
          ...Array(5).fill("tokenstore.refresh"),
          "tokenstore.revoke",
        ],
      );
    },
  );

  await t.step("the requests each operation sends are its children", () => {
    const all = receiver.spans();
    for (const span of spans) {
      if (span.name === "tokenstore.keep_alive") continue;
      const children = all.filter((child) =>
        child.parentSpanId === span.spanId && child.kind === 3 // client
      );
      const expected = span.name === "tokenstore.refresh" &&
          span.attributes["tokenstore.outcome"] !== "ok" &&
          span.attributes["tokenstore.outcome"] !== "revoked"
        ? 2 // both attempts
        : 1;
      assertEquals(children.length, expected, span.name);
      assertEquals(children[0].traceId, span.traceId);
    }
  });

  await t.step(
    "metrics: refresh.duration by outcome, token.requests by grant type, lease.wait.duration, cache.lookups by hit",
    () => {
      const duration = last(metrics, "tokenstore.refresh.duration");
      assertEquals([duration.kind, duration.unit], ["histogram", "s"]);
      assertEquals(point(duration, { "tokenstore.outcome": "ok" }).count, 2);
      for (const outcome of ["failed", "rate_limited", "revoked"]) {
        assertEquals(
          point(duration, { "tokenstore.outcome": outcome }).count,
          1,
          outcome,
        );
      }
      // the lease holder's refresh waited for a 300 ms answer
      assertGreaterOrEqual(
        point(duration, { "tokenstore.outcome": "ok" }).sum!,
        0.3,
      );

      const requests = last(metrics, "tokenstore.token.requests");
      assertEquals(requests.kind, "sum");
      assertEquals(
        point(requests, { "tokenstore.grant_type": "authorization_code" })
          .value,
        1,
      );
      // ok 1, failed 2, rate limited 2, revoked 1, lease holder 1
      assertEquals(
        point(requests, { "tokenstore.grant_type": "refresh_token" }).value,
        7,
      );

      const leaseWait = last(metrics, "tokenstore.lease.wait.duration");
      assertEquals([leaseWait.kind, leaseWait.unit], ["histogram", "s"]);
      assertEquals(point(leaseWait, {}).count, 1);
      assertGreaterOrEqual(point(leaseWait, {}).sum!, 0.1);

      const lookups = last(metrics, "tokenstore.cache.lookups");
      assertEquals(lookups.kind, "sum");
      assertGreaterOrEqual(
        point(lookups, { "tokenstore.cache.hit": true }).value!,
        LOOKUPS - 1, // the first lookup by user name after the exchange misses
      );
      assertGreaterOrEqual(
        point(lookups, { "tokenstore.cache.hit": false }).value!,
        1,
      );
      // the instrument that only triggers the batches is never exported
      assert(
        !metrics.some((metric) => metric.name.endsWith(".collect")),
        metrics.map((metric) => metric.name).join(", "),
      );
    },
  );

  await t.step(
    "cached lookups reach a periodic export while nothing else happens",
    () => {
      const quietEnd = BigInt(child.quietEndNs!);
      const early = metrics.filter((metric) =>
        metric.name === "tokenstore.cache.lookups" &&
        metric.points.some((p) =>
          p.attributes["tokenstore.cache.hit"] === true &&
          p.value! >= LOOKUPS - 1 && BigInt(p.time) < quietEnd
        )
      );
      assert(
        early.length > 0,
        "no export during the quiet pause carried the cached lookups",
      );
    },
  );

  await t.step("no secret in any byte received", () => {
    assert(receiver.bodies.length > 0);
    assertSecretFree(receiver.text(), child.secrets, "the OTLP exports");
    assertGreaterOrEqual(child.secrets.length, 6);
  });
});

Deno.test("telemetry over OTLP: a process that only serves cached tokens exports its lookups at exit", async () => {
  await using receiver = await startOtlpReceiver();
  // the default export interval (60 s): only the export at exit happens
  const child = await runTraced(receiver, ["lookups", String(LOOKUPS)]);
  const lookups = last(receiver.metrics(), "tokenstore.cache.lookups");
  assertEquals(point(lookups, { "tokenstore.cache.hit": true }).value, LOOKUPS);
  assertEquals(point(lookups, { "tokenstore.cache.hit": false }).value, 1);
  assertEquals(ours(receiver.spans()), []);
  assertSecretFree(receiver.text(), child.secrets, "the OTLP exports");
});

// ---------------------------------------------------------------------------
// In this process: providers registered through npm:@opentelemetry/api

Deno.test("the structural types of telemetry.ts accept @opentelemetry/api's providers", () => {
  const tracerProvider: OtelTracerProvider = api.trace.getTracerProvider();
  const meterProvider: OtelMeterProvider = api.metrics.getMeterProvider();
  assert(tracerProvider.getTracer("t") !== undefined);
  assert(meterProvider.getMeter("t") !== undefined);
});

interface Recorded {
  spans: {
    name: string;
    attributes: Record<string, unknown>;
    status?: number;
    ended: boolean;
  }[];
  adds: { name: string; value: number; attributes?: api.Attributes }[];
  collect: (() => void)[];
}

/** A tracer and a meter provider that record what they are given. */
function recordingProviders(
  options: { failing?: boolean } = {},
): { tracer: api.TracerProvider; meter: api.MeterProvider; log: Recorded } {
  const log: Recorded = { spans: [], adds: [], collect: [] };
  const fail = () => {
    if (options.failing) throw new Error("provider failure");
  };
  const tracer = {
    startSpan() {
      throw new Error("not used");
    },
    startActiveSpan(
      name: string,
      spanOptions: api.SpanOptions,
      fn: (span: api.Span) => unknown,
    ) {
      fail();
      const record: Recorded["spans"][number] = {
        name,
        attributes: { ...spanOptions.attributes },
        ended: false,
      };
      log.spans.push(record);
      const span = {
        setAttributes(attributes: api.Attributes) {
          Object.assign(record.attributes, attributes);
          return span;
        },
        addEvent: () => span,
        setStatus(status: api.SpanStatus) {
          record.status = status.code;
          return span;
        },
        end() {
          record.ended = true;
        },
      };
      return fn(span as unknown as api.Span);
    },
  };
  const instrument = (name: string) => ({
    add(value: number, attributes?: api.Attributes) {
      fail();
      log.adds.push({ name, value, attributes });
    },
    record(value: number, attributes?: api.Attributes) {
      log.adds.push({ name, value, attributes });
    },
  });
  const meter = {
    createCounter: instrument,
    createHistogram: instrument,
    createObservableCounter: () => ({}),
    addBatchObservableCallback(callback: () => void) {
      log.collect.push(callback);
    },
  };
  return {
    tracer: { getTracer: () => tracer } as unknown as api.TracerProvider,
    meter: { getMeter: () => meter } as unknown as api.MeterProvider,
    log,
  };
}

async function withProviders<T>(
  providers: ReturnType<typeof recordingProviders>,
  fn: () => Promise<T>,
): Promise<T> {
  assert(api.trace.setGlobalTracerProvider(providers.tracer));
  assert(api.metrics.setGlobalMeterProvider(providers.meter));
  try {
    return await fn();
  } finally {
    drainLookups(); // nothing left for the next test's provider
    api.trace.disable();
    api.metrics.disable();
  }
}

function fixtureClient(server: { url: string }, store: MemoryTokenStore) {
  return new TokenClient({
    store,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: DEFAULT_CLIENT.clientSecret,
    tokenUrl: server.url,
  });
}

Deno.test("providers registered through @opentelemetry/api (after the client was created) record spans and metrics; lookups are batched", async () => {
  await using server = await startTokenServer({ mode: "standard" });
  const store = new MemoryTokenStore();
  await store.saveToken(
    new OAuthToken({
      userName: "ada",
      refreshToken: server.issueRefreshToken({ userName: "ada" }),
    }),
  );
  const client = fixtureClient(server, store);
  const providers = recordingProviders();
  await withProviders(providers, async () => {
    const { log } = providers;
    await client.getAccessToken({ userName: "ada" }); // miss, then refresh
    const before = log.adds.length;
    for (let i = 0; i < 10; i++) {
      await client.getAccessToken({ userName: "ada" });
    }
    // ten hits: nothing recorded yet, a plain count
    assertEquals(log.adds.length, before);
    assertEquals(log.collect.length, 1);
    log.collect[0](); // what a collection runs
    const lookups = log.adds.filter((a) =>
      a.name === "tokenstore.cache.lookups"
    );
    assertEquals(
      lookups.at(-1),
      {
        name: "tokenstore.cache.lookups",
        value: 10,
        attributes: { "tokenstore.cache.hit": true },
      },
    );
    const [refresh] = log.spans;
    assertEquals(refresh.name, "tokenstore.refresh");
    assertEquals(refresh.attributes["tokenstore.outcome"], "ok");
    assertEquals(refresh.ended, true);
    assert(
      log.adds.some((a) =>
        a.name === "tokenstore.token.requests" &&
        a.attributes?.["tokenstore.grant_type"] === "refresh_token"
      ),
    );
    assert(log.adds.some((a) => a.name === "tokenstore.refresh.duration"));
  });
});

Deno.test("withSpan: the outcome and error.type of a failure; the error reaches the caller", async () => {
  const providers = recordingProviders();
  await withProviders(providers, async () => {
    const error = await withSpan("tokenstore.keep_alive", { a: 1 }, () => {
      throw new TypeError("boom, 1000.0123456789abcdef0123");
    }).catch((e) => e);
    assert(error instanceof TypeError);
    assertEquals(providers.log.spans, [{
      name: "tokenstore.keep_alive",
      attributes: {
        a: 1,
        "tokenstore.outcome": "failed",
        "error.type": "TypeError",
      },
      status: 2,
      ended: true,
    }]);
  });
});

Deno.test("a provider that throws never breaks the client", async () => {
  await using server = await startTokenServer({ mode: "standard" });
  const store = new MemoryTokenStore();
  await store.saveToken(
    new OAuthToken({
      userName: "ada",
      refreshToken: server.issueRefreshToken({ userName: "ada" }),
    }),
  );
  const client = fixtureClient(server, store);
  await withProviders(recordingProviders({ failing: true }), async () => {
    const token = await client.getAccessToken({ userName: "ada" });
    for (let i = 0; i < 3; i++) {
      assertEquals(await client.getAccessToken({ userName: "ada" }), token);
    }
    await client.refresh({ userName: "ada" });
    await client.revoke({ userName: "ada" });
    assertEquals(await store.findToken({ userName: "ada" }), null);
  });
});
