/**
 * Design "Connect" rule 8, redirects: `client.fetch` follows redirects
 * itself and adds the `Authorization` header only on hops to an origin the
 * token may go to; a redirect elsewhere is followed without it. Methods and
 * bodies change as `fetch` changes them (303 → GET; 301/302 turn a POST into
 * a GET; 307/308 keep both). Two real API servers on 127.0.0.1 (two origins).
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { OAuthToken } from "../core/token.ts";
import { TokenClient, type TokenClientOptions } from "../core/token_client.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import {
  echo,
  type RecordingServer,
  type SeenRequest,
  startRecordingServer,
} from "./fixtures/recording_server.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";

const AUTH = "Zoho-oauthtoken 1000.ada-access";

function redirect(status: number, location: string): Response {
  return new Response(`redirected ${status}`, {
    status,
    headers: { location },
  });
}

interface Servers extends AsyncDisposable {
  /** The token's API: `/<status>` redirects to `/echo`, `/to-other` elsewhere. */
  api: RecordingServer;
  /** Another origin: `/back` redirects to the API, `/401` refuses. */
  other: RecordingServer;
  store: MemoryTokenStore;
  client(options?: Partial<TokenClientOptions>): TokenClient;
}

async function servers(): Promise<Servers> {
  let otherOrigin = "";
  const api = await startRecordingServer((seen, origin) => {
    const path = new URL(seen.url).pathname;
    const status = Number(path.slice(1));
    if ([301, 302, 303, 307, 308].includes(status)) {
      return redirect(status, "/echo");
    }
    if (path === "/to-other") return redirect(302, `${otherOrigin}/landing`);
    if (path === "/to-other-307") return redirect(307, `${otherOrigin}/echo`);
    if (path === "/to-other-401") return redirect(302, `${otherOrigin}/401`);
    if (path === "/to-same") return redirect(302, `${origin}/landing`);
    if (path === "/via-other") return redirect(302, `${otherOrigin}/back`);
    if (path === "/loop") return redirect(302, "/loop");
    if (path === "/401") return new Response(null, { status: 401 });
    return echo(seen, origin);
  });
  const other = await startRecordingServer((seen, origin) => {
    const path = new URL(seen.url).pathname;
    if (path === "/back") return redirect(307, `${api.origin}/echo`);
    if (path === "/401") return new Response(null, { status: 401 });
    return echo(seen, origin);
  });
  otherOrigin = other.origin;
  const store = new MemoryTokenStore();
  await store.saveToken(
    new OAuthToken({
      userName: "ada",
      accessToken: "1000.ada-access",
      expiresAt: Date.now() + 3_600_000,
      apiDomain: api.origin,
    }),
  );
  return {
    api,
    other,
    store,
    client: (options = {}) =>
      new TokenClient({
        store,
        clientId: "1000.C",
        clientSecret: "s",
        ...options,
      }),
    async [Symbol.asyncDispose]() {
      await api.close();
      await other.close();
    },
  };
}

const ada = { token: { userName: "ada" } };

Deno.test("a redirect to another origin is followed without the Authorization header", async () => {
  await using s = await servers();
  const response = await s.client().fetch("/to-other", ada);
  assertEquals(response.status, 200);
  const landed: SeenRequest = await response.json();
  assertEquals([landed.path, landed.authorization], ["/landing", null]);
  assertEquals(s.api.seen.map((r) => [r.path, r.authorization]), [
    ["/to-other", AUTH],
  ]);
  assertEquals(s.other.seen.map((r) => [r.path, r.authorization]), [
    ["/landing", null],
  ]);

  // a 307 elsewhere keeps the method and body, not the header
  const kept = await s.client().fetch("/to-other-307", {
    ...ada,
    method: "POST",
    body: "payload",
  });
  assertEquals((await kept.json()).body, "payload");
  assertEquals(
    s.other.seen.slice(1).map((r) => [r.method, r.body, r.authorization]),
    [["POST", "payload", null]],
  );

  // back on the token's origin, the header is added again
  const back = await s.client().fetch("/via-other", ada);
  assertEquals((await back.json()).authorization, AUTH);
  assertEquals(s.other.seen.slice(2).map((r) => [r.path, r.authorization]), [
    ["/back", null],
  ]);
  assertEquals(s.api.seen.slice(2).map((r) => [r.path, r.authorization]), [
    ["/via-other", AUTH],
    ["/echo", AUTH],
  ]);

  // allowedOrigins: the header follows
  const allowed = await s.client({ allowedOrigins: [s.other.origin] }).fetch(
    "/to-other",
    ada,
  );
  assertEquals((await allowed.json()).authorization, AUTH);
  assertEquals(s.other.seen.length, 4);
  assertEquals(s.api.seen.length, 5);
});

Deno.test("a redirect within the origin keeps the header; methods and bodies change as fetch changes them", async () => {
  await using s = await servers();
  const client = s.client();
  const same = await client.fetch("/to-same", ada);
  assertEquals((await same.json()).authorization, AUTH);
  assertEquals(s.api.seen.map((r) => [r.path, r.authorization]), [
    ["/to-same", AUTH],
    ["/landing", AUTH],
  ]);

  const text = "text/plain;charset=UTF-8";
  const cases: [number, string, string, string, string | null][] = [
    // status, method sent, method that lands, body that lands, its type
    [307, "POST", "POST", "payload", text],
    [308, "PUT", "PUT", "payload", text],
    [303, "POST", "GET", "", null],
    [303, "PUT", "GET", "", null],
    [302, "POST", "GET", "", null],
    [301, "POST", "GET", "", null],
    [302, "PUT", "PUT", "payload", text],
    [301, "DELETE", "DELETE", "payload", text],
  ];
  for (const [status, method, lands, body, type] of cases) {
    const response = await client.fetch(`/${status}`, {
      ...ada,
      method,
      body: "payload",
    });
    const seen: SeenRequest = await response.json();
    assertEquals(
      [seen.path, seen.method, seen.body, seen.contentType, seen.authorization],
      ["/echo", lands, body, type, AUTH],
      `${status} ${method}`,
    );
  }
  // 303 after a GET stays a GET; a streamed body survives a 307
  const got = await client.fetch("/303", ada);
  assertEquals((await got.json()).method, "GET");
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("streamed"));
      controller.close();
    },
  });
  const streamed = await client.fetch(
    new Request(`${s.api.origin}/307`, { method: "POST", body: stream }),
    ada,
  );
  assertEquals((await streamed.json()).body, "streamed");
  // two requests for each redirect: the redirect and /echo
  assertEquals(s.api.seen.length, 2 + 2 * cases.length + 4);
  assertEquals(s.other.seen.length, 0);
});

Deno.test("redirect modes: manual returns the redirect, error refuses it, and a loop ends after 20", async () => {
  await using s = await servers();
  const client = s.client();
  const manual = await client.fetch("/to-other", {
    ...ada,
    redirect: "manual",
  });
  assertEquals(manual.status, 302);
  assertEquals(manual.headers.get("location"), `${s.other.origin}/landing`);
  await manual.body?.cancel();
  await assertRejects(
    () => client.fetch("/to-other", { ...ada, redirect: "error" }),
    TypeError,
    '"redirect" is "error"',
  );
  assertEquals(s.other.seen.length, 0);
  const error = await assertRejects(
    () => client.fetch("/loop", ada),
    TypeError,
    "more than 20 redirects",
  );
  assert(!error.message.includes("ada-access"));
  assertEquals(s.api.seen.length, 2 + 21);
});

Deno.test("a 401 from an origin the token did not go to does not refresh it", async () => {
  await using s = await servers();
  await using server = await startTokenServer({ apiDomain: s.api.origin });
  const client = s.client({
    tokenUrl: server.url,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: DEFAULT_CLIENT.clientSecret,
    minRefreshIntervalMs: 0,
  });
  await s.store.saveToken(
    (await s.store.findToken({ userName: "ada" }))!.with({
      clientId: DEFAULT_CLIENT.clientId,
      refreshToken: server.issueRefreshToken({ userName: "ada" }),
    }),
  );
  const elsewhere = await client.fetch("/to-other-401", ada);
  assertEquals(elsewhere.status, 401);
  assertEquals(server.stats().token, 0);
  assertEquals(s.other.seen.map((r) => r.authorization), [null]);
  // the same 401 from the token's own API: one refresh, then one resend
  const own = await client.fetch("/401", ada);
  assertEquals(own.status, 401);
  assertEquals(server.stats().refreshToken, 1);
  const sent = s.api.seen.filter((r) => r.path === "/401");
  assertEquals(sent.length, 2);
  assertEquals(sent[0].authorization, AUTH);
  assert(sent[1].authorization !== AUTH && sent[1].authorization !== null);
});
