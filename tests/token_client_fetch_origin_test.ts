/**
 * Design "Connect" rule 8: `client.fetch` sends an access token only to the
 * origin of the token's `apiDomain` or to `allowedOrigins`; a token without
 * an `apiDomain` goes to any `https:` origin or `http:` on loopback unless
 * `allowedOrigins` is set. Anything else is a `TypeError` before anything is
 * sent. And an `api_domain` that is not `https:` (or loopback `http:`) in a
 * token answer is not stored.
 *
 * The APIs are recording servers on 127.0.0.1; the client's `fetch` records
 * every request it is asked to send, passes those for 127.0.0.1 on, and
 * answers any other host itself (nothing leaves the machine): a refused
 * request shows as no entry at all.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { OAuthToken } from "../core/token.ts";
import { TokenClient, type TokenClientOptions } from "../core/token_client.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import {
  type RecordingServer,
  startRecordingServer,
} from "./fixtures/recording_server.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";

const HOUR = 3_600_000;

/** A `fetch` that records each request; only 127.0.0.1 is really reached. */
function recordingFetch() {
  const sent: { url: string; authorization: string | null }[] = [];
  const fetchFn = (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const authorization = request.headers.get("authorization");
    sent.push({ url: request.url, authorization });
    if (new URL(request.url).hostname === "127.0.0.1") return fetch(request);
    // a stand-in for a remote API: never on the network
    return Promise.resolve(Response.json({ stub: request.url, authorization }));
  };
  return { fetch: fetchFn, sent };
}

interface Apis extends AsyncDisposable {
  api: RecordingServer;
  other: RecordingServer;
  store: MemoryTokenStore;
  sent: { url: string; authorization: string | null }[];
  client(options?: Partial<TokenClientOptions>): TokenClient;
}

/** Two API servers, a store with `ada` (apiDomain: `api`) and `nod` (no apiDomain). */
async function apis(): Promise<Apis> {
  const api = await startRecordingServer();
  const other = await startRecordingServer();
  const store = new MemoryTokenStore();
  const expiresAt = Date.now() + HOUR;
  await store.saveToken(
    new OAuthToken({
      userName: "ada",
      accessToken: "1000.ada-access",
      expiresAt,
      apiDomain: api.origin,
    }),
  );
  await store.saveToken(
    new OAuthToken({
      userName: "nod",
      accessToken: "1000.nod-access",
      expiresAt,
    }),
  );
  const recorder = recordingFetch();
  return {
    api,
    other,
    store,
    sent: recorder.sent,
    client: (options = {}) =>
      new TokenClient({
        store,
        clientId: "1000.C",
        clientSecret: "s",
        fetch: recorder.fetch,
        ...options,
      }),
    async [Symbol.asyncDispose]() {
      await api.close();
      await other.close();
    },
  };
}

/** Asserts that fetching `input` as `user` is refused, naming `origin`, with nothing sent. */
async function assertRefused(
  s: Apis,
  client: TokenClient,
  user: string,
  input: string | URL | Request,
  origin: string | undefined,
  init: RequestInit = {},
): Promise<void> {
  const before = s.sent.length;
  const error = await assertRejects(
    () => client.fetch(input, { ...init, token: { userName: user } }),
    TypeError,
  );
  if (origin !== undefined) {
    assert(error.message.includes(`"${origin}"`), error.message);
  }
  assert(!error.message.includes("-access"), error.message);
  assertEquals(s.sent.length, before, `nothing sent for ${String(input)}`);
}

Deno.test("fetch sends a token with an apiDomain to that origin only", async () => {
  await using s = await apis();
  const client = s.client();
  const ada = { token: { userName: "ada" } };
  const responses = [
    await client.fetch("/crm/v8/Leads?page=2", ada),
    await client.fetch(`${s.api.origin}/absolute`, ada),
    await client.fetch(new URL("/as-url", s.api.origin), ada),
    await client.fetch(
      new Request(`${s.api.origin}/as-request`, { method: "POST", body: "b" }),
      ada,
    ),
  ];
  assert(responses.every((r) => r.status === 200));
  await Promise.all(responses.map((r) => r.body?.cancel()));
  assertEquals(
    s.api.seen.map((r) => [r.method, r.path, r.authorization, r.body]),
    [
      ["GET", "/crm/v8/Leads?page=2", "Zoho-oauthtoken 1000.ada-access", ""],
      ["GET", "/absolute", "Zoho-oauthtoken 1000.ada-access", ""],
      ["GET", "/as-url", "Zoho-oauthtoken 1000.ada-access", ""],
      ["POST", "/as-request", "Zoho-oauthtoken 1000.ada-access", "b"],
    ],
  );
  assertEquals(s.sent.length, 4);

  const port = new URL(s.api.origin).port;
  const refused: [string | URL | Request, string][] = [
    [`${s.other.origin}/steal`, s.other.origin],
    [new URL("/steal", s.other.origin), s.other.origin],
    [
      new Request(`${s.other.origin}/steal`, { method: "POST", body: "x" }),
      s.other.origin,
    ],
    // the same port on another host name is another origin
    [`http://localhost:${port}/steal`, `http://localhost:${port}`],
    // a protocol-relative path leaves the apiDomain
    ["//evil.example/steal", "http://evil.example"],
    ["https://www.zohoapis.com/crm/v8/Leads", "https://www.zohoapis.com"],
    ["https://evil.example/steal", "https://evil.example"],
  ];
  for (const [input, origin] of refused) {
    await assertRefused(s, client, "ada", input, origin);
  }
  assertEquals(s.other.seen.length, 0);
  assertEquals([s.api.seen.length, s.sent.length], [4, 4]);
});

Deno.test("fetch sends a token without an apiDomain to any https origin and to http on loopback only", async () => {
  await using s = await apis();
  const client = s.client();
  const nod = { token: { userName: "nod" } };
  const port = new URL(s.api.origin).port;
  const allowed = [
    "https://api.example.com/v1",
    "https://other.example:8443/v1",
    `${s.api.origin}/v1`,
    `${s.other.origin}/v1`,
    "http://localhost:1/v1",
    "http://[::1]:1/v1",
    "http://127.1.2.3:1/v1",
  ];
  for (const url of allowed) {
    const response = await client.fetch(url, nod);
    assertEquals(response.status, 200, url);
    await response.body?.cancel();
  }
  assertEquals(
    s.sent.map((r) => [r.url, r.authorization]),
    allowed.map((url) => [url, "Zoho-oauthtoken 1000.nod-access"]),
  );
  assertEquals([s.api.seen.length, s.other.seen.length], [1, 1]);

  const refused: [string, string | undefined][] = [
    ["http://api.example.com/v1", "http://api.example.com"],
    ["http://10.0.0.1/v1", "http://10.0.0.1"],
    ["http://localhost.example.com/v1", "http://localhost.example.com"],
    [`http://127.0.0.1.example.com:${port}/v1`, undefined],
    ["ftp://files.example/v1", "ftp://files.example"],
    ["data:text/plain,hi", "data:"],
    // a relative path has nothing to resolve against
    ["/v1", undefined],
  ];
  for (const [url, origin] of refused) {
    await assertRefused(s, client, "nod", url, origin);
  }
  assertEquals(s.sent.length, allowed.length);
  assertEquals([s.api.seen.length, s.other.seen.length], [1, 1]);
});

Deno.test("allowedOrigins adds origins for every token and restricts those without an apiDomain", async () => {
  await using s = await apis();
  const client = s.client({
    allowedOrigins: [s.other.origin, "https://partner.example/ignored-path"],
  });
  const ada = { token: { userName: "ada" } };
  const nod = { token: { userName: "nod" } };
  for (
    const [url, init] of [
      ["/own", ada],
      [`${s.other.origin}/extra`, ada],
      ["https://partner.example/extra", ada],
      [`${s.other.origin}/only`, nod],
      ["https://partner.example/only", nod],
    ] as const
  ) {
    const response = await client.fetch(url, init);
    assertEquals(response.status, 200, url);
    await response.body?.cancel();
  }
  assertEquals(
    s.sent.map((r) => r.authorization),
    [
      ...Array(3).fill("Zoho-oauthtoken 1000.ada-access"),
      ...Array(2).fill("Zoho-oauthtoken 1000.nod-access"),
    ],
  );
  assertEquals(s.other.seen.map((r) => r.path), ["/extra", "/only"]);

  await assertRefused(
    s,
    client,
    "ada",
    "https://evil.example/",
    "https://evil.example",
  );
  // no apiDomain: only allowedOrigins, not every https or loopback origin
  await assertRefused(s, client, "nod", `${s.api.origin}/v1`, s.api.origin);
  await assertRefused(
    s,
    client,
    "nod",
    "https://api.example.com/",
    "https://api.example.com",
  );
  assertEquals(s.sent.length, 5);
  assertEquals(s.api.seen.length, 1);
});

Deno.test("an api_domain that is not https or loopback http is not stored", async () => {
  const previous = "https://www.zohoapis.eu";
  const cases: [string | undefined, boolean][] = [
    ["http://evil.example", false],
    ["ftp://files.example", false],
    ["javascript:alert(1)", false],
    ["not a url", false],
    ["https://www.zohoapis.com", true],
    // the fixture's default: its own origin, http on 127.0.0.1
    [undefined, true],
  ];
  for (const [apiDomain, stored] of cases) {
    await using server = await startTokenServer({ apiDomain });
    const expected = apiDomain ?? server.origin;
    const store = new MemoryTokenStore();
    const client = new TokenClient({
      store,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      redirectUrl: DEFAULT_CLIENT.redirectUrl,
      tokenUrl: server.url,
    });
    const refreshToken = server.issueRefreshToken({ userName: "ada" });
    await store.saveToken(
      new OAuthToken({ userName: "ada", refreshToken, apiDomain: previous }),
    );
    await store.saveToken(
      new OAuthToken({
        userName: "bob",
        refreshToken: server.issueRefreshToken({ userName: "bob" }),
      }),
    );
    const ada = await client.refresh({ userName: "ada" });
    const bob = await client.refresh({ userName: "bob" });
    const cyd = await client.exchangeGrantToken(
      server.issueGrantCode({ userName: "cyd" }),
      { userName: "cyd" },
    );
    const shown = JSON.stringify(apiDomain);
    assertEquals(ada.apiDomain, stored ? expected : previous, shown);
    assertEquals(bob.apiDomain, stored ? expected : undefined, shown);
    assertEquals(cyd.apiDomain, stored ? expected : undefined, shown);
    assertEquals(
      (await store.getTokens()).map((t) => [t.userName, t.apiDomain]).sort(),
      [
        ["ada", ada.apiDomain],
        ["bob", bob.apiDomain],
        ["cyd", cyd.apiDomain],
      ],
    );
    assertEquals(server.stats().issued, 3);
  }
});
