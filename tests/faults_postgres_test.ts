/**
 * The PostgreSQL store when the server becomes unreachable mid-run. The real
 * server keeps running for every other test: a TCP proxy on 127.0.0.1
 * stands between the store and PostgreSQL, is cut (every connection closed,
 * new ones refused) and restored on the same port. The store's URL carries
 * a password, so that the tests can check it never shows.
 */

import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
} from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { PostgresTokenStore } from "../stores/postgres.ts";
import {
  notice,
  POSTGRES_URL,
  select,
  urlParts,
  withAdmin,
  withTable,
} from "./fixtures/postgres_helpers.ts";
import {
  assertSecretFree,
  renderError,
  secretsOf,
} from "./fixtures/secret_scan.ts";
import { TcpProxy } from "./fixtures/tcp_proxy.ts";

// postgres.js 3.4 (through Deno's node:net) may reject a promise of its own
// that nobody can await when a cut socket ends (1 run in ~50 here): a driver
// bug outside the store. Only that rejection is kept from ending the run.
globalThis.addEventListener("unhandledrejection", (event) => {
  if (/socket has been ended by the other party/.test(String(event.reason))) {
    event.preventDefault();
  }
});

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

/** A random suffix, so that no two runs share a value. */
const rand = () => crypto.randomUUID().replaceAll("-", "").slice(0, 16);

function tok(user: string): OAuthToken {
  return new OAuthToken({
    userName: `${user}@example.com`,
    clientId: "1000.FAULTCLIENT",
    clientSecret: `pg-fault-client-secret-${rand()}`,
    refreshToken: `1000.pg-fault-refresh-${rand()}`,
    accessToken: `1000.pg-fault-access-${rand()}`,
    expiresAt: 1_800_000_000_000,
  });
}

if (POSTGRES_URL === undefined) {
  notice("tests/faults_postgres_test.ts");
} else {
  const parts = urlParts(POSTGRES_URL);

  /** Rows of `table`, read directly from PostgreSQL (not through the proxy). */
  const rows = (table: string) =>
    withAdmin((sql) =>
      select(
        sql,
        `SELECT id, user_name, client_secret, refresh_token, access_token, expiry_time ` +
          `FROM "${table}" ORDER BY user_name`,
      )
    );

  test("PostgreSQL unreachable mid-run: BACKEND without the password, stored tokens intact, the next call after recovery succeeds", () =>
    withTable(async (table) => {
      const password = `pg-fault-password-${rand()}`;
      const proxy = new TcpProxy(parts.port);
      proxy.start();
      const port = proxy.port;
      const url =
        `postgres://${parts.user}:${password}@127.0.0.1:${port}/${parts.database}`;
      const store = await PostgresTokenStore.open({
        url,
        table,
        connectionLimit: 4,
      });
      try {
        const seeded: OAuthToken[] = [];
        for (const name of ["ada", "bob", "cyd"]) {
          seeded.push(await store.saveToken(tok(name)));
        }
        const secrets = [password, ...seeded.flatMap(secretsOf)];

        // mid-run: a burst of reads and writes, and the proxy is cut under it
        const attempted = new Set<string>();
        const burst = Promise.allSettled(
          Array.from({ length: 36 }, (_, i) => {
            if (i % 3 !== 0) {
              return store.findToken({ userName: seeded[i % 3].userName });
            }
            const refreshToken = `1000.pg-fault-burst-${i}-${rand()}`;
            attempted.add(refreshToken);
            secrets.push(refreshToken);
            return store.saveToken(seeded[0].with({ refreshToken }));
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 2));
        await proxy.stop();
        let failed = 0;
        for (const [i, result] of (await burst).entries()) {
          if (result.status === "fulfilled") {
            if (i % 3 !== 0) {
              assertEquals(result.value?.toRecord(), seeded[i % 3].toRecord());
            }
            continue;
          }
          failed++;
          assertInstanceOf(result.reason, TokenStoreError);
          assertEquals(result.reason.code, "BACKEND");
          assertSecretFree(renderError(result.reason), secrets, `call ${i}`);
        }

        // one row per user; bob and cyd untouched; ada holds her token or
        // one of the values written before the cut, under her id
        const afterCut = await rows(table);
        assertEquals(afterCut.map((row) => row.id), seeded.map((t) => t.id));
        for (const [i, token] of seeded.entries()) {
          const row = afterCut[i];
          if (i === 0) {
            assert(
              row.refresh_token === token.refreshToken ||
                attempted.has(String(row.refresh_token)),
            );
          } else {
            assertEquals(row.refresh_token, token.refreshToken);
          }
          assertEquals(
            [row.client_secret, row.access_token, row.expiry_time],
            [token.clientSecret, token.accessToken, String(token.expiresAt)],
          );
        }

        // while it is down, every call fails quickly with BACKEND
        const calls: [string, () => Promise<unknown>][] = [
          ["findToken", () => store.findToken({ userName: "bob@example.com" })],
          ["findTokenById", () => store.findTokenById(seeded[1].id!)],
          ["getTokens", () => store.getTokens()],
          ["saveToken (update)", () => store.saveToken(seeded[1])],
          ["saveToken (insert)", () => store.saveToken(tok("dee"))],
          ["deleteToken", () => store.deleteToken(seeded[2].id!)],
          ["deleteTokens", () => store.deleteTokens()],
          [
            "lock.acquire",
            () => store.lock.acquire("refresh:x", { ttlMs: 1000 }),
          ],
          [
            "PostgresTokenStore.open",
            () => PostgresTokenStore.open({ url, table }),
          ],
        ];
        for (const [name, call] of calls) {
          const started = Date.now();
          const error = await assertRejects(call, TokenStoreError);
          assertEquals(error.code, "BACKEND", name);
          assert(error.message.includes("PostgreSQL"), error.message);
          assertSecretFree(renderError(error), secrets, name);
          assert(Date.now() - started < 5000, `${name} took too long`);
        }
        assertEquals(await rows(table), afterCut);
        console.log(`${failed} of 36 calls in flight failed at the cut`);

        // the server is back on the same address: the client reconnects
        proxy.start();
        assertEquals(proxy.port, port);
        const started = Date.now();
        assertEquals(
          (await store.findToken({ userName: "bob@example.com" }))?.toRecord(),
          seeded[1].toRecord(),
        );
        assert(Date.now() - started < 2000, "reconnecting took too long");
        const refreshToken = `1000.pg-fault-after-${rand()}`;
        const updated = await store.saveToken(seeded[0].with({ refreshToken }));
        assertEquals(updated.id, seeded[0].id);
        assertEquals((await store.getTokens()).length, 3);
        assertEquals((await rows(table))[0].refresh_token, refreshToken);
        const lease = await store.lock.acquire("refresh:x", { ttlMs: 1000 });
        assert(lease !== null);
        await lease.release();
      } finally {
        await store.close().catch(() => {});
        await proxy.stop();
      }
    }));
}
