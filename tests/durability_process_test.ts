/**
 * Refresh durability across real processes and a real outage, against a
 * token server that rotates refresh tokens and revokes the whole family
 * when a used one comes back (RFC 9700 §4.14.2):
 *
 * - an endpoint slower than the lease, and a holder stopped (SIGSTOP) for
 *   3 s mid-request, never cause a takeover (rule 5);
 * - 20 sequential 401s in each of 2 processes: no refresh for a scope error,
 *   at most one forced refresh per `minRefreshIntervalMs` (rule 8);
 * - MySQL cut through a TCP proxy right after the endpoint issued a rotated
 *   refresh token, restored 1–6 s later: the token is served at once, saved
 *   once the database is back, and no lease row is left (rule 4).
 */

import { assert, assertEquals } from "@std/assert";
import { TokenClient } from "../core/token_client.ts";
import { MYSQL } from "./fixtures/sql_server.ts";
import {
  assertServedOnce,
  closeAll,
  harness,
  roundAll,
  USER,
  Worker,
} from "./fixtures/stampede_harness.ts";
import type { RoundResult } from "./fixtures/stampede_worker.ts";
import { STORE_TARGETS } from "./fixtures/store_specs.ts";
import {
  API_FAILURES,
  DEFAULT_CLIENT,
  seedToken,
  startTokenServer,
} from "./fixtures/token_server.ts";

const HOUR = 3_600_000;
const ROTATING = { rotateRefreshTokens: true, reuseDetection: true } as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForRequests(
  server: { requests: readonly unknown[] },
  count: number,
): Promise<void> {
  for (let i = 0; server.requests.length < count; i++) {
    assert(i < 1000, "the token endpoint was never asked");
    await sleep(5);
  }
}

for (const target of STORE_TARGETS) {
  Deno.test({
    name:
      `durability: an endpoint slower (2.5 s) than the lease (1 s) makes one refresh across 2 processes on the ${target.name} store, and the family survives`,
    ignore: !target.available,
    async fn() {
      await using h = await harness(
        target,
        "durability_slow_",
        2_500,
        ROTATING,
      );
      const config = h.config({ leaseTtlMs: 1_000, concurrency: 10 });
      const workers = [new Worker(config), new Worker(config)];
      try {
        for (const worker of workers) await worker.next();
        const results = await roundAll(workers, 1, 2 * HOUR);
        const hash = await h.storedHash();
        for (const result of results) {
          assertEquals(result.errors, []);
          assertEquals(result.tokenHashes, [hash]);
        }
        const stats = h.server.stats();
        assertEquals(stats.refreshToken, 1);
        assertEquals(h.server.presentedTwice(), 0);
        assertEquals(stats.familiesRevoked, 0);
        console.log(
          `[durability] ${target.name}: 2.5 s endpoint, 1 s lease, 2 processes x 10 callers: ${stats.refreshToken} token request, ${
            Math.max(...results.map((r) => r.ms))
          } ms, families revoked: 0`,
        );
      } finally {
        const codes = await closeAll(workers, h.secrets);
        assertEquals(codes, [0, 0]);
      }
    },
  });

  Deno.test({
    name:
      `durability: 20 sequential 401s in each of 2 processes on the ${target.name} store: none refreshes for a scope error, one for an invalid token`,
    ignore: !target.available,
    async fn() {
      await using h = await harness(
        target,
        "durability_401_",
        0,
        ROTATING,
      );
      const workers = [new Worker(h.config()), new Worker(h.config())];
      try {
        for (const worker of workers) await worker.next();
        await workers[0].round(1, 0); // the expired token is refreshed once
        await workers[0].next();
        await workers[1].round(1, 0);
        await workers[1].next();
        const counts: Record<string, number> = {};
        let round = 2;
        for (const failure of ["zohoScopeMismatch", "zohoInvalidToken"]) {
          h.server.setApiFailure(API_FAILURES[failure as "zohoScopeMismatch"]);
          const before = h.server.stats().refreshToken;
          const results = await roundAll(workers, round, 0, {
            op: "fetch",
            count: 20,
          });
          for (const result of results) {
            assertEquals(result.errors, []);
            assertEquals(result.statuses, Array(20).fill(401));
          }
          counts[failure] = h.server.stats().refreshToken - before;
          round++;
        }
        assertEquals(counts.zohoScopeMismatch, 0);
        assertEquals(counts.zohoInvalidToken, 1);
        assertEquals(h.server.stats().familiesRevoked, 0);
        const stored = await h.store.findToken({ userName: USER });
        h.secrets.add(stored!.accessToken!).add(stored!.refreshToken!);
        console.log(
          `[durability] ${target.name}: 2 processes x 20 sequential 401s: ${counts.zohoScopeMismatch} refreshes for OAUTH_SCOPE_MISMATCH, ${counts.zohoInvalidToken} for INVALID_TOKEN`,
        );
      } finally {
        const codes = await closeAll(workers, h.secrets);
        assertEquals(codes, [0, 0]);
      }
    },
  });
}

Deno.test({
  name:
    "durability: a token living 30 s (default 60 s skew) across 4 processes x 50 callers on the libSQL file store: 1 token request per expiry",
  async fn() {
    const target = STORE_TARGETS.find((t) => t.kind === "libsql")!;
    await using h = await harness(
      target,
      "durability_short_",
      50,
      {
        ...ROTATING,
        expiresInSec: 30,
      },
    );
    const workers = Array.from({ length: 4 }, () => new Worker(h.config()));
    try {
      for (const worker of workers) await worker.next();
      const counts: number[] = [];
      let previous: string | undefined;
      // every round is 16 s on: past half the 30 s lifetime, before expiry,
      // so the still-valid token is served and refreshed ahead
      for (let round = 0; round < 4; round++) {
        const before = h.server.stats().refreshToken;
        const results = await roundAll(workers, round, round * 16_000);
        const hash = await h.storedHash();
        for (const result of results) {
          assertEquals(result.errors, []);
          assertEquals(result.tokenHashes.length, 1);
          const served = result.tokenHashes[0];
          assert(served === hash || served === previous, `round ${round}`);
        }
        previous = hash;
        counts.push(h.server.stats().refreshToken - before);
      }
      assertEquals(counts, [1, 1, 1, 1]);
      assertEquals(h.server.presentedTwice(), 0);
      console.log(
        `[durability] libSQL file: 30 s tokens, 4 processes x 50 callers, token requests per expiry: ${
          counts.join(", ")
        }`,
      );
    } finally {
      const codes = await closeAll(workers, h.secrets);
      assertEquals(codes, [0, 0, 0, 0]);
    }
  },
});

for (const target of STORE_TARGETS) {
  Deno.test({
    name:
      `durability: a refresh holder stopped (SIGSTOP) for 3 s mid-request on the ${target.name} store is not taken over`,
    ignore: !target.available,
    async fn() {
      await using h = await harness(
        target,
        "durability_stop_",
        300,
        ROTATING,
      );
      const config = h.config({
        leaseTtlMs: 1_000,
        pollIntervalMs: 50,
        concurrency: 5,
      });
      const holder = new Worker(config);
      const waiter = new Worker(config);
      try {
        await holder.next();
        await waiter.next();
        await holder.round(1, 2 * HOUR);
        await waitForRequests(h.server, 1);
        holder.kill("SIGSTOP");
        const stopped = Date.now();
        await waiter.round(1, 2 * HOUR);
        await sleep(3_000);
        holder.kill("SIGCONT");
        const [held, waited] = await Promise.all([
          holder.next<RoundResult>(),
          waiter.next<RoundResult>(),
        ]);
        const hash = await h.storedHash();
        assertEquals(held.errors, []);
        assertEquals(waited.errors, []);
        assertEquals(held.tokenHashes, [hash]);
        assertEquals(waited.tokenHashes, [hash]);
        assertEquals(h.server.stats().refreshToken, 1);
        assertEquals(h.server.presentedTwice(), 0);
        assertEquals(h.server.stats().familiesRevoked, 0);
        console.log(
          `[durability] ${target.name}: holder stopped ${
            Date.now() - stopped
          } ms with a 1 s lease: ${h.server.stats().refreshToken} token request, families revoked: 0`,
        );
      } finally {
        const codes = await closeAll([holder, waiter], h.secrets);
        assertEquals(codes, [0, 0]);
      }
    },
  });
}

if (MYSQL.url !== undefined) {
  for (const outageMs of [1_000, 3_000, 6_000]) {
    Deno.test({
      name:
        `durability: MySQL cut for ${outageMs} ms right after the endpoint rotated the refresh token: served at once, saved after the outage, no lease row left`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: () =>
        MYSQL.withTable(async (table) => {
          await using server = await startTokenServer({
            ...ROTATING,
            latencyMs: 300,
          });
          const { store, proxy } = await MYSQL.openProxied(table, 3);
          try {
            const seeded = await seedToken(store, server, USER);
            const client = new TokenClient({
              store,
              clientId: DEFAULT_CLIENT.clientId,
              clientSecret: DEFAULT_CLIENT.clientSecret,
              tokenUrl: server.url,
              retry: { baseDelayMs: 100, maxDelayMs: 1_000 },
            });
            const failed: unknown[] = [];
            client.addEventListener("persistfailed", (e) => failed.push(e));
            const refreshing = client.getToken({ userName: USER });
            await waitForRequests(server, 1);
            await proxy.stop(); // the answer comes back to a store that is down
            const cut = Date.now();
            const token = await refreshing;
            const servedMs = Date.now() - cut;
            assert(server.isValid(token.refreshToken!));
            assertEquals(
              await client.getAccessToken({ userName: USER }),
              token.accessToken,
              "served from memory during the outage",
            );
            await sleep(Math.max(0, outageMs - (Date.now() - cut)));
            proxy.start();
            await client.flush();
            const savedMs = Date.now() - cut;
            assertEquals(failed, []);
            await MYSQL.withAdmin(async (admin) => {
              const rows = await MYSQL.select(
                admin,
                `SELECT refresh_token, access_token FROM \`${table}\` WHERE id = ?`,
                [seeded.id],
              );
              assertEquals(rows.length, 1);
              assertEquals(rows[0].refresh_token, token.refreshToken);
              assertEquals(rows[0].access_token, token.accessToken);
              const leases = await MYSQL.select(
                admin,
                `SELECT lock_key FROM \`${table}_lock\` WHERE lock_key LIKE 'refresh:%'`,
              );
              assertEquals(leases, [], "a lease row was left behind");
            });
            // Another client (another process) uses the saved token as is.
            await assertServedOnce(store, server, token.accessToken);
            console.log(
              `[durability] MySQL outage ${outageMs} ms after rotation: token served ${servedMs} ms into the outage, saved ${savedMs} ms after the cut, 1 token request, no lease row left`,
            );
          } finally {
            await store.close();
            await proxy.stop();
          }
        }),
    });
  }
}
