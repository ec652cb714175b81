/**
 * What telemetry costs a fresh token served from the cache (design
 * "Telemetry": at most 0.2 µs more with a provider registered than with
 * none). Run it twice and compare the `getAccessToken` rows:
 *
 * ```sh
 * deno bench -A bench/telemetry_bench.ts
 * OTEL_DENO=true OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 deno bench -A bench/telemetry_bench.ts
 * ```
 *
 * The second run registers Deno's built-in providers (exporting to a port
 * nothing listens on; the export fails quietly). The row names say which
 * provider the run had. A cached lookup only increments an integer
 * (`core/_telemetry/`); the last row shows what the rejected
 * design, one `counter.add` per lookup, would cost on top.
 *
 * @module
 */

import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import {
  OTEL_REGISTRY,
  type OtelMeterProvider,
} from "../core/_telemetry/otel.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { CLIENT_ID, tokenValue } from "./_data.ts";

const QUERY = { userName: "hot@example.com" };
const meterProvider = (globalThis as unknown as {
  [OTEL_REGISTRY]?: { metrics?: OtelMeterProvider };
})[OTEL_REGISTRY]?.metrics;
const provider = meterProvider === undefined
  ? "no provider"
  : "provider registered";

const store = new MemoryTokenStore();
await store.saveToken(
  new OAuthToken({
    ...QUERY,
    clientId: CLIENT_ID,
    refreshToken: tokenValue(),
    accessToken: tokenValue(),
    expiresAt: Date.now() + 3_600_000,
  }),
);
const client = new TokenClient({
  store,
  clientId: CLIENT_ID,
  clientSecret: "bench-secret",
  tokenUrl: "http://127.0.0.1:9/oauth/v2/token", // never asked
});
const expected = await client.getAccessToken(QUERY);

const variable = { accessToken: tokenValue() };
Deno.bench({
  name: "read a variable",
  group: "fresh token",
  baseline: true,
  fn: () => {
    if (variable.accessToken === "") throw new Error("unreachable");
  },
});

Deno.bench({
  name: `getAccessToken, fresh, cached (${provider})`,
  group: "fresh token",
  async fn() {
    if (await client.getAccessToken(QUERY) !== expected) {
      throw new Error("unexpected token");
    }
  },
});

if (meterProvider !== undefined) {
  const counter = meterProvider.getMeter("bench").createCounter(
    "bench.lookups",
  );
  const hit = { "tokenstore.cache.hit": true };
  Deno.bench({
    name: `getAccessToken + counter.add per lookup (${provider}; rejected)`,
    group: "fresh token",
    async fn() {
      if (await client.getAccessToken(QUERY) !== expected) {
        throw new Error("unexpected token");
      }
      counter.add(1, hit);
    },
  });
}
