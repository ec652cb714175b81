/**
 * Issued tokens a store may struggle to hold, on real stores: a lifetime
 * past the largest Date (`expires_in: 1e17`) on MySQL, and an access token
 * longer than a Zoho `varchar(255)` column on libSQL. The endpoint has spent
 * the old refresh token either way: the new one must not be dropped.
 */

import { assert, assertEquals } from "@std/assert";
import { join } from "@std/path";
import type { TokenStoreError } from "../core/errors.ts";
import { MAX_EXPIRES_AT, OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { MysqlTokenStore } from "../stores/mysql.ts";
import { MYSQL } from "./fixtures/sql_server.ts";
import {
  DEFAULT_CLIENT,
  seedToken,
  startTokenServer,
} from "./fixtures/token_server.ts";
import { createZohoLibsqlTable } from "./fixtures/zoho_tables.ts";

const USER = "ada@example.com";

Deno.test({
  name:
    "expires_in 1e17 on MySQL: the token is saved with the largest expiry, the rotated refresh token kept",
  ignore: MYSQL.url === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    MYSQL.withTable(async (table) => {
      await using server = await startTokenServer({
        rotateRefreshTokens: true,
        reuseDetection: true,
        expiresInSec: 1e17,
      });
      const store = await MysqlTokenStore.open({ url: MYSQL.url!, table });
      try {
        await seedToken(store, server, USER);
        const client = new TokenClient({
          store,
          clientId: DEFAULT_CLIENT.clientId,
          clientSecret: DEFAULT_CLIENT.clientSecret,
          tokenUrl: server.url,
        });
        const failed: unknown[] = [];
        client.addEventListener("persistfailed", (e) => failed.push(e));
        const token = await client.getToken({ userName: USER });
        assertEquals(failed, []);
        assertEquals(token.expiresAt, MAX_EXPIRES_AT);
        const stored = await store.findToken({ userName: USER });
        assertEquals(stored?.refreshToken, token.refreshToken);
        assertEquals(stored?.expiresAt, MAX_EXPIRES_AT);
        assert(server.isValid(stored!.refreshToken!));
      } finally {
        await store.close();
      }
    }),
});

Deno.test("a 300-character access token on a Zoho varchar(255) libSQL table: persistfailed, served in this process, and the next refresh presents the live refresh token", async () => {
  await using server = await startTokenServer({
    rotateRefreshTokens: true,
    reuseDetection: true,
  });
  const dir = await Deno.makeTempDir({ prefix: "limits_" });
  const url = `file:${join(dir, "zoho.db")}`;
  await createZohoLibsqlTable(url);
  const store = await LibsqlTokenStore.open({ url });
  try {
    const seeded = await store.saveToken(
      new OAuthToken({
        userName: USER,
        clientId: DEFAULT_CLIENT.clientId,
        refreshToken: server.issueRefreshToken({ userName: USER }),
      }),
    );
    // The endpoint answers with an access token longer than the column.
    const padded: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      const body = await response.json();
      if (typeof body.access_token === "string") {
        body.access_token = body.access_token.padEnd(300, "0");
      }
      return Response.json(body, { status: response.status });
    };
    const client = new TokenClient({
      store,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      tokenUrl: server.url,
      fetch: padded,
    });
    const failed: { id: string; error: TokenStoreError }[] = [];
    client.addEventListener("persistfailed", (e) => {
      failed.push((e as CustomEvent).detail);
    });
    const token = await client.getToken({ userName: USER });
    assertEquals(token.accessToken!.length, 300);
    assertEquals(failed.length, 1);
    assertEquals(failed[0].id, seeded.id);
    assertEquals(failed[0].error.code, "INVALID_TOKEN");
    assert(failed[0].error.message.includes('"access_token"'));
    // nothing was written: the row still holds the seeded token
    assertEquals(
      (await store.findTokenById(seeded.id!))?.toRecord(),
      seeded.toRecord(),
    );
    // served from memory, no second request
    assertEquals(
      await client.getAccessToken({ userName: USER }),
      token.accessToken,
    );
    assertEquals(server.stats().refreshToken, 1);
    // a forced refresh uses the rotated refresh token held in memory
    const again = await client.refresh({ userName: USER });
    assert(server.isValid(again.refreshToken!));
    assertEquals(server.presentedTwice(), 0);
    assertEquals(server.stats().familiesRevoked, 0);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
