/**
 * The MySQL and PostgreSQL stores when their server becomes unreachable
 * mid-run. The real servers keep running for every other test: a fault
 * proxy on 127.0.0.1 stands between the store and the server and kills
 * every connection, closes its port (connections refused) and reopens it on
 * the same port, or (MySQL) cuts one connection at a chosen statement. The
 * store's URL carries a password (MySQL: a throw-away user's), so that the
 * tests can check it never shows.
 */

import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
} from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { FaultProxy, mysqlQuery } from "./fixtures/fault_proxy.ts";
import {
  assertSecretFree,
  renderError,
  secretsOf,
} from "./fixtures/secret_scan.ts";
import {
  MYSQL,
  POSTGRES,
  type SqlServer,
  type SqlStore,
} from "./fixtures/sql_server.ts";

// postgres.js 3.4 (through Deno's node:net) may reject a promise of its own
// that nobody can await when a cut socket ends (1 run in ~50 here): a driver
// bug outside the store. Only that rejection is kept from ending the run.
globalThis.addEventListener("unhandledrejection", (event) => {
  if (/socket has been ended by the other party/.test(String(event.reason))) {
    event.preventDefault();
  }
});

/** A random suffix, so that no two runs share a value. */
const rand = () => crypto.randomUUID().replaceAll("-", "").slice(0, 16);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A store reached through a fault proxy, with a password in its URL. */
interface Proxied {
  store: SqlStore;
  table: string;
  proxy: FaultProxy;
  url: string;
  password: string;
}

/** How each server's store is reached and cut off. */
interface Outage {
  server: SqlServer<unknown>;
  /** Prefix of the secret values, by server. */
  label: string;
  /** Runs `fn` with a store on `table` through a proxy; removes it all afterwards. */
  withProxiedStore(
    table: string,
    fn: (proxied: Proxied) => Promise<void>,
  ): Promise<void>;
  /** Cuts the server off under a burst of calls that starts right after. */
  cut(proxy: FaultProxy): Promise<void>;
  /** Whether the cut surely fails some call of the burst. */
  failsSome: boolean;
}

const OUTAGES: Outage[] = [
  {
    server: MYSQL as unknown as SqlServer<unknown>,
    label: "mysql",
    // a throw-away user with a password
    async withProxiedStore(table, fn) {
      const parts = MYSQL.urlParts();
      const user = `tsf_${rand().slice(0, 10)}`;
      const password = `mysql-fault-password-${rand()}`;
      await MYSQL.withAdmin(async (admin) => {
        await admin.query("CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?", [
          user,
          password,
        ]);
        await admin.query(
          `GRANT ALL PRIVILEGES ON \`${parts.database}\`.* TO ?@'127.0.0.1'`,
          [user],
        );
      });
      try {
        await proxied(MYSQL, table, { user, password }, fn);
      } finally {
        await MYSQL.withAdmin((admin) =>
          admin.query("DROP USER IF EXISTS ?@'127.0.0.1'", [user])
        );
      }
    },
    // the proxy closes its port and kills every connection when the 12th
    // client packet arrives
    cut(proxy) {
      let chunks = 0;
      return proxy.armOn(() => ++chunks === 12, { action: "all" });
    },
    failsSome: true,
  },
  {
    server: POSTGRES as unknown as SqlServer<unknown>,
    label: "pg",
    withProxiedStore: (table, fn) =>
      proxied(POSTGRES, table, { password: `pg-fault-password-${rand()}` }, fn),
    // the proxy is cut 2 ms into the burst
    async cut(proxy) {
      await sleep(2);
      await proxy.stop();
    },
    failsSome: false,
  },
];

/** Runs `fn` with `server`'s store on `table` through a fault proxy, logged in as `login`. */
async function proxied<A>(
  server: SqlServer<A>,
  table: string,
  login: { user?: string; password: string },
  fn: (proxied: Proxied) => Promise<void>,
): Promise<void> {
  const proxy = new FaultProxy(server.urlParts().port);
  let store: SqlStore | undefined;
  try {
    proxy.start();
    const url = server.proxyUrl(proxy.port, login);
    store = await server.open({ url, table, connectionLimit: 4 });
    await fn({ store, table, proxy, url, password: login.password });
  } finally {
    if (!proxy.listening) proxy.start();
    await store?.close().catch(() => {});
    await proxy.stop();
  }
}

const test = (
  server: SqlServer<unknown>,
  name: string,
  fn: () => Promise<void>,
) =>
  Deno.test({
    name,
    ignore: server.url === undefined,
    fn,
    sanitizeOps: false,
    sanitizeResources: false,
  });

/** A token of `user` whose secrets are new, marked with `label`. */
function newToken(label: string, user: string): OAuthToken {
  return new OAuthToken({
    userName: `${user}@example.com`,
    clientId: "1000.FAULTCLIENT",
    clientSecret: `${label}-fault-client-secret-${rand()}`,
    refreshToken: `1000.${label}-fault-refresh-${rand()}`,
    accessToken: `1000.${label}-fault-access-${rand()}`,
    expiresAt: 1_800_000_000_000,
  });
}

/** Rows of `table`, read directly from the server (not through the proxy). */
function rowsOf(
  server: SqlServer<unknown>,
  table: string,
): Promise<Record<string, unknown>[]> {
  return server.query(
    `SELECT id, user_name, client_secret, refresh_token, access_token, expiry_time ` +
      `FROM ${server.quote(table)} ORDER BY user_name`,
  );
}

for (const outage of OUTAGES) {
  const { server, label } = outage;
  const tok = (user: string) => newToken(label, user);
  const rows = (table: string) => rowsOf(server, table);

  test(
    server,
    `${server.name} unreachable mid-run: BACKEND without the password, stored tokens intact, the next call after recovery succeeds`,
    () =>
      server.withTable((table) =>
        outage.withProxiedStore(
          table,
          async ({ store, proxy, url, password }) => {
            const seeded: OAuthToken[] = [];
            for (const name of ["ada", "bob", "cyd"]) {
              seeded.push(await store.saveToken(tok(name)));
            }
            const secrets = [password, ...seeded.flatMap(secretsOf)];
            const port = proxy.port;

            // mid-run: a burst of reads and writes, and the server is cut
            // off under it
            const cut = outage.cut(proxy);
            const attempted = new Set<string>();
            const burst = await Promise.allSettled(
              Array.from({ length: 36 }, (_, i) => {
                if (i % 3 !== 0) {
                  return store.findToken({ userName: seeded[i % 3].userName });
                }
                const refreshToken = `1000.${label}-fault-burst-${i}-${rand()}`;
                attempted.add(refreshToken);
                secrets.push(refreshToken);
                return store.saveToken(seeded[0].with({ refreshToken }));
              }),
            );
            await cut;
            assert(!proxy.listening);
            let failed = 0;
            for (const [i, result] of burst.entries()) {
              if (result.status === "fulfilled") {
                if (i % 3 !== 0) {
                  assertEquals(
                    result.value?.toRecord(),
                    seeded[i % 3].toRecord(),
                  );
                }
                continue;
              }
              failed++;
              assertInstanceOf(result.reason, TokenStoreError);
              assertEquals(result.reason.code, "BACKEND");
              assertSecretFree(
                renderError(result.reason),
                secrets,
                `call ${i}`,
              );
            }
            if (outage.failsSome) {
              assert(failed > 0, "cutting the server failed no call");
            }

            // one row per user; bob and cyd untouched; ada holds her token
            // or one of the values written before the cut, under her id
            const afterCut = await rows(table);
            assertEquals(
              afterCut.map((row) => row.id),
              seeded.map((t) => t.id),
            );
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
                [
                  token.clientSecret,
                  token.accessToken,
                  String(token.expiresAt),
                ],
              );
            }

            // while it is down, every call fails quickly with BACKEND
            const calls: [string, () => Promise<unknown>][] = [
              ["findToken", () =>
                store.findToken({ userName: "bob@example.com" })],
              ["findTokenById", () =>
                store.findTokenById(seeded[1].id!)],
              ["getTokens", () => store.getTokens()],
              ["saveToken (update)", () => store.saveToken(seeded[1])],
              ["saveToken (insert)", () => store.saveToken(tok("dee"))],
              ["deleteToken", () => store.deleteToken(seeded[2].id!)],
              ["deleteTokens", () => store.deleteTokens()],
              ["lock.acquire", () =>
                store.lock.acquire("refresh:x", { ttlMs: 1000 })],
              [
                `${server.storeName}.open`,
                () =>
                  server.open({ url, table }),
              ],
            ];
            for (const [name, call] of calls) {
              const started = Date.now();
              const error = await assertRejects(call, TokenStoreError);
              assertEquals(error.code, "BACKEND", name);
              assert(error.message.includes(server.name), error.message);
              assertSecretFree(renderError(error), secrets, name);
              assert(Date.now() - started < 5000, `${name} took too long`);
            }
            assertEquals(await rows(table), afterCut);
            console.log(`${failed} of 36 calls in flight failed at the cut`);

            // the server is back on the same address: the store reconnects
            proxy.start();
            assertEquals(proxy.port, port);
            const started = Date.now();
            assertEquals(
              (await store.findToken({ userName: "bob@example.com" }))
                ?.toRecord(),
              seeded[1].toRecord(),
            );
            assert(Date.now() - started < 2000, "reconnecting took too long");
            const refreshToken = `1000.${label}-fault-after-${rand()}`;
            const updated = await store.saveToken(
              seeded[0].with({ refreshToken }),
            );
            assertEquals(updated.id, seeded[0].id);
            assertEquals((await store.getTokens()).length, 3);
            assertEquals((await rows(table))[0].refresh_token, refreshToken);
            const lease = await store.lock.acquire("refresh:x", {
              ttlMs: 1000,
            });
            assert(lease !== null);
            await lease.release();
          },
        )
      ),
  );
}

const [mysql] = OUTAGES;

/** The MySQL table holds one row: `id`, with `refreshToken`. */
async function assertOnlyRow(
  table: string,
  id: string,
  refreshToken: string,
): Promise<void> {
  const after = await rowsOf(mysql.server, table);
  assertEquals(after.length, 1);
  assertEquals([after[0].id, after[0].refresh_token], [id, refreshToken]);
}

/** Whether an armed fault has fired yet. */
function armed(fault: Promise<void>): () => boolean {
  let fired = false;
  fault.then(() => fired = true);
  return () => fired;
}
const withMysqlStore = (fn: (proxied: Proxied) => Promise<void>) =>
  MYSQL.withTable((table) => mysql.withProxiedStore(table, fn));

test(
  mysql.server,
  "a connection killed inside a save's transaction is retried on a new connection: the save succeeds, one row",
  () =>
    withMysqlStore(async ({ store, table, proxy }) => {
      const seeded = await store.saveToken(newToken("mysql", "ada"));
      const accepted = proxy.accepted;
      const fired = armed(proxy.armOn(mysqlQuery("START TRANSACTION")));
      const refreshToken = `1000.mysql-fault-retried-${rand()}`;
      const saved = await store.saveToken(seeded.with({ refreshToken }));
      assert(fired(), "the fault did not fire");
      assert(proxy.accepted > accepted, "no new connection was opened");
      assertEquals(saved.id, seeded.id);
      await assertOnlyRow(table, seeded.id!, refreshToken);
    }),
);

test(
  mysql.server,
  "a COMMIT whose answer is lost is BACKEND and not run again; the committed row is the only one",
  () =>
    withMysqlStore(async ({ store, table, proxy, password }) => {
      const seeded = await store.saveToken(newToken("mysql", "ada"));
      const refreshToken = `1000.mysql-fault-commit-${rand()}`;
      const fired = armed(
        proxy.armOn(mysqlQuery("COMMIT"), { when: "after-response" }),
      );
      const accepted = proxy.accepted;
      const error = await assertRejects(
        () => store.saveToken(seeded.with({ refreshToken })),
        TokenStoreError,
      );
      assert(fired(), "the fault did not fire");
      assertEquals(error.code, "BACKEND");
      assertSecretFree(
        renderError(error),
        [password, refreshToken, ...secretsOf(seeded)],
        "the lost COMMIT's error",
      );
      // its outcome was unknown to the store: it did not run it again
      assertEquals(proxy.accepted, accepted);
      // the server did commit: one row, the new value, the same id
      await assertOnlyRow(table, seeded.id!, refreshToken);
      // the next call opens a new connection and succeeds
      assertEquals(
        (await store.findTokenById(seeded.id!))?.refreshToken,
        refreshToken,
      );
      assert(proxy.accepted > accepted);
    }),
);
