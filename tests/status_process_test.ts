/**
 * Token statuses are shared and durable (design "Health"): on every store
 * that processes share, a status written by one process is read by another
 * after reopening the store, survives a restart, is replaced by the next
 * write of either, and is gone everywhere once its token is deleted.
 *
 * @module
 */

import { assertEquals, assertExists } from "@std/assert";
import { OAuthToken } from "../core/token.ts";
import type { TokenStatus } from "../core/token_status.ts";
import {
  openStoreSpec,
  STORE_TARGETS,
  type StoreSpec,
} from "./fixtures/store_specs.ts";

const WORKER = new URL("./fixtures/status_worker.ts", import.meta.url);

/** Runs the status worker on `spec`; resolves what it printed, parsed. */
async function worker(
  spec: StoreSpec,
  ...args: string[]
): Promise<unknown> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WORKER.pathname, JSON.stringify(spec), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assertEquals(
    output.code,
    0,
    `the worker failed: ${decoder.decode(output.stderr)}`,
  );
  return JSON.parse(decoder.decode(output.stdout));
}

/** Opens the store, runs `fn` on it, closes it. */
async function withStore<T>(
  spec: StoreSpec,
  fn: (store: Awaited<ReturnType<typeof openStoreSpec>>) => Promise<T>,
): Promise<T> {
  const store = await openStoreSpec(spec);
  try {
    return await fn(store);
  } finally {
    await store.close?.();
  }
}

for (const target of STORE_TARGETS) {
  Deno.test({
    name:
      `status (${target.name}): a status written by one process is read by another, survives reopening, and goes with its token`,
    ignore: !target.available,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "status_process_" });
      const spec = target.spec(dir)!;
      try {
        const [ada, bob] = await withStore(spec, (store) =>
          Promise.all(
            ["ada", "bob"].map((user) =>
              store.saveToken(
                new OAuthToken({
                  userName: `${user}@example.com`,
                  refreshToken: `1000.status-refresh-${user}`,
                }),
              )
            ),
          ));
        const failing: TokenStatus = {
          id: ada.id!,
          state: "failing",
          lastRefreshAt: 1_800_000_000_001,
          lastFailureAt: 1_800_000_000_002,
          lastError: "invalid_client",
          failures: 2,
          refreshTokenExpiresAt: 1_900_000_000_000,
        };
        // another process writes; this one reads after opening the store
        assertEquals(await worker(spec, "put", JSON.stringify(failing)), "ok");
        await withStore(spec, async (store) => {
          assertExists(store.status, `${target.storeName} keeps statuses`);
          assertEquals(await store.status.get(ada.id!), failing);
          assertEquals(await store.status.list(), [failing]);
        });
        // and again after another restart
        await withStore(spec, async (store) => {
          assertEquals(await store.status!.get(ada.id!), failing);
          // this process writes; the other one reads
          await store.status!.put({ id: bob.id!, state: "ok", failures: 0 });
        });
        assertEquals(await worker(spec, "get", bob.id!), {
          id: bob.id!,
          state: "ok",
          failures: 0,
        });
        // a write of the other process replaces this one's, whole
        const revoked: TokenStatus = {
          id: ada.id!,
          state: "revoked",
          lastError: "invalid_grant",
          failures: 3,
        };
        await worker(spec, "put", JSON.stringify(revoked));
        await withStore(spec, async (store) => {
          assertEquals(await store.status!.get(ada.id!), revoked);
          // deleting the token removes its status, for every process
          assertEquals(await store.deleteToken(ada.id!), true);
        });
        assertEquals(await worker(spec, "get", ada.id!), null);
        assertEquals(await worker(spec, "list"), [
          { id: bob.id!, state: "ok", failures: 0 },
        ]);
      } finally {
        await target.cleanup?.(spec);
        await dropStatusTable(spec);
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

/** Drops a SQL spec's status table, `<table>_status`. */
async function dropStatusTable(spec: StoreSpec): Promise<void> {
  if (spec.kind !== "mysql" && spec.kind !== "postgres") return;
  const { MYSQL, POSTGRES } = await import("./fixtures/sql_server.ts");
  const server = spec.kind === "mysql" ? MYSQL : POSTGRES;
  await server.dropTables(`${spec.table}_status`);
}
