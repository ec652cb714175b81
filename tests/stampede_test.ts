/**
 * Cross-process stampede tests: several `deno` processes share one store with
 * a lock and ask for the same expired token at once; the token endpoint (the
 * fixture server) must see exactly one refresh per expiry, also on a server
 * that rotates refresh tokens and revokes the family when a used one comes
 * back. Also: a refresh holder killed mid-refresh is taken over once its
 * lease (extended past its request's timeout) expires.
 *
 * Every store shared across processes runs these: Deno KV file, libSQL file,
 * JSON file, MySQL and PostgreSQL (when `MYSQL_URL` / `POSTGRES_URL` are
 * set).
 */

import { assert, assertEquals } from "@std/assert";
import {
  closeAll,
  CONCURRENCY,
  harness,
  roundAll,
  USER,
  Worker,
} from "./fixtures/stampede_harness.ts";
import { STORE_TARGETS } from "./fixtures/store_specs.ts";

const WORKERS = 4;
const ROUNDS = 3;
const HOUR = 3_600_000;

for (const target of STORE_TARGETS) {
  if (!target.available) {
    console.log(
      `Notice: the ${target.name} server's URL is unset, its stampede tests are skipped`,
    );
  }

  for (const rotating of [false, true]) {
    const server = rotating
      ? " on a server that rotates refresh tokens and revokes the family on reuse"
      : "";
    Deno.test({
      name:
        `stampede: ${WORKERS} processes x ${CONCURRENCY} callers on the ${target.name} store make exactly 1 token request per expiry${server}`,
      ignore: !target.available,
      async fn() {
        await using h = await harness(
          target,
          "stampede_",
          100,
          rotating ? { rotateRefreshTokens: true, reuseDetection: true } : {},
        );
        const workers = Array.from(
          { length: WORKERS },
          () => new Worker(h.config()),
        );
        try {
          for (const worker of workers) await worker.next();
          const counts: number[] = [];
          for (let round = 1; round <= ROUNDS; round++) {
            const before = h.server.stats().refreshToken;
            // Each round moves every process's clock 2 h on: the token issued
            // in the round before (valid 1 h) has expired for all of them.
            const results = await roundAll(workers, round, round * 2 * HOUR);
            const count = h.server.stats().refreshToken - before;
            counts.push(count);
            const hash = await h.storedHash();
            for (const result of results) {
              assertEquals(result.errors, []);
              assertEquals(result.tokenHashes, [hash]);
            }
            assertEquals(count, 1, `round ${round}: ${count} token requests`);
          }
          const stored = await h.store.findToken({ userName: USER });
          h.secrets.add(stored!.refreshToken!);
          assert(
            h.server.isValid(stored!.refreshToken!),
            "the stored refresh token is the live one",
          );
          // Without rotation every round presents the same refresh token.
          if (rotating) assertEquals(h.server.presentedTwice(), 0);
          assertEquals(h.server.stats().familiesRevoked, 0);
          console.log(
            `[stampede] ${target.name}${
              rotating ? " (rotating, reuse detection)" : ""
            }: ${WORKERS} processes x ${CONCURRENCY} callers, token requests per expiry over ${ROUNDS} rounds: ${
              counts.join(", ")
            }; refresh tokens presented twice: ${h.server.presentedTwice()}`,
          );
          assertEquals(h.server.stats().issued, ROUNDS);
        } finally {
          const codes = await closeAll(workers, h.secrets);
          assertEquals(codes, workers.map(() => 0));
        }
      },
    });
  }

  Deno.test({
    name:
      `stampede: a refresh holder killed mid-refresh on the ${target.name} store is taken over after its lease expires`,
    ignore: !target.available,
    async fn() {
      const leaseTtlMs = 1500;
      const requestTimeoutMs = 1000;
      // Before sending, the holder extends its lease past the request's
      // timeout plus a margin (min(leaseTtlMs, 5 s)).
      const coveredMs = requestTimeoutMs + Math.min(leaseTtlMs, 5_000);
      // The holder's refresh hangs at the server until it is killed.
      await using h = await harness(target, "stampede_kill_", 30_000);
      const config = h.config({
        leaseTtlMs,
        requestTimeoutMs,
        pollIntervalMs: 50,
      });
      const holder = new Worker({ ...config, concurrency: 5 });
      const waiters = Array.from(
        { length: WORKERS - 1 },
        () => new Worker(config),
      );
      try {
        for (const worker of [holder, ...waiters]) await worker.next();
        // The holder extends its lease after this moment, so the lease cannot
        // expire before `asked + coveredMs`.
        const asked = Date.now();
        await holder.round(1, 0);
        for (let i = 0; h.server.requests.length === 0; i++) {
          assert(i < 1000, "the holder never asked the token endpoint");
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        holder.kill();
        assertEquals(await holder.close(), 137);
        h.server.setLatency(0);
        const results = await roundAll(waiters, 1, 0);
        const hash = await h.storedHash();
        for (const result of results) {
          assertEquals(result.errors, []);
          assertEquals(result.tokenHashes, [hash]);
        }
        const [killed, takeover, ...more] = h.server.requests;
        assertEquals(more, [], "more than one takeover refresh");
        assertEquals(takeover.outcome, "issued");
        const gap = takeover.at - killed.at;
        const sinceAsked = takeover.at - asked;
        assert(
          sinceAsked >= coveredMs - 20,
          `the takeover came ${sinceAsked} ms after the holder was started, before its ${coveredMs} ms lease expired`,
        );
        // The killed holder's request still waits at the server: nothing was
        // issued to it, only to the takeover.
        assertEquals(killed.outcome, "pending");
        assertEquals(h.server.stats().issued, 1);
        console.log(
          `[stampede] ${target.name}: holder killed; token requests: ${h.server.stats().refreshToken} (1 killed + 1 takeover), takeover ${gap} ms after the killed request (lease ${leaseTtlMs} ms, extended to ${coveredMs} ms for a ${requestTimeoutMs} ms request)`,
        );
      } finally {
        const codes = await closeAll(waiters, h.secrets);
        assertEquals(codes, waiters.map(() => 0));
      }
    },
  });
}
