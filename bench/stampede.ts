/**
 * Stampede benchmark: P processes × C concurrent callers ask for the same
 * expired token from one shared store, against the local fixture token
 * endpoint. Prints, per store and configuration, how many token-endpoint
 * requests the expiry caused (must be 1) and the p50/p99 latency of
 * `getAccessToken`; exits 1 if any configuration made another number of
 * requests, a call failed, or callers got different tokens.
 *
 * The same worker processes serve every configuration: each round moves
 * every worker's clock 2 h on (the token issued the round before, valid
 * 1 h, has expired for all of them, as time would expire it, cached or
 * not), then the first P workers each fire C calls at one agreed instant.
 * Latency counts from that instant; the table gives p50/p99/max and p99 as
 * a multiple of the endpoint latency, when the holder's client called
 * `fetch` for the round's token request after the instant (the holder's
 * path) and when that request reached the endpoint (that plus the trip
 * through both processes' event loops, on the same 2 cores), and the run
 * fails when p99 exceeds `--max-p99-ms` (default 250).
 *
 * Usage:
 *
 * ```sh
 * deno run -A bench/stampede.ts [--stores kv,libsql,file,mysql,postgres]
 *   [--processes 1,4,8] [--callers 1,100,1000] [--endpoint-latency-ms 100]
 *   [--poll-ms N] [--lease-ttl-ms N]
 * ```
 *
 * MySQL runs when `MYSQL_URL` is set (a table `tsbench_…_stampede`, dropped
 * at the end). `--poll-ms` and `--lease-ttl-ms` default to `TokenClient`'s
 * defaults (250 ms and 30 s).
 *
 * @module
 */

import { OAuthToken } from "../core/token.ts";
import {
  DEFAULT_CLIENT,
  startTokenServer,
} from "../tests/fixtures/token_server.ts";
import { Worker } from "../tests/fixtures/stampede_harness.ts";
import {
  type RoundResult,
  tokenHash,
} from "../tests/fixtures/stampede_worker.ts";
import {
  openStoreSpec,
  STORE_TARGETS,
  type StoreSpec,
  target as storeTarget,
} from "../tests/fixtures/store_specs.ts";
import { dropTables, runPrefix, TABLE_PREFIX } from "./_mysql_tables.ts";

const MYSQL_URL = Deno.env.get("MYSQL_URL") || undefined;

function option(name: string, fallback: string): string {
  const at = Deno.args.indexOf(`--${name}`);
  if (at >= 0 && Deno.args[at + 1] !== undefined) return Deno.args[at + 1];
  const inline = Deno.args.find((arg) => arg.startsWith(`--${name}=`));
  return inline === undefined ? fallback : inline.slice(name.length + 3);
}

function numbers(name: string, fallback: string): number[] {
  const values = option(name, fallback).split(",").map(Number);
  if (values.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error(`Invalid --${name}: expected positive integers`);
    Deno.exit(2);
  }
  return values;
}

function optionalNumber(name: string): number | undefined {
  const value = option(name, "");
  return value === "" ? undefined : Number(value);
}

const STORES = option(
  "stores",
  STORE_TARGETS.filter((t) => t.available).map((t) => t.kind).join(","),
).split(",");
const PROCESSES = numbers("processes", "1,4,8");
const CALLERS = numbers("callers", "1,100,1000");
const ENDPOINT_LATENCY_MS = Number(option("endpoint-latency-ms", "100"));
const POLL_MS = optionalNumber("poll-ms");
const LEASE_TTL_MS = optionalNumber("lease-ttl-ms");
const MAX_P99_MS = Number(option("max-p99-ms", "250"));
const HOUR = 3_600_000;

/** The stores a run can name, and their labels in the table. */
const LABELS: Record<string, string> = {
  kv: "kv-file",
  libsql: "libsql-file",
  mysql: "mysql",
  postgres: "postgres",
  file: "file-json",
  redis: "redis",
};

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

interface Row {
  store: string;
  processes: number;
  callers: number;
  requests: number;
  p50: number;
  p99: number;
  max: number;
  /** When the round's first token request reached the endpoint, after the instant. */
  requestAfterMs: number;
  /** When the holder's client called `fetch` for it, after the instant. */
  sentAfterMs: number;
  ok: boolean;
  problem?: string;
}

const started = performance.now();
const rows: Row[] = [];
const server = await startTokenServer({
  latencyMs: ENDPOINT_LATENCY_MS,
  rateLimit: false,
});
const workerCount = Math.max(...PROCESSES);
const workers = Array.from(
  { length: workerCount },
  () =>
    new Worker({
      tokenUrl: server.url,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      pollIntervalMs: POLL_MS,
      leaseTtlMs: LEASE_TTL_MS,
    }),
);

console.log(
  `Stampede: ${workerCount} worker processes; token endpoint latency ${ENDPOINT_LATENCY_MS} ms; ` +
    `poll ${POLL_MS ?? "default (250)"} ms; lease TTL ${
      LEASE_TTL_MS ?? "default (30000)"
    } ms`,
);
console.log(
  "| store | processes | callers/process | token requests per expiry | p50 ms | p99 ms | max ms | p99 ÷ endpoint | request sent after instant ms | request reached endpoint ms |",
);
console.log(
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
);

try {
  for (const name of STORES) {
    const label = LABELS[name];
    if (label === undefined) {
      throw new Error(
        `Unknown store "${name}": expected one of ${
          Object.keys(LABELS).join(", ")
        }`,
      );
    }
    const target = storeTarget(name as StoreSpec["kind"]);
    if (!target.available) {
      console.log(
        `Notice: no ${target.name} server URL, its stampede is skipped`,
      );
      continue;
    }
    if (name === "mysql") await dropTables(MYSQL_URL!, TABLE_PREFIX, true);
    const dir = await Deno.makeTempDir({ prefix: "tokenstore_stampede_" });
    const spec = target.spec(dir, `${runPrefix()}stampede`)!;
    const store = await openStoreSpec(spec);
    const userName = `stampede.${name}@example.com`;
    try {
      await store.saveToken(
        new OAuthToken({
          userName,
          clientId: DEFAULT_CLIENT.clientId,
          clientSecret: DEFAULT_CLIENT.clientSecret,
          refreshToken: server.issueRefreshToken({ userName }),
        }),
      );
      await Promise.all(
        workers.map((w) => w.send({ open: spec, query: { userName } })),
      );
      await Promise.all(workers.map((w) => w.next()));
      let round = 0;
      for (const processes of PROCESSES) {
        for (const callers of CALLERS) {
          round++;
          const before = server.stats().token;
          const seen = server.requests.length;
          const active = workers.slice(0, processes);
          const startAt = Date.now() + 50;
          await Promise.all(
            active.map((w) =>
              w.send({
                round,
                callers,
                clockOffsetMs: round * 2 * HOUR,
                startAt,
              })
            ),
          );
          const results = await Promise.all(
            active.map((w) => w.next<RoundResult>()),
          );
          const requests = server.stats().token - before;
          const first = server.requests.slice(seen)
            .find((r) => r.endpoint === "token");
          const requestAfterMs = first === undefined ? NaN : first.at - startAt;
          const sent = results.flatMap((r) =>
            r.sentAt === undefined ? [] : [r.sentAt]
          );
          const sentAfterMs = sent.length === 0
            ? NaN
            : Math.min(...sent) - startAt;
          const stored = (await store.findToken({ userName }))!;

          const hash = await tokenHash(stored.accessToken!);
          const errors = results.flatMap((r) => r.errors);
          const hashes = new Set(results.flatMap((r) => r.tokenHashes));
          const latencies = results.flatMap((r) => r.latenciesMs!).sort((
            a,
            b,
          ) => a - b);
          const problem = errors.length > 0
            ? `${errors.length} calls failed: ${errors[0]}`
            : hashes.size !== 1 || !hashes.has(hash)
            ? "callers got different access tokens"
            : requests !== 1
            ? `${requests} token requests for one expiry`
            : percentile(latencies, 99) > MAX_P99_MS
            ? `p99 ${
              percentile(latencies, 99).toFixed(1)
            } ms > ${MAX_P99_MS} ms`
            : undefined;
          const row: Row = {
            store: label,
            processes,
            callers,
            requests,
            p50: percentile(latencies, 50),
            p99: percentile(latencies, 99),
            max: latencies[latencies.length - 1],
            requestAfterMs,
            sentAfterMs,
            ok: problem === undefined,
            problem,
          };
          rows.push(row);
          console.log(
            `| ${row.store} | ${processes} | ${callers} | ${requests}${
              row.ok ? "" : " ✗"
            } | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${
              row.max.toFixed(1)
            } | ${(row.p99 / ENDPOINT_LATENCY_MS).toFixed(2)}× | ${
              row.sentAfterMs.toFixed(0)
            } | ${row.requestAfterMs.toFixed(0)} |`,
          );
          if (problem) console.error(`  ${label}: ${problem}`);
        }
      }
    } finally {
      await store.close?.();
      await target.cleanup?.(spec);
      await Deno.remove(dir, { recursive: true });
    }
  }
} finally {
  const codes = await Promise.all(workers.map((w) => w.close()));
  await server.close();
  if (codes.some((code) => code !== 0)) {
    console.error(`Worker exit codes: ${codes.join(", ")}`);
    rows.push({
      store: "workers",
      processes: 0,
      callers: 0,
      requests: 0,
      p50: 0,
      p99: 0,
      max: 0,
      requestAfterMs: 0,
      sentAfterMs: 0,
      ok: false,
    });
  }
}

const failed = rows.filter((row) => !row.ok);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  failed.length === 0
    ? `Stampede: 1 token request per expiry and p99 ≤ ${MAX_P99_MS} ms in all ${rows.length} configurations (${seconds} s)`
    : `Stampede FAILED in ${failed.length} of ${rows.length} configurations (${seconds} s)`,
);
if (failed.length > 0) Deno.exit(1);
