import {
  assert,
  assertEquals,
  assertMatch,
  assertNotStrictEquals,
  assertThrows,
} from "@std/assert";
import {
  MAX_EXPIRES_AT,
  MAX_FIELD_LENGTH,
  OAuthToken,
  SECRET_FIELDS,
  TOKEN_FIELDS,
  validateField,
} from "../core/token.ts";
import { newTokenId } from "../core/id.ts";
import {
  OAuthError,
  RateLimitError,
  TokenRevokedError,
  TokenStoreError,
} from "../core/errors.ts";
import { mergeFound, planQuery } from "../core/token_store.ts";

const SECRETS = {
  clientSecret: "client-secret-value-0123456789",
  grantToken: "1000.grant-value-0123456789abcdef",
  refreshToken: "1000.refresh-value-0123456789abcdef",
  accessToken: "1000.access-value-0123456789abcdef",
};

const full = new OAuthToken({
  id: "abc123",
  userName: "ada@example.com",
  clientId: "1000.CLIENTID",
  redirectUrl: "https://app.example.com/cb",
  apiDomain: "https://www.zohoapis.com",
  expiresAt: 1_700_000_000_000,
  ...SECRETS,
});

Deno.test("OAuthToken exposes every field and toRecord returns them", () => {
  assertEquals(full.userName, "ada@example.com");
  assertEquals(full.refreshToken, SECRETS.refreshToken);
  assertEquals(full.toRecord(), {
    id: "abc123",
    userName: "ada@example.com",
    clientId: "1000.CLIENTID",
    redirectUrl: "https://app.example.com/cb",
    apiDomain: "https://www.zohoapis.com",
    expiresAt: 1_700_000_000_000,
    ...SECRETS,
  });
  // undefined fields are left out
  assertEquals(
    Object.keys(
      new OAuthToken({ userName: "x", accessToken: undefined }).toRecord(),
    ),
    ["userName"],
  );
});

Deno.test("OAuthToken is immutable and with() returns an updated copy", () => {
  const updated = full.with({ accessToken: "1000.new", expiresAt: 5 });
  assertNotStrictEquals(updated, full);
  assertEquals(full.accessToken, SECRETS.accessToken);
  assertEquals(updated.accessToken, "1000.new");
  assertEquals(updated.expiresAt, 5);
  assertEquals(updated.userName, full.userName);
  assertEquals(full.with({ grantToken: undefined }).grantToken, undefined);
  assertThrows(() => {
    (full as unknown as { userName: string }).userName = "eve";
  }, TypeError);
  assertThrows(() => {
    (full as unknown as Record<string, unknown>).extra = 1;
  }, TypeError);
  // the record is a copy
  const record = full.toRecord();
  record.userName = "eve";
  assertEquals(full.userName, "ada@example.com");
});

Deno.test("isExpired honours now and skew, and a missing access token is expired", () => {
  const token = new OAuthToken({ accessToken: "1000.a", expiresAt: 10_000 });
  assertEquals(token.isExpired({ now: 9_999 }), false);
  assertEquals(token.isExpired({ now: 10_000 }), true);
  assertEquals(token.isExpired({ now: 5_000, skewMs: 4_999 }), false);
  assertEquals(token.isExpired({ now: 5_000, skewMs: 5_000 }), true);
  assertEquals(new OAuthToken({ refreshToken: "1000.r" }).isExpired(), true);
  assertEquals(new OAuthToken({ accessToken: "1000.a" }).isExpired(), true);
  assertEquals(
    new OAuthToken({ accessToken: "1000.a", expiresAt: Date.now() + 60_000 })
      .isExpired(),
    false,
  );
});

Deno.test("no secret appears in JSON, String or Deno.inspect", () => {
  const outputs = [
    JSON.stringify(full),
    JSON.stringify({ nested: [full] }),
    String(full),
    `${full}`,
    Deno.inspect(full),
    Deno.inspect({ deep: { deeper: [full] } }, { depth: 10 }),
    Deno.inspect(full, { colors: true }),
  ];
  for (const output of outputs) {
    for (const secret of Object.values(SECRETS)) {
      assert(!output.includes(secret), `secret in ${output}`);
    }
    assert(output.includes("ada@example.com"), output);
    assert(output.includes("redacted"), output);
  }
  assertEquals(full.toJSON().refreshToken, "1000.…(redacted)");
  // spreading or listing the object does not reveal secrets either
  assertEquals(Object.keys(full), []);
  assertEquals(JSON.stringify({ ...full }), "{}");
});

Deno.test("constructor rejects bad fields with INVALID_TOKEN naming the field", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ userName: "" }, "userName"],
    [{ userName: 42 }, "userName"],
    [{ refreshToken: "x".repeat(5000) }, "refreshToken"],
    [{ expiresAt: Number.NaN }, "expiresAt"],
    [{ expiresAt: -1 }, "expiresAt"],
    [{ expiresAt: "soon" }, "expiresAt"],
    [{ id: "../../etc" }, "id"],
    [{ id: "12345678901" }, "id"],
    [{ id: "1; DROP" }, "id"],
  ];
  for (const [init, field] of cases) {
    const error = assertThrows(
      () => new OAuthToken(init as never),
      TokenStoreError,
    );
    assertEquals(error.code, "INVALID_TOKEN");
    assert(error.message.includes(`"${field}"`), error.message);
  }
  const error = assertThrows(
    () => new OAuthToken(null as never),
    TokenStoreError,
  );
  assertEquals(error.code, "INVALID_TOKEN");
});

Deno.test("a rejected secret is never echoed in the error", () => {
  const secret = "x".repeat(4097) + "SECRET-TAIL";
  const error = assertThrows(
    () => new OAuthToken({ refreshToken: secret }),
    TokenStoreError,
  );
  assert(!error.message.includes("SECRET-TAIL"));
  assert(!error.message.includes("xxxxxxxx"));
});

const STRING_FIELDS = TOKEN_FIELDS.filter((f) =>
  f !== "expiresAt" && f !== "id"
);

Deno.test("TOKEN_FIELDS lists every field once, secrets included, and cannot be changed", () => {
  assertEquals(TOKEN_FIELDS, [
    "id",
    "userName",
    "clientId",
    "clientSecret",
    "redirectUrl",
    "grantToken",
    "refreshToken",
    "accessToken",
    "expiresAt",
    "apiDomain",
  ]);
  assertEquals([...TOKEN_FIELDS].sort(), Object.keys(full.toRecord()).sort());
  for (const field of SECRET_FIELDS) assert(TOKEN_FIELDS.includes(field));
  assert(Object.isFrozen(TOKEN_FIELDS));
});

Deno.test("NUL and lone surrogates are refused in every string field, naming the field, never the value", () => {
  const bad: [string, string, RegExp][] = [
    ["NUL", "sec\u0000ret-value", /NUL character \(U\+0000\)/],
    ["NUL at the end", "secret-value\u0000", /NUL/],
    ["lone high surrogate", "secret\uD83D-value", /lone surrogate at index 6/],
    ["lone low surrogate", "\uDE00secret-value", /lone surrogate at index 0/],
    ["high surrogate at the end", "secret-value\uD83D", /lone surrogate/],
    ["reversed pair", "secret\uDE00\uD83D-value", /lone surrogate/],
  ];
  for (const field of STRING_FIELDS) {
    for (const [what, value, problem] of bad) {
      for (const code of ["INVALID_TOKEN", "INVALID_QUERY"] as const) {
        const error = assertThrows(
          () => validateField(field, value, code),
          TokenStoreError,
          undefined,
          `${field} with ${what}`,
        );
        assertEquals(error.code, code);
        assert(error.message.includes(`"${field}"`), error.message);
        assertMatch(error.message, problem);
        assert(!error.message.includes("secret"), error.message);
      }
      const error = assertThrows(
        () => new OAuthToken({ refreshToken: "1000.r", [field]: value }),
        TokenStoreError,
      );
      assertEquals(error.code, "INVALID_TOKEN");
    }
    // well-formed pairs, any plane, and every other control character are fine
    for (
      const value of [
        "🦕 東京 é",
        "\uD83D\uDE00",
        "tab\tnew\nline\u0001\u007F",
        "\uFFFF\uFFFE",
      ]
    ) {
      validateField(field, value, "INVALID_TOKEN");
    }
  }
  // ids never had room for either
  assertThrows(
    () => validateField("id", "a\u0000b", "INVALID_QUERY"),
    TokenStoreError,
  );
});

Deno.test("NUL and lone surrogates are refused where String.prototype.isWellFormed is missing", async () => {
  const token = new URL("../core/token.ts", import.meta.url).href;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `delete String.prototype.isWellFormed;
       const { validateField } = await import(${JSON.stringify(token)});
       const refused = (v) => { try { validateField("userName", v, "INVALID_TOKEN"); return false; } catch { return true; } };
       console.log(JSON.stringify(["a\\uD800", "\\uDC00b", "\\uDC00\\uD800", "a\\u0000", "ok\\uD83D\\uDE00", "ok"].map(refused)));`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  assertEquals(
    JSON.parse(new TextDecoder().decode(output.stdout)),
    [true, true, true, true, false, false],
  );
});

Deno.test("expiresAt is any finite number from 0 to MAX_EXPIRES_AT, the largest Date", () => {
  assertEquals(MAX_EXPIRES_AT, 8.64e15);
  assertEquals(new Date(MAX_EXPIRES_AT).getTime(), MAX_EXPIRES_AT);
  assert(Number.isNaN(new Date(MAX_EXPIRES_AT + 1).getTime()));
  for (
    const value of [
      0,
      1.5,
      0.0000012345678901234567,
      1_800_000_000_123,
      MAX_EXPIRES_AT,
    ]
  ) {
    assertEquals(new OAuthToken({ expiresAt: value }).expiresAt, value);
    // as text (SQL expiry_time, Zoho CSV) it reads back exactly, in 24 characters at most
    assertEquals(Number(String(value)), value);
    assert(String(value).length <= 24);
  }
  assertEquals(String(MAX_EXPIRES_AT).length, 16);
  // an endpoint's `expires_in: 1e17` seconds lands past it
  for (
    const value of [MAX_EXPIRES_AT + 2, 1e20, Number.MAX_VALUE, Infinity, -0.5]
  ) {
    const error = assertThrows(
      () => new OAuthToken({ expiresAt: value }),
      TokenStoreError,
    );
    assertEquals(error.code, "INVALID_TOKEN");
    assert(error.message.includes(String(MAX_EXPIRES_AT)), error.message);
  }
  assertEquals(MAX_FIELD_LENGTH, 4096);
});

Deno.test("newTokenId gives distinct URL-safe ids of 10 characters, never starting with - or _ (a CLI would take it for an option)", () => {
  const ids = new Set(Array.from({ length: 10_000 }, newTokenId));
  assertEquals(ids.size, 10_000);
  for (const id of ids) assert(/^[A-Za-z0-9][A-Za-z0-9_-]{9}$/.test(id), id);
  // every letter and digit comes first sometimes
  assertEquals(new Set([...ids].map((id) => id[0])).size, 62);
});

Deno.test("planQuery: the same query object asked again is planned again when any field changed", () => {
  const query: Record<string, unknown> = { userName: "u" };
  const first = planQuery(query);
  assertEquals(first.rule, "userName");
  assert(planQuery(query) === first, "asked again unchanged: the same plan");
  query.clientId = "c";
  assertEquals(planQuery(query).conditions, [["userName", "u"], [
    "clientId",
    "c",
  ]]);
  query.id = "42";
  assertEquals(planQuery(query).rule, "id");
  delete query.id;
  query.userName = "v";
  assertEquals(planQuery(query).conditions, [["userName", "v"], [
    "clientId",
    "c",
  ]]);
  // a field made malformed is refused, not served from the plan before
  query.userName = "a\u0000b";
  assertThrows(() => planQuery(query), TokenStoreError, "userName");
  // a getter that starts throwing is reported as the query's fault
  let reads = 0;
  const tricky = {
    get userName() {
      if (++reads > 1) throw new Error("gone");
      return "u";
    },
  };
  assertEquals(planQuery(tricky).rule, "userName");
  assertThrows(() => planQuery(tricky), TokenStoreError, "userName");
});

Deno.test("planQuery follows the rule order", () => {
  assertEquals(planQuery({ id: "a", userName: "u" }).rule, "id");
  assertEquals(
    planQuery({ userName: "u", refreshToken: "r" }).rule,
    "userName",
  );
  assertEquals(
    planQuery({ userName: "u", clientId: "c" }).conditions,
    [["userName", "u"], ["clientId", "c"]],
  );
  assertEquals(
    planQuery({ accessToken: "a", grantToken: "g" }).rule,
    "accessToken",
  );
  assertEquals(
    planQuery({ accessToken: "a", clientId: "c", grantToken: "g" }).conditions,
    [["grantToken", "g"], ["clientId", "c"]],
  );
  assertEquals(
    planQuery({ accessToken: "a", clientSecret: "s", refreshToken: "r" })
      .conditions,
    [["refreshToken", "r"]],
  );
  assertEquals(
    planQuery({ grantToken: "g", refreshToken: "r" }).rule,
    "grantToken",
  );
  const error = assertThrows(
    () => planQuery({ clientId: "c" }),
    TokenStoreError,
  );
  assertEquals(error.code, "INVALID_QUERY");
  assertEquals(
    assertThrows(() => planQuery(null as never), TokenStoreError).code,
    "INVALID_QUERY",
  );
});

Deno.test("mergeFound puts the query's fields over the stored ones", () => {
  const stored = new OAuthToken({
    id: "s1",
    userName: "u",
    refreshToken: "1000.r",
    apiDomain: "d1",
  });
  const query = new OAuthToken({ userName: "u", apiDomain: "d2" });
  const merged = mergeFound(query, stored)!;
  assertEquals(merged.toRecord(), {
    id: "s1",
    userName: "u",
    refreshToken: "1000.r",
    apiDomain: "d2",
  });
  assertEquals(mergeFound({ userName: "u" }, stored), stored);
  assertEquals(mergeFound(query, null), null);
});

Deno.test("errors set name, code, cause and are instances of Error", () => {
  const cause = new Error("underlying");
  const store = new TokenStoreError("BACKEND", "Cannot reach database", {
    cause,
  });
  assertEquals([store.name, store.code, store.cause], [
    "TokenStoreError",
    "BACKEND",
    cause,
  ]);
  const oauth = new OAuthError("invalid_client", {
    status: 401,
    description: "bad client",
  });
  assertEquals([oauth.name, oauth.code, oauth.status, oauth.description], [
    "OAuthError",
    "invalid_client",
    401,
    "bad client",
  ]);
  assert(oauth.message.includes('"invalid_client"'));
  const rate = new RateLimitError("access_denied", { retryAfterMs: 3000 });
  assert(rate instanceof OAuthError && rate instanceof Error);
  assertEquals([rate.name, rate.retryAfterMs], ["RateLimitError", 3000]);
  const revoked = new TokenRevokedError("invalid_grant");
  assert(revoked instanceof OAuthError);
  assertEquals(revoked.name, "TokenRevokedError");
});
