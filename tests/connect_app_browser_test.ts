/**
 * `examples/connect_app.ts` end to end in headless Chromium (Debian's,
 * driven by `npm:playwright-core`): a user opens the app, connects, clicks
 * Allow at the fixture's consent page and lands on the list showing them
 * with status ok; another clicks Deny and sees the error, nothing stored.
 * Never skipped: without Chromium the test fails.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { openStore } from "../stores/open_store.ts";
import { launchBrowser } from "./fixtures/browser.ts";
import { startConnectApp } from "./fixtures/connect_app.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";

Deno.test("connect app in Chromium: connect and Allow lands on the list with status ok; Deny shows the error and stores nothing", async () => {
  await using server = await startTokenServer({ mode: "zoho" });
  await using app = await startConnectApp(server);
  await using browser = await launchBrowser();

  // Allow
  const page = await browser.newPage();
  await page.goto(`${app.origin}/`);
  await page.fill("#user", "ada@example.com");
  await page.click("#connect");
  await page.waitForURL((url) => url.origin === server.origin);
  await page.fill("#user", "ada@example.com"); // who signs in at the provider
  await page.click("#allow");
  await page.waitForURL(`${app.origin}/`);
  const row = page.locator('tr[data-user="ada@example.com"]');
  assertEquals(await row.locator(".status").textContent(), "ok");
  const listed = await page.content();
  assert(!listed.includes(DEFAULT_CLIENT.clientSecret));
  // the state cookie was cleared on the way back
  const cookies = await page.context().cookies(app.origin);
  assertEquals(cookies.filter((c) => c.name.includes("tokenstore_state")), []);

  // Deny, in another browser context (another user's browser)
  const other = await browser.newPage();
  await other.goto(`${app.origin}/`);
  await other.fill("#user", "bob@example.com");
  await other.click("#connect");
  await other.waitForURL((url) => url.origin === server.origin);
  await other.click("#deny");
  await other.waitForURL((url) => url.pathname === "/callback");
  assertEquals(await other.locator("#error").textContent(), "access_denied");

  const store = await openStore(app.storeUrl);
  const tokens = await store.getTokens();
  await store.close?.();
  assertEquals(tokens.map((t) => t.userName), ["ada@example.com"]);
  assertEquals(server.stats().authorizationCode, 1);
  assertEquals(server.stats().consentDenied, 1);
});
