import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { join } from "@std/path";
import { createClient } from "@libsql/client";
import type { Client, ResultSet } from "@libsql/client";
import { TokenStoreError } from "../core/errors.ts";
import { MAX_EXPIRES_AT, OAuthToken } from "../core/token.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";

// The Zoho CRM SDKs' own SQLite DDL and INSERT statements.
const ZOHO_DDL =
  "CREATE TABLE oauthtoken (id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), api_domain varchar(255), primary key (id))";
const ZOHO_INSERTS = [
  "insert into oauthtoken (id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain) values ('1','user@zoho.com','1000.CLIENTONE','secret-one','1000.refresh-one','1000.access-one','1000.grant-one','1700000000123','https://app.example.com/callback','https://www.zohoapis.com')",
  "insert into oauthtoken (id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain) values ('2','other@zoho.com','1000.CLIENTTWO','secret-two',NULL,NULL,'1000.grant-two',NULL,'https://app.example.com/callback',NULL)",
];

const ROW_1 = {
  id: "1",
  userName: "user@zoho.com",
  clientId: "1000.CLIENTONE",
  clientSecret: "secret-one",
  refreshToken: "1000.refresh-one",
  accessToken: "1000.access-one",
  grantToken: "1000.grant-one",
  expiresAt: 1_700_000_000_123,
  redirectUrl: "https://app.example.com/callback",
  apiDomain: "https://www.zohoapis.com",
};
const ROW_2 = {
  id: "2",
  userName: "other@zoho.com",
  clientId: "1000.CLIENTTWO",
  clientSecret: "secret-two",
  grantToken: "1000.grant-two",
  redirectUrl: "https://app.example.com/callback",
};

/** Rows as plain objects keyed by column name. */
function records(result: ResultSet): Record<string, unknown>[] {
  return result.rows.map((row) =>
    Object.fromEntries(result.columns.map((column) => [column, row[column]]))
  );
}

/** A SQLite file made by the Zoho SDK's statements; `fn` gets its URL. */
async function withZohoFile(
  fn: (url: string, raw: Client) => Promise<void>,
  ddl = ZOHO_DDL,
  inserts = ZOHO_INSERTS,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "libsql_interop_" });
  const url = `file:${join(dir, "zoho.db")}`;
  const raw = createClient({ url });
  try {
    await raw.execute(ddl);
    for (const insert of inserts) await raw.execute(insert);
    await fn(url, raw);
  } finally {
    raw.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("LibsqlTokenStore reads every field of a table the Zoho SDK created and filled", async () => {
  await withZohoFile(async (url) => {
    const store = await LibsqlTokenStore.open({ url });
    try {
      assertEquals((await store.findTokenById("1"))?.toRecord(), ROW_1);
      assertEquals((await store.findTokenById("2"))?.toRecord(), ROW_2);
      assertEquals(
        (await store.getTokens()).map((t) => t.toRecord())
          .sort((a, b) => a.id! < b.id! ? -1 : 1),
        [ROW_1, ROW_2],
      );
      assertEquals(
        (await store.findToken({
          userName: "user@zoho.com",
          clientId: "1000.CLIENTONE",
        }))?.id,
        "1",
      );
      assertEquals(
        (await store.findToken({ refreshToken: "1000.refresh-one" }))?.id,
        "1",
      );
      assertEquals(
        (await store.findToken({ accessToken: "1000.access-one" }))?.id,
        "1",
      );
      assertEquals(
        (await store.findToken({
          grantToken: "1000.grant-two",
          clientId: "1000.CLIENTTWO",
        }))?.id,
        "2",
      );
    } finally {
      await store.close();
    }
  });
});

Deno.test("LibsqlTokenStore updates Zoho rows in place, keeps their ids and adds only indexes", async () => {
  await withZohoFile(async (url, raw) => {
    const columnsBefore = await raw.execute(
      "SELECT name, type, pk FROM pragma_table_info('oauthtoken') ORDER BY cid",
    );
    const store = await LibsqlTokenStore.open({ url });
    try {
      // as the refresh client does after a refresh: found by user, new access token
      const refreshed = await store.saveToken(
        new OAuthToken({
          userName: "user@zoho.com",
          clientId: "1000.CLIENTONE",
          clientSecret: "secret-one",
          refreshToken: "1000.refresh-one",
          accessToken: "1000.access-new",
          expiresAt: 1_800_000_000_456,
          apiDomain: "https://www.zohoapis.com",
        }),
      );
      assertEquals(refreshed.id, "1");
      // as after a grant exchange: the row with this id gets the tokens
      const exchanged = await store.saveToken(
        (await store.findTokenById("2"))!.with({
          refreshToken: "1000.refresh-two",
          accessToken: "1000.access-two",
          expiresAt: 1_800_000_000_789,
        }),
      );
      assertEquals(exchanged.id, "2");
    } finally {
      await store.close();
    }
    const rows = await raw.execute(
      "SELECT id, access_token, expiry_time, typeof(expiry_time) AS t, grant_token, refresh_token FROM oauthtoken ORDER BY id",
    );
    assertEquals(records(rows), [
      {
        id: "1",
        access_token: "1000.access-new",
        expiry_time: "1800000000456",
        t: "text",
        // replace, not merge: the saved token had no grant token
        grant_token: null,
        refresh_token: "1000.refresh-one",
      },
      {
        id: "2",
        access_token: "1000.access-two",
        expiry_time: "1800000000789",
        t: "text",
        grant_token: "1000.grant-two",
        refresh_token: "1000.refresh-two",
      },
    ]);
    const columnsAfter = await raw.execute(
      "SELECT name, type, pk FROM pragma_table_info('oauthtoken') ORDER BY cid",
    );
    assertEquals(columnsAfter.rows, columnsBefore.rows);
    const indexed = await raw.execute(
      "SELECT ii.name FROM pragma_index_list('oauthtoken') AS il, pragma_index_info(il.name) AS ii ORDER BY ii.name",
    );
    assertEquals(indexed.rows.map((r) => r.name), [
      "access_token",
      "grant_token",
      "id",
      "refresh_token",
      "user_name",
    ]);
  });
});

Deno.test("LibsqlTokenStore adds rows with random ids beside Zoho's and leaves them readable with plain SQL", async () => {
  await withZohoFile(async (url, raw) => {
    // a Zoho user who already indexed user_name: no second index is added
    await raw.execute("CREATE INDEX by_user ON oauthtoken (user_name)");
    const store = await LibsqlTokenStore.open({ url });
    const added: OAuthToken[] = [];
    try {
      for (const userName of ["a@zoho.com", "b@zoho.com", "c@zoho.com"]) {
        added.push(
          await store.saveToken(
            new OAuthToken({
              userName,
              clientId: "1000.CLIENTONE",
              refreshToken: `1000.refresh-${userName}`,
              expiresAt: 1_750_000_000_000,
            }),
          ),
        );
      }
    } finally {
      await store.close();
    }
    for (const token of added) {
      assertMatch(token.id!, /^[A-Za-z0-9_-]{10}$/);
      assert(token.id !== "3" && token.id !== "4", "ids are not max+1");
    }
    assertEquals(new Set(added.map((t) => t.id)).size, 3);
    const old = await raw.execute(
      "SELECT id, user_name, client_id, client_secret, refresh_token, access_token, grant_token, expiry_time, redirect_url, api_domain FROM oauthtoken WHERE id IN ('1', '2') ORDER BY id",
    );
    assertEquals(records(old), [
      {
        id: "1",
        user_name: "user@zoho.com",
        client_id: "1000.CLIENTONE",
        client_secret: "secret-one",
        refresh_token: "1000.refresh-one",
        access_token: "1000.access-one",
        grant_token: "1000.grant-one",
        expiry_time: "1700000000123",
        redirect_url: "https://app.example.com/callback",
        api_domain: "https://www.zohoapis.com",
      },
      {
        id: "2",
        user_name: "other@zoho.com",
        client_id: "1000.CLIENTTWO",
        client_secret: "secret-two",
        refresh_token: null,
        access_token: null,
        grant_token: "1000.grant-two",
        expiry_time: null,
        redirect_url: "https://app.example.com/callback",
        api_domain: null,
      },
    ]);
    const fresh = await raw.execute({
      sql:
        "SELECT user_name, refresh_token, expiry_time FROM oauthtoken WHERE id = ?",
      args: [added[1].id!],
    });
    assertEquals(records(fresh), [{
      user_name: "b@zoho.com",
      refresh_token: "1000.refresh-b@zoho.com",
      expiry_time: "1750000000000",
    }]);
    assertEquals(
      (await raw.execute("SELECT count(*) AS n FROM oauthtoken")).rows[0].n,
      5,
    );
    const userIndexes = await raw.execute(
      "SELECT il.name FROM pragma_index_list('oauthtoken') AS il, pragma_index_info(il.name) AS ii WHERE ii.name = 'user_name'",
    );
    assertEquals(userIndexes.rows.map((r) => r.name), ["by_user"]);
  });
});

Deno.test("LibsqlTokenStore reads and writes a Python SDK table with redirect_uri", async () => {
  const ddl = ZOHO_DDL.replace("redirect_url", "redirect_uri");
  const inserts = [ZOHO_INSERTS[0].replace("redirect_url", "redirect_uri")];
  await withZohoFile(
    async (url, raw) => {
      const store = await LibsqlTokenStore.open({ url });
      try {
        assertEquals((await store.findTokenById("1"))?.toRecord(), ROW_1);
        const saved = await store.saveToken(
          new OAuthToken({
            userName: "py@zoho.com",
            refreshToken: "1000.py",
            redirectUrl: "https://py.example.com/cb",
          }),
        );
        assertEquals(
          (await store.findTokenById(saved.id!))?.redirectUrl,
          "https://py.example.com/cb",
        );
        const row = await raw.execute({
          sql: "SELECT redirect_uri FROM oauthtoken WHERE id = ?",
          args: [saved.id!],
        });
        assertEquals(row.rows[0].redirect_uri, "https://py.example.com/cb");
      } finally {
        await store.close();
      }
    },
    ddl,
    inserts,
  );
});

Deno.test("LibsqlTokenStore refuses a value wider than a Zoho varchar(255) column with INVALID_TOKEN and writes nothing", async () => {
  await withZohoFile(async (url, raw) => {
    const all = () => raw.execute("SELECT * FROM oauthtoken ORDER BY id");
    const before = records(await all());
    const store = await LibsqlTokenStore.open({ url });
    try {
      const access = `1000.${"a".repeat(295)}`;
      const refused = async (token: OAuthToken, message: string) => {
        const error = await assertRejects(
          () => store.saveToken(token),
          TokenStoreError,
        );
        assertEquals(error.code, "INVALID_TOKEN");
        assertEquals(error.message, message);
        assertFalse(error.message.includes("aaaa"));
      };
      // the refresh client saving a freshly issued 300-character access token for row 1
      const row1 = (await store.findTokenById("1"))!;
      await refused(
        row1.with({ accessToken: access, expiresAt: 1_800_000_000_000 }),
        'Cannot save token: "accessToken" is 300 characters, column "access_token" of table "oauthtoken" holds 255',
      );
      await refused(
        new OAuthToken({ userName: "new@zoho.com", refreshToken: access }),
        'Cannot save token: "refreshToken" is 300 characters, column "refresh_token" of table "oauthtoken" holds 255',
      );
      await refused(
        row1.with({ userName: "🦕".repeat(256) }),
        'Cannot save token: "userName" is 256 characters, column "user_name" of table "oauthtoken" holds 255',
      );
      await refused(
        row1.with({ expiresAt: 0.0000012345678901234567 }),
        'Cannot save token: "expiresAt" is 24 characters, column "expiry_time" of table "oauthtoken" holds 20',
      );
      assertEquals(records(await all()), before);
      // 255 characters fit, counted as characters (code points), not UTF-16 units
      const dino = "🦕".repeat(255);
      const fits = await store.saveToken(
        row1.with({ userName: dino, accessToken: access.slice(0, 255) }),
      );
      assertEquals(fits.id, "1");
      assertEquals((await store.findTokenById("1"))?.userName, dino);
      // the largest expiresAt fits Zoho's varchar(20)
      const latest = await store.saveToken(
        fits.with({ expiresAt: MAX_EXPIRES_AT }),
      );
      assertEquals(
        (await store.findTokenById("1"))?.toRecord(),
        latest.toRecord(),
      );
    } finally {
      await store.close();
    }
  });
});

Deno.test("LibsqlTokenStore checks values against the widths a table declares, whatever their spelling", async () => {
  const ddl =
    "CREATE TABLE oauthtoken (id varchar(10) NOT NULL PRIMARY KEY, user_name character varying (16), client_id NVARCHAR(12), client_secret text, refresh_token VARCHAR2(300), access_token, grant_token clob, expiry_time bigint, redirect_url varchar(255), api_domain varchar(255))";
  await withZohoFile(
    async (url, raw) => {
      const store = await LibsqlTokenStore.open({ url });
      try {
        const long = "x".repeat(4096);
        // undeclared widths hold anything; bigint takes a fraction as SQLite stores it
        const saved = await store.saveToken(
          new OAuthToken({
            userName: "u".repeat(16),
            clientId: "c".repeat(12),
            clientSecret: long,
            refreshToken: "r".repeat(300),
            accessToken: long,
            grantToken: long,
            expiresAt: 1_800_000_000_000.5,
          }),
        );
        assertEquals(
          (await store.findTokenById(saved.id!))?.toRecord(),
          saved.toRecord(),
        );
        for (
          const [patch, column, width] of [
            [{ userName: "u".repeat(17) }, "user_name", 16],
            [{ clientId: "c".repeat(13) }, "client_id", 12],
            [{ refreshToken: "r".repeat(301) }, "refresh_token", 300],
          ] as const
        ) {
          const error = await assertRejects(
            () => store.saveToken(saved.with(patch)),
            TokenStoreError,
          );
          assertEquals(error.code, "INVALID_TOKEN");
          assertStringIncludes(error.message, `column "${column}"`);
          assertStringIncludes(error.message, `holds ${width}`);
        }
        assertEquals(
          (await raw.execute("SELECT count(*) AS n FROM oauthtoken")).rows[0].n,
          1,
        );
      } finally {
        await store.close();
      }
    },
    ddl,
    [],
  );
});
