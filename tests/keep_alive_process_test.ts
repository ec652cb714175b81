/**
 * Health across processes (design "Health"), on every store processes
 * share (Deno KV file, libSQL file, JSON file, and MySQL / PostgreSQL when
 * `MYSQL_URL` / `POSTGRES_URL` are set): a status another process recorded
 * (ok, failing, revoked) is what this process's client reads, across
 * restarts of the store; a user revoked in another process and authorised
 * again here fires `"recovered"` here; and two processes running
 * `keepAlive` at once over 60 tokens, 5 of them revoked, send exactly 55
 * refresh requests, their reports adding up.
 */

import { assert, assertEquals } from "@std/assert";
import { fromFileUrl, join } from "@std/path";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStore } from "../core/token_store.ts";
import type { KeepAliveReport } from "../core/token_client.ts";
import { waitFor } from "./fixtures/cross_process_worker.ts";
import {
  openStoreSpec,
  STORE_TARGETS,
  type StoreSpec,
  type Target,
} from "./fixtures/store_specs.ts";
import {
  DEFAULT_CLIENT,
  startTokenServer,
  type TokenServer,
} from "./fixtures/token_server.ts";

const ROOT = fromFileUrl(new URL("..", import.meta.url));
const WORKER = fromFileUrl(
  new URL("./fixtures/health_worker.ts", import.meta.url),
);
const DAY = 86_400_000;

/** Starts the health worker; `output()` resolves what it printed. */
function spawn(spec: StoreSpec, server: TokenServer, ...args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WORKER, JSON.stringify(spec), server.url, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function printed(child: Deno.ChildProcess): Promise<unknown> {
  const { code, stdout, stderr } = await child.output();
  assertEquals(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** A client of the fixture on `store`. */
function clientOf(store: TokenStore, server: TokenServer): TokenClient {
  return new TokenClient({
    store,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: DEFAULT_CLIENT.clientSecret,
    redirectUrl: DEFAULT_CLIENT.redirectUrl,
    tokenUrl: server.url,
    retry: { maxAttempts: 1 },
  });
}

/** Runs `fn` on a fresh store of `target` in a temporary directory. */
async function withSpec(
  target: Target,
  fn: (spec: StoreSpec) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "health_process_" });
  const spec = target.spec(dir)!;
  try {
    await fn(spec);
  } finally {
    await target.cleanup?.(spec);
    await Deno.remove(dir, { recursive: true });
  }
}

for (const target of STORE_TARGETS) {
  Deno.test({
    name:
      `${target.storeName}: statuses another process recorded are read here, across restarts; a revoked user authorised again here recovers`,
    ignore: !target.available,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () =>
      withSpec(target, async (spec) => {
        await using server = await startTokenServer({
          mode: "zoho",
          refreshTokenExpiresInSec: 30 * 86_400,
        });
        const userName = "ada@example.com";
        let store = await openStoreSpec(spec);
        assert(
          store.status !== undefined,
          `${target.storeName} keeps statuses`,
        );
        const token = await store.saveToken(
          new OAuthToken({
            userName,
            clientId: DEFAULT_CLIENT.clientId,
            refreshToken: server.issueRefreshToken({ userName }),
          }),
        );
        const id = token.id!;
        await store.close?.(); // restart: reopened below

        const before = Date.now();
        assertEquals(await printed(spawn(spec, server, "refresh", id)), {
          ok: true,
        });
        store = await openStoreSpec(spec);
        try {
          const client = clientOf(store, server);
          const recovered: string[] = [];
          client.addEventListener(
            "recovered",
            (e) => recovered.push(e.detail.id),
          );
          const ok = await client.status({ id });
          assertEquals([ok?.state, ok?.failures], ["ok", 0]);
          assert(
            ok!.lastRefreshAt! >= before && ok!.lastRefreshAt! <= Date.now(),
          );
          assert(
            Math.abs(
              ok!.refreshTokenExpiresAt! - (ok!.lastRefreshAt! + 30 * DAY),
            ) <
              5_000,
          );

          // failures another process meets, while this one has the store open
          for (const failures of [1, 2]) {
            server.setFailures([{ status: 503 }]);
            assertEquals(await printed(spawn(spec, server, "refresh", id)), {
              ok: false,
              error: "OAuthError:server_error",
            });
            const failing = await client.status({ id });
            assertEquals(
              [failing?.state, failing?.failures, failing?.lastError],
              ["failing", failures, "server_error"],
            );
            assertEquals(failing?.lastRefreshAt, ok!.lastRefreshAt);
          }
          // revoked at the server: another process finds out
          const response = await fetch(server.revokeUrl, {
            method: "POST",
            body: new URLSearchParams({ token: token.refreshToken! }),
          });
          await response.body?.cancel();
          assertEquals(await printed(spawn(spec, server, "refresh", id)), {
            ok: false,
            error: "TokenRevokedError:invalid_code",
          });
          const revoked = await client.status({ id });
          assertEquals(
            [revoked?.state, revoked?.failures, revoked?.lastError],
            ["revoked", 3, "invalid_code"],
          );
          assertEquals(
            (await client.statuses()).map((s) => [s.id, s.state]),
            [[id, "revoked"]],
          );

          // the user authorises again, here: recovered, here
          const code = server.issueGrantCode({ userName });
          const again = await client.exchangeGrantToken(code, { userName });
          assertEquals(again.id, id);
          await client.flush();
          assertEquals(recovered, [id]);
        } finally {
          await store.close?.();
        }
        // and after another restart, in another process's view too
        store = await openStoreSpec(spec);
        try {
          const status = await store.status!.get(id);
          assertEquals([status?.state, status?.failures], ["ok", 0]);
        } finally {
          await store.close?.();
        }
      }),
  });
}

for (const target of STORE_TARGETS) {
  Deno.test({
    name:
      `${target.storeName}: two processes running keepAlive at once over 60 tokens (5 revoked) send exactly 55 refreshes`,
    ignore: !target.available,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () =>
      withSpec(target, async (spec) => {
        await using server = await startTokenServer({ latencyMs: 10 });
        const store = await openStoreSpec(spec);
        const now = Date.now();
        try {
          assert(
            store.status !== undefined,
            `${target.storeName} keeps statuses`,
          );
          for (let i = 0; i < 60; i++) {
            const userName = `u${i}@example.com`;
            const { id } = await store.saveToken(
              new OAuthToken({
                userName,
                clientId: DEFAULT_CLIENT.clientId,
                refreshToken: server.issueRefreshToken({ userName }),
              }),
            );
            if (i < 5) {
              await store.status.put({
                id: id!,
                state: "revoked",
                failures: 1,
                lastRefreshAt: now - 9 * DAY,
              });
            } else if (i % 2 === 0) {
              await store.status.put({
                id: id!,
                state: "ok",
                failures: 0,
                lastRefreshAt: now - 2 * DAY,
              });
            }
          }
        } finally {
          await store.close?.();
        }
        const dir = join(
          await Deno.makeTempDir({ prefix: "health_keep_alive_" }),
        );
        try {
          const children = [0, 1].map((worker) =>
            spawn(
              spec,
              server,
              "keep-alive",
              JSON.stringify({ concurrency: 4 }),
              dir,
              String(worker),
            )
          );
          await waitFor(
            [join(dir, "ready-0"), join(dir, "ready-1")],
            Date.now() + 60_000,
          );
          await Deno.writeTextFile(join(dir, "go"), "");
          const reports = await Promise.all(
            children.map(printed),
          ) as KeepAliveReport[];
          const sum = (key: keyof KeepAliveReport) =>
            reports.reduce((n, r) => n + r[key], 0);
          assertEquals(
            server.stats().refreshToken,
            55,
            JSON.stringify(reports),
          );
          assertEquals(server.presentedTwice(), 0);
          assertEquals(reports.map((r) => r.checked), [60, 60]);
          assertEquals(
            [sum("refreshed"), sum("failed"), sum("revoked")],
            [55, 0, 0],
            JSON.stringify(reports),
          );
          assertEquals(sum("skipped"), 2 * 60 - 55);
          console.log(
            `${target.name}: keepAlive reports ${JSON.stringify(reports)}`,
          );
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
        const reopened = await openStoreSpec(spec);
        try {
          const states = (await reopened.status!.list()).map((s) => s.state);
          assertEquals(states.filter((s) => s === "ok").length, 55);
          assertEquals(states.filter((s) => s === "revoked").length, 5);
        } finally {
          await reopened.close?.();
        }
      }),
  });
}
