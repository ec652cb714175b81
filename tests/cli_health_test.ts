/**
 * `tokenstore status` and `tokenstore keep-alive` in a subprocess: the
 * status table, exit code 3 when a token is revoked (for cron jobs and
 * monitoring), and a keep-alive that refreshes idle tokens and finds a
 * revoked user with no call of theirs.
 *
 * @module
 */

import { assertEquals, assertMatch } from "@std/assert";
import { join } from "@std/path";
import { OAuthToken } from "../core/token.ts";
import { openStore } from "../stores/open_store.ts";
import { assertNoSecrets, type CliResult, runCli } from "./fixtures/cli.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";

async function withKv(
  body: (url: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(`kv:${join(dir, "tokens.db")}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cli status: a table of each token's health; exit 3 when one is revoked, 0 otherwise", async () => {
  await withKv(async (url) => {
    const now = Date.now();
    const store = await openStore(url);
    const ids: string[] = [];
    for (const user of ["ada", "bob", "eve"]) {
      const saved = await store.saveToken(
        new OAuthToken({
          userName: `${user}@example.com`,
          refreshToken: `1000.refresh-${user}`,
        }),
      );
      ids.push(saved.id!);
    }
    await store.status!.put({
      id: ids[0],
      state: "ok",
      failures: 0,
      lastRefreshAt: now - 3 * 3_600_000,
      refreshTokenExpiresAt: now + 6 * 86_400_000 + 3_600_000,
    });
    await store.status!.put({
      id: ids[1],
      state: "failing",
      failures: 2,
      lastRefreshAt: now - 2 * 86_400_000 - 60_000,
      lastFailureAt: now - 10 * 60_000,
      lastError: "temporarily_unavailable",
    });
    await store.close?.();

    const results: CliResult[] = [];
    const healthy = await runCli(["status", "--store", url]);
    results.push(healthy);
    assertEquals(healthy.code, 0, healthy.stderr);
    const lines = healthy.stdout.trimEnd().split("\n");
    assertMatch(
      lines[0],
      /^ID\s+USER\s+STATE\s+LAST REFRESH\s+LAST FAILURE\s+FAILURES\s+REFRESH TOKEN EXPIRES$/,
    );
    assertMatch(
      healthy.stdout,
      /ada@example\.com\s+ok\s+3 h ago\s+-\s+0\s+in 6 d/,
    );
    assertMatch(
      healthy.stdout,
      /bob@example\.com\s+failing\s+2 d ago\s+10 min ago \(temporarily_unavailable\)\s+2\s+-/,
    );
    assertMatch(healthy.stdout, /eve@example\.com\s+-\s+-\s+-\s+0\s+-/);

    const reopened = await openStore(url);
    await reopened.status!.put({
      id: ids[2],
      state: "revoked",
      failures: 1,
      lastFailureAt: now,
      lastError: "invalid_grant",
    });
    await reopened.close?.();
    const revoked = await runCli(["status", "--store", url]);
    results.push(revoked);
    assertEquals(revoked.code, 3);
    assertMatch(revoked.stdout, /eve@example\.com\s+revoked/);
    const json = await runCli(["status", "--store", url, "--json"]);
    results.push(json);
    assertEquals(json.code, 3);
    const entries = JSON.parse(json.stdout);
    assertEquals(entries.length, 3);
    assertEquals(
      entries.find((e: { id: string }) => e.id === ids[2]).state,
      "revoked",
    );
    assertNoSecrets(results, ["1000.refresh-ada", "1000.refresh-bob"]);
  });
});

Deno.test("cli keep-alive: refreshes idle tokens, finds a revoked user with no call of theirs, exits 3", async () => {
  await using server = await startTokenServer({ mode: "zoho" });
  await withKv(async (url) => {
    const store = await openStore(url);
    const refreshTokens: string[] = [];
    for (const user of ["ada", "bob", "eve"]) {
      const refreshToken = server.issueRefreshToken({
        userName: `${user}@example.com`,
      });
      refreshTokens.push(refreshToken);
      await store.saveToken(
        new OAuthToken({
          userName: `${user}@example.com`,
          clientId: DEFAULT_CLIENT.clientId,
          clientSecret: DEFAULT_CLIENT.clientSecret,
          refreshToken,
        }),
      );
    }
    await store.close?.();
    // eve revokes access at the provider
    const revoke = await fetch(server.revokeUrl, {
      method: "POST",
      body: new URLSearchParams({ token: refreshTokens[2] }),
    });
    await revoke.body?.cancel();

    const run = await runCli([
      "keep-alive",
      "--token-url",
      server.url,
      "--store",
      url,
    ]);
    assertEquals(run.code, 3, run.stderr);
    assertEquals(
      run.stdout,
      "Checked 3, refreshed 2, failed 0, revoked 1, skipped 0\n",
    );
    assertEquals(server.stats().refreshToken, 3);
    const status = await runCli(["status", "--store", url]);
    assertEquals(status.code, 3);
    assertMatch(status.stdout, /eve@example\.com\s+revoked/);
    assertMatch(status.stdout, /ada@example\.com\s+ok\s+(0 s|just now)/);
    // a second run right after: nothing idle, the revoked user skipped
    const again = await runCli([
      "keep-alive",
      "--token-url",
      server.url,
      "--store",
      url,
    ]);
    assertEquals(
      again.stdout,
      "Checked 3, refreshed 0, failed 0, revoked 0, skipped 3\n",
    );
    assertEquals(again.code, 0);
    assertEquals(server.stats().refreshToken, 3);
    assertNoSecrets([run, status, again], [
      ...refreshTokens,
      DEFAULT_CLIENT.clientSecret,
    ]);
  });
});
