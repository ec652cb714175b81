/**
 * `examples/connect_app.ts` driven over HTTP (the browser run is in
 * `connect_app_browser_test.ts`): connect, the list with status ok, Deny,
 * disconnect (only from the app's own pages), and no secret in any page.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { openStore } from "../stores/open_store.ts";
import { startConnectApp } from "./fixtures/connect_app.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";

/** Client secrets and full tokens (`1000.` and 16+ hex) never appear. */
function assertNoSecret(text: string): void {
  assert(!text.includes(DEFAULT_CLIENT.clientSecret), "client secret shown");
  assertEquals(text.match(/1000\.[0-9a-f]{16,}/), null);
}

Deno.test("connect app over HTTP: connect, list with status ok, Deny, disconnect", async () => {
  await using server = await startTokenServer({ mode: "zoho" });
  await using app = await startConnectApp(server);
  const pages: string[] = [];
  const get = async (path: string, cookie?: string) => {
    const response = await fetch(new URL(path, app.origin), {
      redirect: "manual",
      headers: cookie === undefined ? {} : { cookie },
    });
    const text = await response.text();
    pages.push(text);
    return { response, text };
  };

  const home = await get("/");
  assertEquals(home.response.status, 200);
  assertMatch(home.text, /<form method="get" action="\/connect">/);

  // connect: to the provider with the state cookie, consent, back
  const start = await get("/connect?user=ada%40example.com");
  assertEquals(start.response.status, 302);
  const cookie = start.response.headers.get("set-cookie")!.split(";")[0];
  const to = new URL(start.response.headers.get("location")!);
  assertEquals(to.origin, server.origin);
  const callback = await server.approve(to, { user: "ada@example.com" });
  const back = await get(
    new URL(callback).pathname + new URL(callback).search,
    cookie,
  );
  assertEquals(back.response.status, 303);
  assertMatch(back.response.headers.get("set-cookie")!, /Max-Age=0/);
  const list = await get("/");
  assertMatch(
    list.text,
    /<td class="user">ada@example\.com<\/td><td class="status">ok<\/td>/,
  );

  // Deny: an error on the page, nothing stored
  const denied = await get("/connect?user=bob%40example.com");
  const denyCookie = denied.response.headers.get("set-cookie")!.split(";")[0];
  const refusal = await server.approve(
    new URL(denied.response.headers.get("location")!),
    { user: "bob@example.com", allow: false },
  );
  const deny = await get(
    new URL(refusal).pathname + new URL(refusal).search,
    denyCookie,
  );
  assertEquals(deny.response.status, 400);
  assertMatch(deny.text, /<p id="error">access_denied<\/p>/);

  // the callback replayed: refused
  const replay = await get(
    new URL(callback).pathname + new URL(callback).search,
    cookie,
  );
  assertMatch(replay.text, /invalid_state/);

  const store = await openStore(app.storeUrl);
  const tokens = await store.getTokens();
  await store.close?.();
  assertEquals(tokens.map((t) => t.userName), ["ada@example.com"]);

  // disconnect: refused from another site, done from the app's page
  const form = new URLSearchParams({ id: tokens[0].id! });
  const crossSite = await fetch(`${app.origin}/disconnect`, {
    method: "POST",
    body: form,
    headers: { origin: "https://evil.example" },
  });
  assertEquals(crossSite.status, 403);
  await crossSite.body?.cancel();
  const own = await fetch(`${app.origin}/disconnect`, {
    method: "POST",
    body: form,
    headers: { origin: app.origin },
    redirect: "manual",
  });
  assertEquals(own.status, 303);
  await own.body?.cancel();
  assertEquals(server.stats().revoke, 1);
  assert(!(await get("/")).text.includes("ada@example.com"));

  for (const page of pages) assertNoSecret(page);
  assertNoSecret(app.output());
});
