/**
 * The grant-token flow of the Zoho SDK bridge across processes: 3 processes
 * initialise the official TypeScript SDK with the same new grant token at
 * the same instant. Through the bridge the code is sent once (a lease per
 * grant token, the store read again under it), one token is stored, and
 * every process's first call is answered 200. The baseline (the guide's
 * custom store, the SDK exchanging by itself) is recorded beside it.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { openStoreSpec, STORE_TARGETS } from "./fixtures/store_specs.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";
import { runSdkWorkers } from "./fixtures/zoho_sdk_worker.ts";

const WORKERS = 3;

for (const kind of ["kv", "postgres"]) {
  const target = STORE_TARGETS.find((t) => t.kind === kind)!;
  Deno.test({
    name:
      `zoho sdk grant flow on the ${target.name} store: ${WORKERS} processes with one new grant token, 1 exchange through the bridge`,
    ignore: !target.available,
    async fn() {
      const lines: string[] = [];
      for (const mode of ["bridge", "plain"] as const) {
        const dir = await Deno.makeTempDir({ prefix: `zoho_sdk_grant_` });
        const spec = target.spec(dir)!;
        await using server = await startTokenServer({ latencyMs: 100 });
        try {
          const userName = `grant-${mode}-${kind}@example.com`;
          const grantToken = server.issueGrantCode({ userName });
          const { reports, output } = await runSdkWorkers({
            workers: WORKERS,
            config: {
              mode,
              store: spec,
              origin: server.origin,
              userName,
              grantToken,
              concurrency: 1,
              initAfterBarrier: true,
            },
          });
          const exchanges = server.requests.filter((r) =>
            r.grantType === "authorization_code"
          );
          const store = await openStoreSpec(spec);
          const stored = await store.getTokens().finally(() => store.close?.());
          lines.push(
            `${
              mode.padEnd(7)
            } authorization_code requests ${exchanges.length} (${
              exchanges.map((r) => r.outcome).join(", ")
            }), tokens stored ${stored.length}, first calls ${
              reports.map((r) => r.statuses[0] ?? r.initError ?? r.errors[0])
                .join(", ")
            }`,
          );
          assert(!output.includes(grantToken), "a grant token was printed");
          assert(!output.includes(DEFAULT_CLIENT.clientSecret));
          if (mode === "bridge") {
            assertEquals(exchanges.length, 1);
            assertEquals(stored.length, 1);
            assertEquals(stored[0].userName, userName);
            assertEquals(
              reports.map((r) => [r.initError, r.statuses]),
              Array(WORKERS).fill([undefined, [200]]),
            );
          } else {
            assert(exchanges.length >= 1);
          }
        } finally {
          await target.cleanup?.(spec);
          await Deno.remove(dir, { recursive: true });
        }
      }
      console.log(
        `TypeScript SDK, ${WORKERS} processes initialised with one new grant token (${target.name}):\n${
          lines.join("\n")
        }`,
      );
    },
  });
}
