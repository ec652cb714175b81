/**
 * The MySQL store when MariaDB becomes unreachable mid-run. The real server
 * keeps running for every other test: a fault proxy on 127.0.0.1 stands
 * between the store and MariaDB and kills every connection, closes its port
 * (connections refused) and reopens it on the same port, or cuts one
 * connection at a chosen statement. The store logs in as a throw-away user
 * with a password, so that the tests can check the password never shows.
 */

import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
} from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { MysqlTokenStore } from "../stores/mysql.ts";
import { FaultProxy, mysqlQuery } from "./fixtures/fault_proxy.ts";
import {
  MYSQL_URL,
  notice,
  select,
  urlParts,
  withAdmin,
  withTable,
} from "./fixtures/mysql_helpers.ts";
import {
  assertSecretFree,
  renderError,
  secretsOf,
} from "./fixtures/secret_scan.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

/** A random suffix, so that no two runs share a value. */
const rand = () => crypto.randomUUID().replaceAll("-", "").slice(0, 16);

function tok(user: string): OAuthToken {
  return new OAuthToken({
    userName: `${user}@example.com`,
    clientId: "1000.FAULTCLIENT",
    clientSecret: `mysql-fault-client-secret-${rand()}`,
    refreshToken: `1000.mysql-fault-refresh-${rand()}`,
    accessToken: `1000.mysql-fault-access-${rand()}`,
    expiresAt: 1_800_000_000_000,
  });
}

if (MYSQL_URL === undefined) {
  notice("tests/faults_mysql_test.ts");
} else {
  const parts = urlParts(MYSQL_URL);

  /** Rows of `table`, read directly from MariaDB (not through the proxy). */
  const rows = (table: string) =>
    withAdmin((admin) =>
      select(
        admin,
        `SELECT id, user_name, client_secret, refresh_token, access_token, expiry_time ` +
          `FROM \`${table}\` ORDER BY user_name`,
      )
    );

  /**
   * A store on `table` reached through a fault proxy, logged in as a
   * throw-away user with a password; everything is removed afterwards.
   */
  const withProxiedStore = async (
    table: string,
    fn: (
      context: {
        store: MysqlTokenStore;
        proxy: FaultProxy;
        url: string;
        password: string;
      },
    ) => Promise<void>,
  ): Promise<void> => {
    const user = `tsf_${rand().slice(0, 10)}`;
    const password = `mysql-fault-password-${rand()}`;
    await withAdmin(async (admin) => {
      await admin.query("CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?", [
        user,
        password,
      ]);
      await admin.query(
        `GRANT ALL PRIVILEGES ON \`${parts.database}\`.* TO ?@'127.0.0.1'`,
        [user],
      );
    });
    const proxy = new FaultProxy(parts.port);
    let store: MysqlTokenStore | undefined;
    try {
      proxy.start();
      const url = `mysql://${user}:${
        encodeURIComponent(password)
      }@127.0.0.1:${proxy.port}/${parts.database}`;
      store = await MysqlTokenStore.open({ url, table, connectionLimit: 4 });
      await fn({ store, proxy, url, password });
    } finally {
      if (!proxy.listening) proxy.start();
      await store?.close().catch(() => {});
      await proxy.stop();
      await withAdmin((admin) =>
        admin.query("DROP USER IF EXISTS ?@'127.0.0.1'", [user])
      );
    }
  };

  test("MariaDB unreachable mid-run: BACKEND without the password, stored tokens intact, the next call after recovery succeeds", () =>
    withTable((table) =>
      withProxiedStore(table, async ({ store, proxy, url, password }) => {
        const seeded: OAuthToken[] = [];
        for (const name of ["ada", "bob", "cyd"]) {
          seeded.push(await store.saveToken(tok(name)));
        }
        const secrets = [password, ...seeded.flatMap(secretsOf)];
        const port = proxy.port;

        // mid-run: a burst of reads and writes; the proxy closes its port
        // and kills every connection when the 12th client packet arrives
        let chunks = 0;
        const cut = proxy.armOn(() => ++chunks === 12, { action: "all" });
        const attempted = new Set<string>();
        const burst = await Promise.allSettled(
          Array.from({ length: 36 }, (_, i) => {
            if (i % 3 !== 0) {
              return store.findToken({ userName: seeded[i % 3].userName });
            }
            const refreshToken = `1000.mysql-fault-burst-${i}-${rand()}`;
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
              assertEquals(result.value?.toRecord(), seeded[i % 3].toRecord());
            }
            continue;
          }
          failed++;
          assertInstanceOf(result.reason, TokenStoreError);
          assertEquals(result.reason.code, "BACKEND");
          assertSecretFree(renderError(result.reason), secrets, `call ${i}`);
        }
        assert(failed > 0, "cutting the server failed no call");

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
          ["lock.acquire", () =>
            store.lock.acquire("refresh:x", {
              ttlMs: 1000,
            })],
          ["MysqlTokenStore.open", () => MysqlTokenStore.open({ url, table })],
        ];
        for (const [name, call] of calls) {
          const started = Date.now();
          const error = await assertRejects(call, TokenStoreError);
          assertEquals(error.code, "BACKEND", name);
          assert(error.message.includes("MySQL"), error.message);
          assertSecretFree(renderError(error), secrets, name);
          assert(Date.now() - started < 5000, `${name} took too long`);
        }
        assertEquals(await rows(table), afterCut);

        // the server is back on the same address: the pool reconnects
        proxy.start();
        assertEquals(proxy.port, port);
        assertEquals(
          (await store.findToken({ userName: "bob@example.com" }))?.toRecord(),
          seeded[1].toRecord(),
        );
        const refreshToken = `1000.mysql-fault-after-${rand()}`;
        const updated = await store.saveToken(
          seeded[0].with({ refreshToken }),
        );
        assertEquals(updated.id, seeded[0].id);
        assertEquals((await store.getTokens()).length, 3);
        assertEquals((await rows(table))[0].refresh_token, refreshToken);
      })
    ));

  test("a connection killed inside a save's transaction is retried on a new connection: the save succeeds, one row", () =>
    withTable((table) =>
      withProxiedStore(table, async ({ store, proxy }) => {
        const seeded = await store.saveToken(tok("ada"));
        const accepted = proxy.accepted;
        let fired = false;
        proxy.armOn(mysqlQuery("START TRANSACTION")).then(() => fired = true);
        const refreshToken = `1000.mysql-fault-retried-${rand()}`;
        const saved = await store.saveToken(seeded.with({ refreshToken }));
        assert(fired, "the fault did not fire");
        assert(proxy.accepted > accepted, "no new connection was opened");
        assertEquals(saved.id, seeded.id);
        const after = await rows(table);
        assertEquals(after.length, 1);
        assertEquals([after[0].id, after[0].refresh_token], [
          seeded.id,
          refreshToken,
        ]);
      })
    ));

  test("a COMMIT whose answer is lost is BACKEND and not run again; the committed row is the only one", () =>
    withTable((table) =>
      withProxiedStore(table, async ({ store, proxy, password }) => {
        const seeded = await store.saveToken(tok("ada"));
        const refreshToken = `1000.mysql-fault-commit-${rand()}`;
        let fired = false;
        proxy.armOn(mysqlQuery("COMMIT"), { when: "after-response" })
          .then(() => fired = true);
        const accepted = proxy.accepted;
        const error = await assertRejects(
          () => store.saveToken(seeded.with({ refreshToken })),
          TokenStoreError,
        );
        assert(fired, "the fault did not fire");
        assertEquals(error.code, "BACKEND");
        assertSecretFree(
          renderError(error),
          [password, refreshToken, ...secretsOf(seeded)],
          "the lost COMMIT's error",
        );
        // its outcome was unknown to the store: it did not run it again
        assertEquals(proxy.accepted, accepted);
        // the server did commit: one row, the new value, the same id
        const after = await rows(table);
        assertEquals(after.length, 1);
        assertEquals([after[0].id, after[0].refresh_token], [
          seeded.id,
          refreshToken,
        ]);
        // the next call opens a new connection and succeeds
        assertEquals(
          (await store.findTokenById(seeded.id!))?.refreshToken,
          refreshToken,
        );
        assert(proxy.accepted > accepted);
      })
    ));
}
