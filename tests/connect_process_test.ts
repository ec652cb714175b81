/**
 * A state is single use across every process sharing the store (Connect
 * rule 3): the same callback handled by several processes at once, over
 * Deno KV and over PostgreSQL, goes through in exactly one; the others are
 * refused with `invalid_state` and send nothing.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { TokenClient } from "../core/token_client.ts";
import type { CallbackWorkerReport } from "./fixtures/callback_worker.ts";
import { openStoreSpec, target } from "./fixtures/store_specs.ts";

const REDIRECT = "https://app.example.com/callback";
const CLIENT = { clientId: "1000.CLIENT", clientSecret: "client-secret-one" };
const WORKERS = 3;

async function runWorker(config: object): Promise<CallbackWorkerReport> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./fixtures/callback_worker.ts", import.meta.url).pathname,
      JSON.stringify(config),
    ],
    cwd: new URL("../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) throw new Error(`Callback worker failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(output.stdout).trim());
}

for (const kind of ["kv", "postgres"] as const) {
  const t = target(kind);
  Deno.test({
    name:
      `connect: one callback replayed by ${WORKERS} processes on the ${t.name} store goes through once; the others are invalid_state, nothing sent`,
    ignore: !t.available,
    async fn() {
      const dir = await Deno.makeTempDir();
      const spec = t.spec(dir)!;
      const store = await openStoreSpec(spec);
      try {
        const client = new TokenClient({
          store,
          ...CLIENT,
          redirectUrl: REDIRECT,
        });
        const { url, cookie } = await client.authorize({
          scope: "ZohoCRM.users.READ",
          userName: "ada@example.com",
        });
        const callback = new URL(REDIRECT);
        callback.searchParams.set("code", "1000.code");
        callback.searchParams.set("state", url.searchParams.get("state")!);
        const config = {
          store: spec,
          ...CLIENT,
          redirectUrl: REDIRECT,
          url: callback.href,
          cookie: cookie.split(";")[0],
          startAt: Date.now() + 1_500,
        };
        const reports = await Promise.all(
          Array.from({ length: WORKERS }, () => runWorker(config)),
        );
        const through = reports.filter((r) => r.id !== undefined);
        assertEquals(through.length, 1, JSON.stringify(reports));
        assertEquals(through[0].sent, 1);
        for (const report of reports.filter((r) => r.id === undefined)) {
          assertEquals(report, { code: "invalid_state", sent: 0 });
        }
        const stored = await store.getTokens();
        assertEquals(stored.map((t) => t.userName), ["ada@example.com"]);
        // replayed later, from yet another process
        assertEquals(await runWorker({ ...config, startAt: undefined }), {
          code: "invalid_state",
          sent: 0,
        });
      } finally {
        await store.close?.();
        await t.cleanup?.(spec);
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
