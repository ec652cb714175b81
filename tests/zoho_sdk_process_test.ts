/**
 * The Zoho SDK bridge across processes, against its baseline: the official
 * TypeScript SDK in 4 processes x 25 concurrent calls over one shared store,
 * each process with either the bridge (`createZohoSdkStore` over a
 * `TokenClient`: exactly 1 refresh, 100 calls answered 200) or the custom
 * store Zoho's guide describes (tests/fixtures/zoho_sdk_plain_store.ts, no
 * `TokenClient`: the SDK refreshes by itself; its count is recorded). For
 * every store shared across processes, two moments:
 *
 * - expired at start: the stored access token has expired; the processes
 *   initialise at the same instant (the SDK reads the store and refreshes
 *   while initialising), then call;
 * - expiring under load: the processes initialise while the token still
 *   has more than the SDK's 5 s margin to live, and call once it has less:
 *   every call reads the expiring token and refreshes it (no lock, no single
 *   flight), and Zoho's 10 access tokens per refresh token per 10 minutes
 *   run out ("Access Denied").
 *
 * The fixture's CRM API accepts only the access token its server issued
 * last: a call with any other gets 401 — as when the store ends up holding
 * an older token than another process got (saves race, the last one wins).
 *
 * The token requests the fixture saw are printed. The bridge must make
 * exactly one and every call must be answered 200; the baseline only at
 * least one. No secret may reach a process's output.
 */

import { assert, assertEquals } from "@std/assert";
import { OAuthToken } from "../core/token.ts";
import { openStoreSpec, STORE_TARGETS } from "./fixtures/store_specs.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";
import {
  runSdkWorkers,
  type ZohoSdkWorkerReport,
} from "./fixtures/zoho_sdk_worker.ts";

const WORKERS = 4;
const CONCURRENCY = 25;
/** The SDK refreshes an access token with less than this to live. */
const SDK_MARGIN_MS = 5_000;
/** Time the processes get to start and initialise before the token expires. */
const START_MS = 3_000;

interface Row {
  store: string;
  mode: "plain" | "bridge";
  moment: string;
  /** Refresh requests the fixture saw. */
  refreshes: number;
  /** Of those, how many came before the go. */
  beforeGo: number;
  /** Access tokens the fixture issued (at most 10 per 10 minutes). */
  issued: number;
  reports: ZohoSdkWorkerReport[];
}

/** `"200 x97, 401 x3"`: the statuses, counted. */
function counted(values: (number | string)[]): string {
  const counts = new Map<number | string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].map(([value, n]) => `${value} x${n}`).join(", ") || "-";
}

function print(rows: Row[]): void {
  const lines = rows.map((r) =>
    [
      r.store.padEnd(13),
      r.mode.padEnd(7),
      r.moment.padEnd(20),
      String(r.refreshes).padStart(8),
      String(r.beforeGo).padStart(10),
      String(r.issued).padStart(7),
      `  ${counted(r.reports.flatMap((w) => w.statuses))}`,
      `  errors ${
        counted(
          r.reports.flatMap((w) => [
            ...w.errors,
            ...(w.initError ? [`init: ${w.initError}`] : []),
          ]).map((e) => e.slice(0, 60)),
        )
      }`,
    ].join("")
  );
  console.log(
    [
      `TypeScript SDK, ${WORKERS} processes x ${CONCURRENCY} calls (plain: the guide's custom store, no TokenClient):`,
      "store        mode   moment               refresh before go  issued  call statuses",
      ...lines,
    ].join("\n"),
  );
}

for (const target of STORE_TARGETS) {
  Deno.test({
    name:
      `zoho sdk: ${WORKERS} processes x ${CONCURRENCY} SDK calls on the ${target.name} store: 1 refresh through the bridge, the baseline's recorded`,
    ignore: !target.available,
    async fn() {
      const rows: Row[] = [];
      const runs = (["bridge", "plain"] as const).flatMap((mode) =>
        ["expired at start", "expiring under load"].map((moment) => ({
          mode,
          moment,
        }))
      );
      for (const { mode, moment } of runs) {
        const underLoad = moment === "expiring under load";
        const dir = await Deno.makeTempDir({ prefix: `zoho_sdk_${mode}_` });
        const spec = target.spec(dir)!;
        await using server = await startTokenServer({ latencyMs: 100 });
        try {
          const userName = `${mode}-${target.kind}@example.com`;
          const refreshToken = server.issueRefreshToken({ userName });
          const seeded = Date.now();
          const store = await openStoreSpec(spec);
          try {
            await store.saveToken(
              new OAuthToken({
                userName,
                clientId: DEFAULT_CLIENT.clientId,
                clientSecret: DEFAULT_CLIENT.clientSecret,
                refreshToken,
                accessToken: "1000.seeded-access-token",
                expiresAt: underLoad
                  ? seeded + START_MS + SDK_MARGIN_MS
                  : seeded - 60_000,
                apiDomain: server.origin,
              }),
            );
          } finally {
            await store.close?.();
          }
          let goAt = 0;
          const { reports, output } = await runSdkWorkers({
            workers: WORKERS,
            config: {
              mode,
              store: spec,
              origin: server.origin,
              userName,
              concurrency: CONCURRENCY,
              initAfterBarrier: !underLoad,
            },
            // Under load: go once the SDK sees the token within its margin.
            beforeGo: () =>
              goAt = Math.max(
                Date.now() + 100,
                underLoad ? seeded + START_MS + 100 : 0,
              ),
          });
          const refreshes = server.requests.filter((r) =>
            r.grantType === "refresh_token"
          );
          rows.push({
            store: target.name,
            mode,
            moment,
            refreshes: refreshes.length,
            beforeGo: refreshes.filter((r) => r.at < goAt).length,
            issued: server.stats().issued,
            reports,
          });
          assertEquals(reports.length, WORKERS);
          for (const report of reports) {
            assertEquals(report.initError, undefined);
            assertEquals(
              report.statuses.length + report.errors.length,
              CONCURRENCY,
            );
          }
          if (mode === "bridge") {
            assertEquals(refreshes.length, 1, `${moment}: refreshes`);
            assertEquals(
              reports.flatMap((r) => r.statuses),
              Array(WORKERS * CONCURRENCY).fill(200),
            );
          } else {
            assert(refreshes.length >= 1, "the SDK refreshed");
          }
          assertEquals(server.stats().refreshToken, refreshes.length);
          for (const secret of [refreshToken, DEFAULT_CLIENT.clientSecret]) {
            assert(!output.includes(secret), "a secret in a worker's output");
          }
        } finally {
          await target.cleanup?.(spec);
          await Deno.remove(dir, { recursive: true });
        }
      }
      print(rows);
    },
  });
}
