/**
 * Interop with the Zoho SDKs' MySQL `DBStore`: a database made with their own
 * DDL and statements is read, updated in place and extended, and what this
 * store writes reads back with plain SQL in the same layout. Each test has
 * its own database (`zohooauth_<random>`) so that the SDKs' default table
 * names are used as they are.
 */

import {
  assert,
  assertEquals,
  assertExists,
  assertFalse,
  assertMatch,
  assertRejects,
} from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { MAX_EXPIRES_AT, OAuthToken } from "../core/token.ts";
import { MysqlTokenStore } from "../stores/mysql.ts";
import type mysql from "mysql2/promise";
import { MYSQL } from "./fixtures/sql_server.ts";

/** The Zoho SDKs' DDL, as their `DBStore` runs it. */
const ZOHO_DDL =
  "create table oauthtoken(id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), api_domain varchar(255), primary key (id))";

const ZOHO_INSERT =
  "INSERT INTO oauthtoken(id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain) VALUES";

const ZOHO_ROW_1 = {
  id: "1",
  userName: "zoho.user@example.com",
  clientId: "1000.ZOHOCLIENT",
  clientSecret: "zoho-client-5ecret",
  refreshToken: "1000.zoho-refresh-5ecret",
  accessToken: "1000.zoho-access-5ecret",
  expiresAt: 1_700_000_000_000,
  redirectUrl: "https://example.com/callback",
  apiDomain: "https://www.zohoapis.com",
};

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

function columnsOf(admin: mysql.Connection, table: string) {
  return MYSQL.select(
    admin,
    "SELECT COLUMN_NAME AS n, COLUMN_TYPE AS t, IS_NULLABLE AS nul FROM " +
      "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND " +
      "TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    [table],
  );
}

if (MYSQL.url === undefined) {
  MYSQL.notice("tests/mysql_interop_test.ts");
} else {
  const base = MYSQL.url;
  const parts = MYSQL.urlParts(base);

  /** Runs `fn` in a database of its own, as the Zoho SDKs set it up. */
  const withZohoDatabase = async (
    fn: (admin: mysql.Connection, database: string) => Promise<void>,
  ) => {
    const database = `zohooauth_${crypto.randomUUID().slice(0, 8)}`;
    await MYSQL.withAdmin((admin) =>
      admin.query(`CREATE DATABASE ${database}`)
    );
    try {
      const url = new URL(base);
      url.pathname = `/${database}`;
      await MYSQL.withAdmin((admin) => fn(admin, database), url.href);
    } finally {
      await MYSQL.withAdmin((admin) =>
        admin.query(`DROP DATABASE ${database}`)
      );
    }
  };

  test("MysqlTokenStore reads, updates in place and extends a table made by the Zoho SDK", () =>
    withZohoDatabase(async (admin, database) => {
      await admin.query(ZOHO_DDL);
      const r = ZOHO_ROW_1;
      await admin.query(
        `${ZOHO_INSERT}('1','${r.userName}','${r.clientId}','${r.clientSecret}','${r.refreshToken}','${r.accessToken}',NULL,'${r.expiresAt}','${r.redirectUrl}','${r.apiDomain}')`,
      );
      // an older SDK wrote empty strings for missing values
      await admin.query(
        `${ZOHO_INSERT}('2','grant.user@example.com','1000.ZOHOCLIENT','zoho-client-5ecret','','','1000.zoho-grant','','','')`,
      );
      const before = await columnsOf(admin, "oauthtoken");

      const store = await MysqlTokenStore.open({ ...parts, database });
      try {
        assertEquals([store.table, store.lockTable], [
          "oauthtoken",
          "oauthtoken_lock",
        ]);
        // read: every field of the SDK's row
        const found = await store.findToken({ userName: r.userName });
        assertEquals(found?.toRecord(), ZOHO_ROW_1);
        assertEquals((await store.findTokenById("1"))?.toRecord(), ZOHO_ROW_1);
        assertEquals(
          (await store.findToken({ refreshToken: r.refreshToken }))?.id,
          "1",
        );
        assertEquals(
          (await store.findToken({ grantToken: "1000.zoho-grant" }))
            ?.toRecord(),
          {
            id: "2",
            userName: "grant.user@example.com",
            clientId: "1000.ZOHOCLIENT",
            clientSecret: "zoho-client-5ecret",
            grantToken: "1000.zoho-grant",
          },
        );
        // the table is used as it is: same columns, lookup indexes added
        assertEquals(await columnsOf(admin, "oauthtoken"), before);
        const indexed = await MYSQL.select(
          admin,
          "SELECT DISTINCT COLUMN_NAME AS c FROM information_schema.STATISTICS " +
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'oauthtoken' ORDER BY c",
        );
        assertEquals(indexed.map((row) => row.c), [
          "access_token",
          "grant_token",
          "id",
          "refresh_token",
          "user_name",
        ]);

        // update in place: by id, then by user name (the SDK's own flow)
        const refreshed = await store.saveToken(
          found!.with({
            accessToken: "1000.new-access",
            expiresAt: 1_800_000_000_000,
          }),
        );
        assertEquals(refreshed.id, "1");
        const replaced = await store.saveToken(
          new OAuthToken({
            userName: r.userName,
            clientId: r.clientId,
            clientSecret: r.clientSecret,
            refreshToken: "1000.rotated-refresh",
            accessToken: "1000.newer-access",
            expiresAt: 1_800_000_360_000,
            apiDomain: "https://www.zohoapis.eu",
          }),
        );
        assertEquals(replaced.id, "1");
        assertEquals(
          await MYSQL.select(admin, "SELECT * FROM oauthtoken WHERE id = '1'"),
          [{
            id: "1",
            user_name: r.userName,
            client_id: r.clientId,
            client_secret: r.clientSecret,
            refresh_token: "1000.rotated-refresh",
            access_token: "1000.newer-access",
            grant_token: null,
            expiry_time: "1800000360000",
            redirect_url: null, // replaced, not merged
            api_domain: "https://www.zohoapis.eu",
          }],
        );

        // extend: a new user gets a random id, in the same layout
        const added = await store.saveToken(
          new OAuthToken({
            userName: "new.user@example.com",
            clientId: "1000.ZOHOCLIENT",
            clientSecret: "zoho-client-5ecret",
            refreshToken: "1000.new-refresh",
            accessToken: "1000.new-user-access",
            expiresAt: 1_800_000_000_007,
            redirectUrl: "https://example.com/callback",
            apiDomain: "https://www.zohoapis.com",
          }),
        );
        assertExists(added.id);
        assertMatch(added.id, /^[A-Za-z0-9_-]{10}$/);
        assert(!["1", "2", "3"].includes(added.id));
        // as the SDK's findToken reads it
        assertEquals(
          await MYSQL.select(
            admin,
            "select * from oauthtoken where user_name=? and client_id=?",
            ["new.user@example.com", "1000.ZOHOCLIENT"],
          ),
          [{
            id: added.id,
            user_name: "new.user@example.com",
            client_id: "1000.ZOHOCLIENT",
            client_secret: "zoho-client-5ecret",
            refresh_token: "1000.new-refresh",
            access_token: "1000.new-user-access",
            grant_token: null,
            expiry_time: "1800000000007",
            redirect_url: "https://example.com/callback",
            api_domain: "https://www.zohoapis.com",
          }],
        );
        assertEquals(
          (await MYSQL.select(admin, "SELECT id FROM oauthtoken"))
            .map((row) => String(row.id)).sort(),
          ["1", "2", added.id].sort(),
        );
        // the SDK can keep adding rows next to the store's
        await admin.query(
          `${ZOHO_INSERT}('3','third@example.com','1000.ZOHOCLIENT','s','1000.third-refresh','','','','','')`,
        );
        assertEquals(
          (await store.findToken({ refreshToken: "1000.third-refresh" }))?.id,
          "3",
        );
        assertEquals((await store.getTokens()).length, 4);
      } finally {
        await store.close();
      }
    }));

  test("MysqlTokenStore matches exactly in a Zoho table with a case-insensitive collation", () =>
    withZohoDatabase(async (admin, database) => {
      await admin.query(
        `${ZOHO_DDL} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
      );
      const store = await MysqlTokenStore.open({ ...parts, database });
      try {
        const names = [
          "ada@example.com",
          "Ada@Example.com",
          "ada@example.com ",
        ];
        const saved = [];
        for (const userName of names) {
          saved.push(
            await store.saveToken(
              new OAuthToken({ userName, refreshToken: `1000.${userName}` }),
            ),
          );
        }
        assertEquals(new Set(saved.map((t) => t.id)).size, 3);
        for (const [i, userName] of names.entries()) {
          assertEquals((await store.findToken({ userName }))?.id, saved[i].id);
          const again = await store.saveToken(
            new OAuthToken({ userName, refreshToken: `1000.again-${i}` }),
          );
          assertEquals(again.id, saved[i].id);
        }
        assertEquals(
          await store.findToken({ userName: "ADA@EXAMPLE.COM" }),
          null,
        );
        assertEquals((await store.getTokens()).length, 3);
        const id = saved[0].id!;
        const other = id === id.toUpperCase()
          ? id.toLowerCase()
          : id.toUpperCase();
        if (other !== id) {
          assertEquals(await store.findTokenById(other), null);
          assertEquals(await store.deleteToken(other), false);
        }
        assertEquals(await store.deleteToken(id), true);
        assertEquals((await store.getTokens()).length, 2);
      } finally {
        await store.close();
      }
    }));

  test("MysqlTokenStore uses a table whose column 9 is named redirect_uri", () =>
    withZohoDatabase(async (admin, database) => {
      await admin.query(ZOHO_DDL.replace("redirect_url", "redirect_uri"));
      await admin.query(
        "INSERT INTO oauthtoken(id,user_name,refresh_token,redirect_uri) VALUES('1','py@example.com','1000.py','https://py.example.com/cb')",
      );
      const store = await MysqlTokenStore.open({ ...parts, database });
      try {
        const found = await store.findToken({ userName: "py@example.com" });
        assertEquals(found?.redirectUrl, "https://py.example.com/cb");
        await store.saveToken(
          found!.with({ redirectUrl: "https://py.example.com/new" }),
        );
        assertEquals(
          await MYSQL.select(admin, "SELECT id, redirect_uri FROM oauthtoken"),
          [{ id: "1", redirect_uri: "https://py.example.com/new" }],
        );
      } finally {
        await store.close();
      }
    }));

  /** Asserts that saving `token` is INVALID_TOKEN with `message` (no value in it). */
  const refused = async (
    store: MysqlTokenStore,
    token: OAuthToken,
    message: string | RegExp,
  ) => {
    const error = await assertRejects(
      () => store.saveToken(token),
      TokenStoreError,
    );
    assertEquals(error.code, "INVALID_TOKEN");
    if (typeof message === "string") assertEquals(error.message, message);
    else assertMatch(error.message, message);
    assertFalse(/x{20}|東京|🦕/u.test(error.message), error.message);
  };

  test("MysqlTokenStore refuses a value wider than a Zoho varchar(255) column with INVALID_TOKEN and leaves the row unchanged", () =>
    withZohoDatabase(async (admin, database) => {
      await admin.query(ZOHO_DDL);
      const r = ZOHO_ROW_1;
      await admin.query(
        `${ZOHO_INSERT}('1','${r.userName}','${r.clientId}','${r.clientSecret}','${r.refreshToken}','${r.accessToken}',NULL,'${r.expiresAt}','${r.redirectUrl}','${r.apiDomain}')`,
      );
      const all = () =>
        MYSQL.select(admin, "SELECT * FROM oauthtoken ORDER BY id");
      const before = await all();
      const store = await MysqlTokenStore.open({ ...parts, database });
      try {
        const row1 = (await store.findTokenById("1"))!;
        const access = `1000.${"x".repeat(295)}`;
        // a freshly issued 300-character access token for the SDK's row
        await refused(
          store,
          row1.with({ accessToken: access, expiresAt: 1_800_000_000_000 }),
          'Cannot save token: "accessToken" is 300 characters, column "access_token" of table "oauthtoken" holds 255',
        );
        await refused(
          store,
          new OAuthToken({ userName: "new@example.com", refreshToken: access }),
          'Cannot save token: "refreshToken" is 300 characters, column "refresh_token" of table "oauthtoken" holds 255',
        );
        await refused(
          store,
          row1.with({ expiresAt: 0.0000012345678901234567 }),
          'Cannot save token: "expiresAt" is 24 characters, column "expiry_time" of table "oauthtoken" holds 20',
        );
        assertEquals(await all(), before);
        // what fits is written: 255 characters of four bytes each, the largest expiresAt
        const saved = await store.saveToken(
          row1.with({
            userName: "🦕".repeat(255),
            accessToken: access.slice(0, 255),
            expiresAt: MAX_EXPIRES_AT,
          }),
        );
        assertEquals(saved.id, "1");
        assertEquals(
          (await store.findToken({ userName: "🦕".repeat(255) }))?.toRecord(),
          saved.toRecord(),
        );
        assertEquals(
          (await MYSQL.select(admin, "SELECT expiry_time FROM oauthtoken"))[0]
            .expiry_time,
          "8640000000000000",
        );
      } finally {
        await store.close();
      }
    }));

  test("MysqlTokenStore refuses characters a Zoho table's character set cannot store", () =>
    withZohoDatabase(async (admin, database) => {
      await admin.query(`${ZOHO_DDL} DEFAULT CHARSET=latin1`);
      await admin.query(
        "CREATE TABLE utf8_tokens (id varchar(10) NOT NULL PRIMARY KEY, user_name varchar(255), client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), api_domain tinytext) DEFAULT CHARSET=utf8mb3",
      );
      const latin1 = await MysqlTokenStore.open({ ...parts, database });
      const utf8 = await MysqlTokenStore.open({
        ...parts,
        database,
        table: "utf8_tokens",
      });
      try {
        // cp1252, as MySQL's latin1 is
        const western = await latin1.saveToken(
          new OAuthToken({ userName: "café €‚™Ÿ", refreshToken: "1000.r" }),
        );
        assertEquals(
          (await latin1.findToken({ userName: "café €‚™Ÿ" }))?.id,
          western.id,
        );
        await refused(
          latin1,
          new OAuthToken({ userName: "東京", refreshToken: "1000.r" }),
          'Cannot save token: "userName" has characters that column "user_name" of table "oauthtoken" cannot store (character set "latin1")',
        );
        await refused(
          latin1,
          western.with({ refreshToken: "1000.\u0080" }),
          /"refreshToken" has characters that column "refresh_token"/,
        );
        const eastern = await utf8.saveToken(
          new OAuthToken({ userName: "東京", refreshToken: "1000.r" }),
        );
        assertEquals(
          (await utf8.findToken({ userName: "東京" }))?.id,
          eastern.id,
        );
        await refused(
          utf8,
          eastern.with({ accessToken: "1000.🦕" }),
          /"accessToken" has characters that column "access_token" of table "utf8_tokens" cannot store \(character set "utf8mb3"\)/,
        );
        // tinytext: 255 bytes, three per character here
        await refused(
          utf8,
          eastern.with({ apiDomain: "東".repeat(100) }),
          'Cannot save token: "apiDomain" is 300 bytes in utf8mb3, column "api_domain" of table "utf8_tokens" holds 255 bytes',
        );
        await utf8.saveToken(eastern.with({ apiDomain: "東".repeat(85) }));
        assertEquals(
          (await MYSQL.select(admin, "SELECT user_name FROM oauthtoken"))
            .map((row) => row.user_name),
          ["café €‚™Ÿ"],
        );
        assertEquals(
          await MYSQL.select(
            admin,
            "SELECT user_name, access_token FROM utf8_tokens",
          ),
          [{ user_name: "東京", access_token: null }],
        );
      } finally {
        await latin1.close();
        await utf8.close();
      }
    }));

  test("MysqlTokenStore keeps expiresAt within an integer expiry_time column", () =>
    withZohoDatabase(async (admin, database) => {
      await admin.query(
        ZOHO_DDL.replace("expiry_time varchar(20)", "expiry_time bigint"),
      );
      await admin.query(
        "CREATE TABLE narrow (id varchar(10) NOT NULL PRIMARY KEY, user_name varchar(255), client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time int, redirect_url varchar(255), api_domain varchar(255))",
      );
      const store = await MysqlTokenStore.open({ ...parts, database });
      const narrow = await MysqlTokenStore.open({
        ...parts,
        database,
        table: "narrow",
      });
      try {
        const saved = await store.saveToken(
          new OAuthToken({
            userName: "big@example.com",
            refreshToken: "1000.r",
            expiresAt: MAX_EXPIRES_AT,
          }),
        );
        assertEquals(
          (await store.findTokenById(saved.id!))?.expiresAt,
          MAX_EXPIRES_AT,
        );
        await refused(
          store,
          saved.with({ expiresAt: 1_800_000_000_000.5 }),
          'Cannot save token: "expiresAt" does not fit column "expiry_time" of table "oauthtoken", which holds integers',
        );
        assertEquals(
          (await store.findTokenById(saved.id!))?.expiresAt,
          MAX_EXPIRES_AT,
        );
        await refused(
          narrow,
          new OAuthToken({
            userName: "n@example.com",
            refreshToken: "1000.r",
            expiresAt: 1_800_000_000_000,
          }),
          'Cannot save token: "expiresAt" does not fit column "expiry_time" of table "narrow", which holds integers up to 2147483647',
        );
        assertEquals(await MYSQL.select(admin, "SELECT id FROM narrow"), []);
      } finally {
        await store.close();
        await narrow.close();
      }
    }));
}
