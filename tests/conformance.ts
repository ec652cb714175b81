/**
 * The shared store suite: every store's test file calls
 * {@linkcode testTokenStore} so that every store keeps the same contract.
 *
 * @module
 */

import {
  assert,
  assertEquals,
  assertExists,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import {
  MAX_EXPIRES_AT,
  MAX_FIELD_LENGTH,
  OAuthToken,
  type OAuthTokenInit,
} from "../core/token.ts";
import type {
  Lease,
  TokenLock,
  TokenQuery,
  TokenStore,
} from "../core/token_store.ts";
import { TokenStoreError } from "../core/errors.ts";
import type { TokenStatus, TokenStatusStore } from "../core/token_status.ts";

/** Opens an empty, ready store. */
export type OpenStore = () => Promise<TokenStore>;

/** What a store is allowed to do differently. */
export interface ConformanceOptions {
  /**
   * Characters the store's format cannot hold (the Zoho CSV file cannot hold
   * commas or line breaks): values containing them must be rejected with
   * `INVALID_TOKEN` and nothing stored.
   */
  unsupported?: RegExp;
  /**
   * Longest secret the store holds, when it is less than
   * `MAX_FIELD_LENGTH` (an encrypting store's values are longer than the
   * plaintext): the longest-values case uses it, and a longer secret must be
   * rejected with `INVALID_TOKEN` and nothing stored.
   */
  maxSecretLength?: number;
}

const SECRETS = {
  clientSecret: "cs-5ecret-value-aaaaaaaaaaaaaaaa",
  refreshToken: "1000.refresh-5ecret-bbbbbbbbbbbbbbbb",
  accessToken: "1000.access-5ecret-cccccccccccccccc",
  grantToken: "1000.grant-5ecret-dddddddddddddddd",
};

function token(init: OAuthTokenInit): OAuthToken {
  return new OAuthToken(init);
}

function full(userName: string, clientId = "1000.CLIENT"): OAuthToken {
  return token({
    userName,
    clientId,
    clientSecret: `${SECRETS.clientSecret}-${userName}-${clientId}`,
    refreshToken: `${SECRETS.refreshToken}-${userName}-${clientId}`,
    accessToken: `${SECRETS.accessToken}-${userName}-${clientId}`,
    grantToken: `${SECRETS.grantToken}-${userName}-${clientId}`,
    expiresAt: 1_800_000_000_123,
    redirectUrl: "https://app.example.com/callback",
    apiDomain: "https://www.zohoapis.eu",
  });
}

function sortById(tokens: OAuthToken[]): OAuthTokenInit[] {
  return tokens.map((t) => t.toRecord()).sort((a, b) => a.id! < b.id! ? -1 : 1);
}

/**
 * Registers the contract tests for a store. `openStore` must resolve an
 * empty, ready store; each case closes it at the end.
 *
 * @param name Shown in every test name.
 * @param openStore Opens a fresh, empty store.
 * @param options What the store may do differently.
 */
export function testTokenStore(
  name: string,
  openStore: OpenStore,
  options: ConformanceOptions = {},
): void {
  const test = (label: string, fn: (store: TokenStore) => Promise<void>) =>
    Deno.test({
      name: `${name} › ${label}`,
      sanitizeResources: false,
      sanitizeOps: false,
      async fn() {
        const store = await openStore();
        try {
          await store.deleteTokens();
          await fn(store);
        } finally {
          await store.close?.();
        }
      },
    });

  test("saveToken assigns a random id of at most 10 characters", async (s) => {
    const a = await s.saveToken(full("a@example.com"));
    const b = await s.saveToken(full("b@example.com"));
    assertExists(a.id);
    assertExists(b.id);
    assert(a.id.length <= 10 && b.id.length <= 10);
    assertNotEquals(a.id, b.id);
    assertEquals(a.toRecord(), {
      ...full("a@example.com").toRecord(),
      id: a.id,
    });
    assertEquals((await s.findTokenById(a.id))?.toRecord(), a.toRecord());
  });

  test("every field round-trips exactly", async (s) => {
    const saved = await s.saveToken(full("round@example.com"));
    const found = await s.findTokenById(saved.id!);
    assertEquals(found?.toRecord(), saved.toRecord());
    assertEquals(found?.expiresAt, 1_800_000_000_123);
  });

  test("rule 1: id decides over every other field", async (s) => {
    const a = await s.saveToken(full("a@example.com"));
    const b = await s.saveToken(full("b@example.com"));
    const found = await s.findToken({
      id: a.id,
      userName: "b@example.com",
      refreshToken: b.refreshToken,
    });
    assertEquals(found?.id, a.id);
    assertEquals(
      await s.findToken({ id: "missing1", userName: "a@example.com" }),
      null,
    );
  });

  test("rule 2: userName, with clientId when given", async (s) => {
    const a1 = await s.saveToken(full("a@example.com", "1000.ONE"));
    const a2 = await s.saveToken(full("a@example.com", "1000.TWO"));
    assertNotEquals(a1.id, a2.id);
    assertEquals(
      (await s.findToken({ userName: "a@example.com", clientId: "1000.TWO" }))
        ?.id,
      a2.id,
    );
    assertEquals(
      (await s.findToken({ userName: "a@example.com", clientId: "1000.ONE" }))
        ?.id,
      a1.id,
    );
    assertEquals(
      await s.findToken({ userName: "a@example.com", clientId: "1000.THREE" }),
      null,
    );
    const any = await s.findToken({ userName: "a@example.com" });
    assert(any?.id === a1.id || any?.id === a2.id);
    // userName decides over tokens: a matching refresh token of another user is ignored
    assertEquals(
      await s.findToken({
        userName: "nobody@example.com",
        refreshToken: a1.refreshToken,
      }),
      null,
    );
    // clientSecret is not a matching field for rule 2
    assertEquals(
      (await s.findToken({
        userName: "a@example.com",
        clientId: "1000.ONE",
        clientSecret: "other",
      }))?.id,
      a1.id,
    );
  });

  test("rule 3: accessToken only without clientId and clientSecret", async (s) => {
    const a = await s.saveToken(full("a@example.com"));
    assertEquals(
      (await s.findToken({ accessToken: a.accessToken }))?.id,
      a.id,
    );
    assertEquals(await s.findToken({ accessToken: "1000.unknown" }), null);
    // with clientId the access token rule does not apply and nothing else is usable
    await assertRejects(
      () => s.findToken({ accessToken: a.accessToken, clientId: a.clientId }),
      TokenStoreError,
    );
    // with clientId and a refresh token, rule 4 decides
    assertEquals(
      (await s.findToken({
        accessToken: "1000.other",
        clientId: a.clientId,
        refreshToken: a.refreshToken,
      }))?.id,
      a.id,
    );
    // rule 3 precedes rule 4: a wrong access token is not rescued by a right refresh token
    assertEquals(
      await s.findToken({
        accessToken: "1000.other",
        refreshToken: a.refreshToken,
      }),
      null,
    );
  });

  test("rule 4: grantToken, else refreshToken, with clientId when given", async (s) => {
    const a = await s.saveToken(full("a@example.com", "1000.ONE"));
    const b = await s.saveToken(full("b@example.com", "1000.TWO"));
    assertEquals((await s.findToken({ grantToken: a.grantToken }))?.id, a.id);
    assertEquals(
      (await s.findToken({ refreshToken: b.refreshToken }))?.id,
      b.id,
    );
    // grant decides over refresh
    assertEquals(
      (await s.findToken({
        grantToken: a.grantToken,
        refreshToken: b.refreshToken,
      }))?.id,
      a.id,
    );
    assertEquals(
      await s.findToken({
        grantToken: "1000.none",
        refreshToken: b.refreshToken,
      }),
      null,
    );
    // clientId must equal too
    assertEquals(
      (await s.findToken({
        refreshToken: a.refreshToken,
        clientId: "1000.ONE",
      }))
        ?.id,
      a.id,
    );
    assertEquals(
      await s.findToken({ refreshToken: a.refreshToken, clientId: "1000.TWO" }),
      null,
    );
    assertEquals(
      await s.findToken({ grantToken: a.grantToken, clientId: "1000.TWO" }),
      null,
    );
  });

  test("rule 5: a query with nothing usable is INVALID_QUERY", async (s) => {
    await s.saveToken(full("a@example.com"));
    for (
      const query of [
        {},
        { clientId: "1000.CLIENT" },
        { clientSecret: "x", clientId: "1000.CLIENT" },
        { accessToken: "1000.a", clientSecret: "x" },
      ] as TokenQuery[]
    ) {
      const error = await assertRejects(
        () => s.findToken(query),
        TokenStoreError,
      );
      assertEquals(error.code, "INVALID_QUERY");
    }
    const error = await assertRejects(
      () => s.findToken({ userName: "" }),
      TokenStoreError,
    );
    assertEquals(error.code, "INVALID_QUERY");
    assert(error.message.includes("userName"));
  });

  test("findToken with an OAuthToken merges stored fields under the query's", async (s) => {
    const saved = await s.saveToken(full("m@example.com"));
    const query = token({
      userName: "m@example.com",
      clientId: "1000.CLIENT",
      redirectUrl: "https://other.example.com/cb",
    });
    const found = await s.findToken(query);
    assertExists(found);
    assert(found instanceof OAuthToken);
    assertEquals(found.id, saved.id);
    assertEquals(found.redirectUrl, "https://other.example.com/cb");
    assertEquals(found.refreshToken, saved.refreshToken);
    assertEquals(found.accessToken, saved.accessToken);
    assertEquals(found.expiresAt, saved.expiresAt);
    // the stored token is unchanged by the merge
    assertEquals(
      (await s.findTokenById(saved.id!))?.redirectUrl,
      "https://app.example.com/callback",
    );
    assertEquals(
      await s.findToken(token({ userName: "none@example.com" })),
      null,
    );
  });

  test("saveToken updates in place and keeps the id", async (s) => {
    const first = await s.saveToken(full("u@example.com"));
    const second = await s.saveToken(
      token({
        userName: "u@example.com",
        clientId: "1000.CLIENT",
        refreshToken: "1000.new-refresh",
        accessToken: "1000.new-access",
        expiresAt: 42,
      }),
    );
    assertEquals(second.id, first.id);
    const all = await s.getTokens();
    assertEquals(all.length, 1);
    assertEquals(all[0].refreshToken, "1000.new-refresh");
    assertEquals(all[0].accessToken, "1000.new-access");
    assertEquals(all[0].expiresAt, 42);
    // the old values no longer find it; the new ones do
    assertEquals(await s.findToken({ refreshToken: first.refreshToken }), null);
    assertEquals(await s.findToken({ accessToken: first.accessToken }), null);
    assertEquals(await s.findToken({ grantToken: first.grantToken }), null);
    assertEquals(
      (await s.findToken({ refreshToken: "1000.new-refresh" }))?.id,
      first.id,
    );
    assertEquals(
      (await s.findToken({ accessToken: "1000.new-access" }))?.id,
      first.id,
    );
    // by id: the token's id decides the row
    const third = await s.saveToken(
      second.with({ userName: "renamed@example.com" }),
    );
    assertEquals(third.id, first.id);
    assertEquals((await s.getTokens()).length, 1);
    assertEquals(
      (await s.findTokenById(first.id!))?.userName,
      "renamed@example.com",
    );
    assertEquals(await s.findToken({ userName: "u@example.com" }), null);
    // by refresh token when there is no user name
    const r = await s.saveToken(
      token({ refreshToken: "1000.solo", clientId: "1000.X" }),
    );
    const r2 = await s.saveToken(
      token({
        refreshToken: "1000.solo",
        clientId: "1000.X",
        accessToken: "1000.acc",
      }),
    );
    assertEquals(r2.id, r.id);
    assertEquals((await s.getTokens()).length, 2);
  });

  test("saveToken with an unknown id inserts it with that id", async (s) => {
    const saved = await s.saveToken(
      full("id@example.com").with({ id: "zoho-7" }),
    );
    assertEquals(saved.id, "zoho-7");
    assertEquals((await s.findTokenById("zoho-7"))?.userName, "id@example.com");
  });

  test("50 concurrent saveToken calls for one user leave exactly one row", async (s) => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        s.saveToken(
          token({
            userName: "race@example.com",
            clientId: "1000.CLIENT",
            refreshToken: `1000.refresh-${i}`,
          }),
        )),
    );
    const all = await s.getTokens();
    assertEquals(all.length, 1);
    assertEquals(new Set(results.map((t) => t.id)).size, 1);
    assertEquals(all[0].id, results[0].id);
    assert(/^1000\.refresh-\d+$/.test(all[0].refreshToken!));
  });

  test("several users and client ids live side by side", async (s) => {
    const saved: OAuthToken[] = [];
    for (const user of ["a@x.com", "b@x.com", "c@x.com"]) {
      for (const client of ["1000.A", "1000.B"]) {
        saved.push(await s.saveToken(full(user, client)));
      }
    }
    assertEquals(new Set(saved.map((t) => t.id)).size, 6);
    assertEquals(sortById(await s.getTokens()), sortById(saved));
    for (const t of saved) {
      const found = await s.findToken({
        userName: t.userName,
        clientId: t.clientId,
      });
      assertEquals(found?.toRecord(), t.toRecord());
      assertEquals(
        (await s.findToken({ refreshToken: t.refreshToken }))?.id,
        t.id,
      );
      assertEquals(
        (await s.findToken({ accessToken: t.accessToken }))?.id,
        t.id,
      );
    }
  });

  test("deleteToken, deleteTokens, getTokens and findTokenById", async (s) => {
    assertEquals(await s.getTokens(), []);
    const a = await s.saveToken(full("a@example.com"));
    const b = await s.saveToken(full("b@example.com"));
    assertEquals(await s.deleteToken(a.id!), true);
    assertEquals(await s.deleteToken(a.id!), false);
    assertEquals(await s.findTokenById(a.id!), null);
    assertEquals(await s.findToken({ userName: "a@example.com" }), null);
    assertEquals(await s.findToken({ refreshToken: a.refreshToken }), null);
    assertEquals(await s.findTokenById("missing"), null);
    assertEquals((await s.getTokens()).map((t) => t.id), [b.id]);
    await s.saveToken(full("c@example.com"));
    await s.deleteTokens();
    assertEquals(await s.getTokens(), []);
    assertEquals(await s.findToken({ userName: "b@example.com" }), null);
    // after deleteTokens the store works as new
    const again = await s.saveToken(full("b@example.com"));
    assertEquals((await s.getTokens()).map((t) => t.id), [again.id]);
  });

  test("malformed ids are INVALID_QUERY", async (s) => {
    for (const id of ["", "../etc/pas", "1' OR '1'='1", "01234567890"]) {
      for (const op of [() => s.findTokenById(id), () => s.deleteToken(id)]) {
        const error = await assertRejects(op, TokenStoreError);
        assertEquals(error.code, "INVALID_QUERY");
        assert(error.message.includes('"id"'));
      }
    }
  });

  test("a token without refresh, grant or access token is INVALID_TOKEN", async (s) => {
    const error = await assertRejects(
      () =>
        s.saveToken(token({ userName: "x@example.com", clientId: "1000.C" })),
      TokenStoreError,
    );
    assertEquals(error.code, "INVALID_TOKEN");
    assertEquals(await s.getTokens(), []);
  });

  test("hostile values round-trip exactly and match nothing else", async (s) => {
    const values = [
      `quote"double`,
      "quote'single",
      "back\\slash\\\\",
      "' OR '1'='1",
      "'; DROP TABLE oauthtoken; --",
      "100%",
      "under_score",
      "_",
      "%",
      "new\nline",
      "comma,separated",
      "ünïcødé ✓ 東京 🦕",
    ];
    const saved = new Map<string, OAuthToken>();
    for (const value of values) {
      if (options.unsupported?.test(value)) {
        const before = await s.getTokens();
        const error = await assertRejects(
          () => s.saveToken(token({ userName: value, refreshToken: "1000.r" })),
          TokenStoreError,
        );
        assertEquals(error.code, "INVALID_TOKEN");
        assertEquals(sortById(await s.getTokens()), sortById(before));
        continue;
      }
      saved.set(
        value,
        await s.saveToken(
          token({
            userName: value,
            clientId: value,
            refreshToken: `r:${value}`,
            accessToken: `a:${value}`,
            grantToken: `g:${value}`,
          }),
        ),
      );
    }
    // plain neighbours that LIKE-style or injected matching would hit
    const plain = await s.saveToken(
      token({ userName: "plain", clientId: "plain", refreshToken: "r:plain" }),
    );
    assertEquals((await s.getTokens()).length, saved.size + 1);
    for (const value of saved.keys()) {
      const expected = saved.get(value)!;
      const queries: TokenQuery[] = [
        { userName: value },
        { userName: value, clientId: value },
        { refreshToken: `r:${value}` },
        { refreshToken: `r:${value}`, clientId: value },
        { accessToken: `a:${value}` },
        { grantToken: `g:${value}` },
      ];
      for (const query of queries) {
        const found = await s.findToken(query);
        assertEquals(
          found?.toRecord(),
          expected.toRecord(),
          JSON.stringify(query),
        );
      }
    }
    assertEquals((await s.findTokenById(plain.id!))?.userName, "plain");
    assertEquals(await s.findToken({ userName: "' OR '1'='1x" }), null);
    assertEquals(await s.findToken({ userName: "%plain%" }), null);
    assertEquals(await s.findToken({ userName: "plai_" }), null);
  });

  test("NUL and lone surrogates are INVALID_TOKEN in a token and INVALID_QUERY in a query, and nothing is stored", async (s) => {
    const kept = await s.saveToken(full("kept@example.com"));
    const bad = [
      ["a NUL", "nul\u0000name"],
      ["a lone high surrogate", "high\uD800name"],
      ["a lone low surrogate", "\uDC00low"],
      ["a reversed pair", "pair\uDC00\uD800"],
    ] as const;
    for (const [what, value] of bad) {
      for (
        const init of [
          { userName: value, refreshToken: "1000.r" },
          {
            userName: "kept@example.com",
            clientId: "1000.CLIENT",
            refreshToken: value,
          },
          { ...kept.toRecord(), accessToken: value },
          { ...kept.toRecord(), clientSecret: value },
          { refreshToken: "1000.r", redirectUrl: value },
        ]
      ) {
        const field = Object.entries(init).find(([, v]) => v === value)![0];
        const error = await assertRejects(
          // a plain object, so that the store's own checks are what refuses it
          () => s.saveToken(init as unknown as OAuthToken),
          TokenStoreError,
          undefined,
          `${field} with ${what}`,
        );
        assertEquals(error.code, "INVALID_TOKEN", `${field} with ${what}`);
        assert(error.message.includes(`"${field}"`), error.message);
        assert(!error.message.includes(value), error.message);
      }
      for (
        const query of [
          { userName: value },
          { userName: "kept@example.com", clientId: value },
          { refreshToken: value },
          { accessToken: value },
          { grantToken: value, clientId: "1000.CLIENT" },
        ] as TokenQuery[]
      ) {
        const error = await assertRejects(
          () => s.findToken(query),
          TokenStoreError,
        );
        assertEquals(error.code, "INVALID_QUERY", `${JSON.stringify(query)}`);
      }
    }
    assertEquals(sortById(await s.getTokens()), sortById([kept]));
  });

  test("the longest values round-trip: four 4096-character secrets and the largest expiresAt", async (s) => {
    const secretLength = options.maxSecretLength ?? MAX_FIELD_LENGTH;
    const long = (prefix: string, length = secretLength) =>
      `${prefix}${"x".repeat(length - prefix.length - 1)}z`;
    const init = {
      userName: long("user@", MAX_FIELD_LENGTH),
      clientId: "1000.LONG",
      clientSecret: long("cs-"),
      refreshToken: long("1000.r-"),
      accessToken: long("1000.a-"),
      grantToken: long("1000.g-"),
      expiresAt: MAX_EXPIRES_AT,
      redirectUrl: "https://app.example.com/callback",
      apiDomain: "https://www.zohoapis.eu",
    };
    const saved = await s.saveToken(token(init));
    assertEquals(saved.toRecord(), { ...init, id: saved.id });
    assertEquals(
      (await s.findTokenById(saved.id!))?.toRecord(),
      saved.toRecord(),
    );
    for (
      const query of [
        { userName: init.userName, clientId: init.clientId },
        { accessToken: init.accessToken },
        { refreshToken: init.refreshToken, clientId: init.clientId },
        { grantToken: init.grantToken },
      ]
    ) {
      assertEquals(
        (await s.findToken(query))?.id,
        saved.id,
        Object.keys(query)[0],
      );
    }
    // the longest text of an expiresAt, and an update in place
    const updated = await s.saveToken(
      saved.with({
        expiresAt: 0.0000012345678901234567,
        accessToken: long("1000.b-"),
      }),
    );
    assertEquals(updated.id, saved.id);
    assertEquals((await s.getTokens()).map((t) => t.toRecord()), [
      updated.toRecord(),
    ]);
    if (secretLength < MAX_FIELD_LENGTH) {
      const error = await assertRejects(
        () =>
          s.saveToken(
            token({
              ...init,
              userName: "other@example.com",
              accessToken: long("1000.c-", MAX_FIELD_LENGTH),
            }),
          ),
        TokenStoreError,
      );
      assertEquals(error.code, "INVALID_TOKEN");
      assertEquals((await s.getTokens()).length, 1);
    }
  });

  test("secrets never appear in inspect, JSON or errors", async (s) => {
    const saved = await s.saveToken(full("secret@example.com"));
    const found = (await s.findToken({ userName: "secret@example.com" }))!;
    const secrets = [
      saved.clientSecret!,
      saved.refreshToken!,
      saved.accessToken!,
      saved.grantToken!,
    ];
    const outputs = [
      Deno.inspect(found),
      Deno.inspect([found], { depth: 5 }),
      Deno.inspect(await s.getTokens()),
      JSON.stringify(found),
      JSON.stringify(await s.getTokens()),
      String(found),
      `${saved}`,
    ];
    for (
      const bad of [
        () => s.findToken({ refreshToken: "" }),
        () =>
          s.saveToken(
            token({ userName: "x", clientSecret: saved.clientSecret }),
          ),
        () =>
          s.findToken({
            clientSecret: saved.clientSecret,
            accessToken: saved.accessToken,
          }),
      ]
    ) {
      const error = await assertRejects(bad);
      outputs.push(
        String(error),
        Deno.inspect(error),
        (error as Error).stack ?? "",
      );
    }
    for (const output of outputs) {
      for (const secret of secrets) {
        assert(
          !output.includes(secret),
          `secret printed in: ${output.slice(0, 200)}`,
        );
      }
    }
    assert(outputs[0].includes("secret@example.com"));
  });

  // Health (design "Health"): every built-in store keeps statuses beside
  // its tokens and removes a token's status with the token.
  const statuses = (s: TokenStore): TokenStatusStore => {
    assertExists(s.status, "every store in this package keeps statuses");
    return s.status;
  };
  const byId = (list: TokenStatus[]) =>
    [...list].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

  test("status: put, get, list and delete round-trip; put replaces the whole status", async (s) => {
    const status = statuses(s);
    const a = await s.saveToken(full("a@example.com"));
    const b = await s.saveToken(full("b@example.com"));
    assertEquals(await status.get(a.id!), null);
    assertEquals(await status.list(), []);
    const full1: TokenStatus = {
      id: a.id!,
      state: "failing",
      lastRefreshAt: 1_800_000_000_001,
      lastFailureAt: 1_800_000_000_002,
      lastError: "invalid_client",
      failures: 3,
      refreshTokenExpiresAt: 1_900_000_000_003,
    };
    const minimal: TokenStatus = { id: b.id!, state: "ok", failures: 0 };
    await status.put(full1);
    await status.put(minimal);
    assertEquals(await status.get(a.id!), full1);
    assertEquals(await status.get(b.id!), minimal);
    assertEquals(byId(await status.list()), byId([full1, minimal]));
    // a status is returned as a copy
    const read = (await status.get(a.id!))!;
    read.failures = 99;
    assertEquals((await status.get(a.id!))?.failures, 3);
    // upsert: the new status replaces every field, absent ones included
    const revoked: TokenStatus = {
      id: a.id!,
      state: "revoked",
      lastFailureAt: 1_800_000_000_009,
      lastError: "invalid_grant",
      failures: 4,
    };
    await status.put(revoked);
    assertEquals(await status.get(a.id!), revoked);
    assertEquals(byId(await status.list()), byId([revoked, minimal]));
    // extra fields are not kept
    await status.put({ ...minimal, note: "x" } as TokenStatus);
    assertEquals(await status.get(b.id!), minimal);
    // the tokens themselves are untouched
    assertEquals(
      sortById(await s.getTokens()),
      sortById([a, b]),
    );
    await status.delete(a.id!);
    assertEquals(await status.get(a.id!), null);
    assertEquals(await status.list(), [minimal]);
    assertExists(await s.findTokenById(a.id!), "the token stays");
    await status.delete(a.id!); // nothing there: no error
    // no status for an id nothing has: null
    assertEquals(await status.get("nosuch1"), null);
    await status.delete("nosuch1");
    assertEquals(await status.list(), [minimal]);
  });

  test("status: an invalid status is refused with INVALID_TOKEN and nothing written", async (s) => {
    const status = statuses(s);
    const a = await s.saveToken(full("a@example.com"));
    const kept: TokenStatus = {
      id: a.id!,
      state: "ok",
      lastRefreshAt: 1_800_000_000_000,
      failures: 0,
    };
    await status.put(kept);
    const id = a.id!;
    for (
      const bad of [
        null,
        "ok",
        {},
        { state: "ok", failures: 0 },
        { id: "", state: "ok", failures: 0 },
        { id: "bad id!", state: "ok", failures: 0 },
        { id: 7, state: "ok", failures: 0 },
        { id, state: "fine", failures: 0 },
        { id, failures: 0 },
        { id, state: "ok" },
        { id, state: "ok", failures: -1 },
        { id, state: "ok", failures: 1.5 },
        { id, state: "ok", failures: "1" },
        { id, state: "ok", failures: 0, lastRefreshAt: -1 },
        { id, state: "ok", failures: 0, lastRefreshAt: Number.NaN },
        { id, state: "ok", failures: 0, lastFailureAt: "2026-01-01" },
        { id, state: "ok", failures: 0, refreshTokenExpiresAt: 1.5 },
        { id, state: "ok", failures: 0, lastError: "" },
        { id, state: "ok", failures: 0, lastError: "Bearer 1000.secret" },
        { id, state: "ok", failures: 0, lastError: 401 },
      ]
    ) {
      const error = await assertRejects(
        () => status.put(bad as TokenStatus),
        TokenStoreError,
        undefined,
        JSON.stringify(bad),
      );
      assertEquals(error.code, "INVALID_TOKEN", JSON.stringify(bad));
    }
    assertEquals(await status.get(id), kept);
    assertEquals(await status.list(), [kept]);
  });

  test("status: deleteToken removes the token's status, deleteTokens every status", async (s) => {
    const status = statuses(s);
    const tokens = await Promise.all(
      ["a", "b", "c"].map((u) => s.saveToken(full(`${u}@example.com`))),
    );
    for (const [i, t] of tokens.entries()) {
      await status.put({ id: t.id!, state: "ok", failures: i });
    }
    assertEquals(await s.deleteToken(tokens[0].id!), true);
    assertEquals(await status.get(tokens[0].id!), null);
    assertEquals(
      byId(await status.list()),
      byId(
        tokens.slice(1).map((t, i) => ({
          id: t.id!,
          state: "ok" as const,
          failures: i + 1,
        })),
      ),
    );
    // a token saved again under the deleted id starts without a status
    const again = await s.saveToken(tokens[0]);
    assertEquals(again.id, tokens[0].id);
    assertEquals(await status.get(again.id!), null);
    // a status whose token is gone (a write that raced the delete) goes
    // with the next delete of its id, and with deleteTokens
    await status.put({ id: "orphan1", state: "failing", failures: 1 });
    assertEquals(await s.deleteToken("orphan1"), false);
    assertEquals(await status.get("orphan1"), null);
    await status.put({ id: "orphan2", state: "revoked", failures: 1 });
    await s.deleteTokens();
    assertEquals(await status.list(), []);
    for (const t of tokens) assertEquals(await status.get(t.id!), null);
    // and the store keeps working afterwards
    const next = await s.saveToken(full("d@example.com"));
    const fresh: TokenStatus = { id: next.id!, state: "ok", failures: 0 };
    await status.put(fresh);
    assertEquals(await status.list(), [fresh]);
  });

  test("lease is exclusive, expires after ttlMs and release frees only its own", async (s) => {
    const lock = s.lock;
    assertExists(lock, "every store in this package provides a lock");
    const first = await lock.acquire("refresh:a", { ttlMs: 10_000 });
    assertExists(first);
    assertEquals(first.key, "refresh:a");
    assertEquals(await lock.acquire("refresh:a", { ttlMs: 10_000 }), null);
    const other = await lock.acquire("refresh:b", { ttlMs: 10_000 });
    assertExists(other);
    await first.release();
    const second = await lock.acquire("refresh:a", { ttlMs: 150 });
    assertExists(second);
    // the released lease cannot free the new holder's lease
    await first.release();
    assertEquals(await lock.acquire("refresh:a", { ttlMs: 10_000 }), null);
    // expiry: after ttlMs another holder can take it
    await new Promise((r) => setTimeout(r, 250));
    const third = await lock.acquire("refresh:a", { ttlMs: 10_000 });
    assertExists(third);
    // the expired holder's release does not free the new holder
    await second.release();
    assertEquals(await lock.acquire("refresh:a", { ttlMs: 10_000 }), null);
    await third.release();
    await other.release();
    // concurrent acquirers: exactly one wins
    const racers = await Promise.all(
      Array.from(
        { length: 20 },
        () => lock.acquire("refresh:race", { ttlMs: 10_000 }),
      ),
    );
    assertEquals(racers.filter((l) => l !== null).length, 1);
    await racers.find((l) => l !== null)!.release();
    // bad arguments: the same TypeError in every store
    for (
      const [key, ttlMs, names] of [
        ["", 1000, "key"],
        ["k".repeat(256), 1000, "key"],
        ["k", 0, "ttlMs"],
        ["k", Number.NaN, "ttlMs"],
        ["k", "1000", "ttlMs"],
      ] as const
    ) {
      const error = await assertRejects(
        () => lock.acquire(key, { ttlMs: ttlMs as number }),
        TypeError,
      );
      assert(error.message.includes(names), error.message);
    }
  });

  test("lease renew extends it while still ours, false once released or taken over", async (s) => {
    const lock = s.lock;
    assertExists(lock, "every store in this package provides a lock");
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const lease = await lock.acquire("refresh:renew", { ttlMs: 300 });
    assertExists(lease);
    assertExists(lease.renew, "every store in this package renews leases");
    assertEquals(await lease.renew({ ttlMs: 2_000 }), true);
    // past the original ttlMs: the renewal keeps it ours
    await sleep(500);
    assertEquals(await lock.acquire("refresh:renew", { ttlMs: 10_000 }), null);
    assertEquals(await lease.renew({ ttlMs: 2_000 }), true);
    await lease.release();
    assertEquals(await lease.renew({ ttlMs: 10_000 }), false);
    // released means free: the failed renewal did not take it back
    const short = await lock.acquire("refresh:renew", { ttlMs: 150 });
    assertExists(short);
    assertEquals(await lease.renew({ ttlMs: 10_000 }), false);
    // expired and taken over: false, and the new holder keeps it
    await sleep(250);
    const next = await lock.acquire("refresh:renew", { ttlMs: 10_000 });
    assertExists(next);
    assertEquals(await short.renew!({ ttlMs: 10_000 }), false);
    assertEquals(await lock.acquire("refresh:renew", { ttlMs: 10_000 }), null);
    assertEquals(await next.renew!({ ttlMs: 10_000 }), true);
    // bad ttlMs: the same TypeError as acquire, and the lease is unchanged
    for (const ttlMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "1000"]) {
      const error = await assertRejects(
        () => next.renew!({ ttlMs: ttlMs as number }),
        TypeError,
      );
      assert(error.message.includes("ttlMs"), error.message);
    }
    await assertRejects(
      () => next.renew!(undefined as unknown as { ttlMs: number }),
      TypeError,
    );
    assertEquals(await lock.acquire("refresh:renew", { ttlMs: 10_000 }), null);
    // the new expiry is ttlMs from now, even when shorter than before
    assertEquals(await next.renew!({ ttlMs: 150 }), true);
    await sleep(250);
    const last = await lock.acquire("refresh:renew", { ttlMs: 10_000 });
    assertExists(last);
    assertEquals(await next.renew!({ ttlMs: 10_000 }), false);
    await last.release();
  });

  test("lease isHeld tells whether a lease lasts, and takes nothing", async (s) => {
    const lock = s.lock;
    assertExists(lock, "every store in this package provides a lock");
    assertExists(lock.isHeld, "every store in this package reads leases");
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    assertEquals(await lock.isHeld("outcome:held"), false);
    // asking took nothing: the key is still free
    const lease = await lock.acquire("outcome:held", { ttlMs: 10_000 });
    assertExists(lease);
    assertEquals(await lock.isHeld("outcome:held"), true);
    assertEquals(await lock.isHeld("outcome:other"), false);
    await lease.release();
    assertEquals(await lock.isHeld("outcome:held"), false);
    // expired: no longer held, though nobody released it
    const short = await lock.acquire("outcome:held", { ttlMs: 150 });
    assertExists(short);
    assertEquals(await lock.isHeld("outcome:held"), true);
    await sleep(250);
    assertEquals(await lock.isHeld("outcome:held"), false);
    const next = await lock.acquire("outcome:held", { ttlMs: 10_000 });
    assertExists(next);
    assertEquals(await lock.isHeld("outcome:held"), true);
    await next.release();
    for (const key of ["", "k".repeat(256), 42]) {
      await assertRejects(() => lock.isHeld!(key as string), TypeError);
    }
  });
}

/**
 * Another process's stale lease is taken over: once `crash` has made `lease`
 * (on `refresh:clock`) look like one left by a process that died, the lock
 * hands the key to a new holder; the stale holder's release has no effect;
 * released, the key can be taken again.
 *
 * @param lock The lock.
 * @param lease A lease on `refresh:clock`.
 * @param crash Makes the lease stale, as a dead process leaves it.
 * @param ttlMs The new holder's TTL.
 */
export async function assertStaleLeaseTakenOver(
  lock: TokenLock,
  lease: Lease,
  crash: () => Promise<unknown>,
  ttlMs: number,
): Promise<void> {
  await crash();
  const taken = await lock.acquire("refresh:clock", { ttlMs });
  assert(taken);
  await lease.release(); // not the holder any more: no effect
  assertEquals(await lock.acquire("refresh:clock", { ttlMs: 1_000 }), null);
  await taken.release();
  const again = await lock.acquire("refresh:clock", { ttlMs: 1_000 });
  assert(again);
  await again.release();
}
