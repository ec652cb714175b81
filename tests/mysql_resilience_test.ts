/**
 * The MySQL store under adverse conditions: sessions defaulting to READ
 * COMMITTED, leases on the database clock, and connections that are cut,
 * refused and killed while the store is in use.
 */

import { assert, assertEquals, assertFalse, assertRejects } from "@std/assert";
import mysql from "mysql2/promise";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { MysqlTokenStore } from "../stores/mysql.ts";
import { assertStaleLeaseTakenOver } from "./conformance.ts";
import { MYSQL } from "./fixtures/sql_server.ts";

if (MYSQL.url === undefined) {
  MYSQL.notice("tests/mysql_resilience_test.ts");
} else {
  const url = MYSQL.url;
  const parts = MYSQL.urlParts(url);

  MYSQL.test("MysqlTokenStore keeps one row per user on a pool whose sessions default to READ COMMITTED", () =>
    MYSQL.withTable(async (table) => {
      const pool = mysql.createPool({ uri: url, connectionLimit: 8 });
      pool.pool.on("connection", (connection) => {
        connection.query(
          "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        );
      });
      try {
        const [[session]] = await pool.query(
          "SELECT @@tx_isolation AS level",
        ) as unknown as [[{ level: string }]];
        assertEquals(session.level, "READ-COMMITTED");
        const store = new MysqlTokenStore({ pool, table });
        for (let round = 0; round < 3; round++) {
          const users = ["rc1@example.com", "rc2@example.com"];
          await Promise.all(
            Array.from({ length: 24 }, (_, i) =>
              store.saveToken(
                new OAuthToken({
                  userName: users[i % 2],
                  refreshToken: `1000.rc-${round}-${i}`,
                }),
              )),
          );
          const tokens = await store.getTokens();
          assertEquals(tokens.length, 2, `round ${round}`);
          await store.deleteTokens();
        }
      } finally {
        await pool.end();
      }
    }));

  MYSQL.test("MysqlTokenStore leases use the database clock and expire", () =>
    MYSQL.withStore(async (store, table) => {
      const lease = await store.lock.acquire("refresh:clock", {
        ttlMs: 60_000,
      });
      assert(lease);
      await MYSQL.withAdmin(async (admin) => {
        const [row] = await MYSQL.select(
          admin,
          `SELECT expires_at - CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) AS left_ms ` +
            `FROM \`${table}_lock\` WHERE lock_key = 'refresh:clock'`,
        );
        const left = Number(row.left_ms);
        assert(left > 55_000 && left <= 60_000, `${left} ms left`);
      });
      await assertStaleLeaseTakenOver(
        store.lock,
        lease,
        () =>
          MYSQL.query(
            `UPDATE \`${table}_lock\` SET expires_at = 0, owner = 'crashed'`,
          ),
        5_000,
      );
      for (
        const [key, ttlMs] of [["k", 0], ["", 1000], ["k".repeat(256), 1000]]
      ) {
        await assertRejects(
          () => store.lock.acquire(key as string, { ttlMs: ttlMs as number }),
          TypeError,
        );
      }
    }));

  MYSQL.test("MysqlTokenStore recovers when the server goes away and comes back", () =>
    MYSQL.withTable(async (table) => {
      const { store, proxy } = await MYSQL.openProxied(table, 3);
      try {
        const saved = await store.saveToken(
          new OAuthToken({
            userName: "up@example.com",
            refreshToken: "1000.1",
          }),
        );
        await proxy.stop(); // every pooled connection is cut, new ones refused
        for (
          const op of [
            () => store.getTokens(),
            () =>
              store.saveToken(
                new OAuthToken({
                  userName: "up@example.com",
                  refreshToken: "1000.lost",
                }),
              ),
            () => store.lock.acquire("k", { ttlMs: 1000 }),
          ]
        ) {
          const error = await assertRejects(op, TokenStoreError);
          assertEquals(error.code, "BACKEND");
          assertFalse(Deno.inspect(error, { depth: 10 }).includes("1000.lost"));
        }
        proxy.start(); // the server is back on the same address
        const updated = await store.saveToken(
          new OAuthToken({
            userName: "up@example.com",
            refreshToken: "1000.2",
          }),
        );
        assertEquals(updated.id, saved.id);
        assertEquals(
          (await store.getTokens()).map((t) => t.refreshToken),
          ["1000.2"],
        );
        // connections killed by the server are replaced too
        await MYSQL.withAdmin(async (admin) => {
          const ids = await MYSQL.select(
            admin,
            "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() " +
              "AND USER = ? AND DB = ? AND COMMAND = 'Sleep' AND HOST LIKE '127.0.0.1:%'",
            [parts.user, parts.database],
          );
          let killed = 0;
          for (const { id } of ids) {
            if (proxy.clientPorts.has(await hostPort(admin, id))) {
              await admin.query("KILL ?", [id]);
              killed++;
            }
          }
          assert(killed >= 1, "no pooled connection to kill");
        });
        assertEquals(
          (await store.findTokenById(saved.id!))?.refreshToken,
          "1000.2",
        );
      } finally {
        await store.close();
        await proxy.stop();
      }
    }));
}

/** The client port of a server connection, from the process list. */
async function hostPort(
  admin: mysql.Connection,
  id: unknown,
): Promise<number> {
  const [row] = await MYSQL.select(
    admin,
    "SELECT HOST AS h FROM information_schema.PROCESSLIST WHERE ID = ?",
    [id],
  );
  return Number(String(row?.h ?? "").split(":")[1]);
}
