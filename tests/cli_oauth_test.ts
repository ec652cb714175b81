import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
} from "@std/assert";
import { join } from "@std/path";
import { OAuthToken } from "../core/token.ts";
import { openStore } from "../stores/open_store.ts";
import {
  assertFails,
  assertNoSecrets,
  assertOk,
  type CliResult,
  runCli,
} from "./fixtures/cli.ts";
import {
  DEFAULT_CLIENT,
  startTokenServer,
  type TokenServer,
} from "./fixtures/token_server.ts";

async function withServerAndDir(
  body: (server: TokenServer, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cli_oauth_test_" });
  const server = await startTokenServer({ mode: "zoho" });
  try {
    await body(server, dir);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const client = [
  "--client-id",
  DEFAULT_CLIENT.clientId,
  "--client-secret",
  DEFAULT_CLIENT.clientSecret,
  "--redirect-url",
  DEFAULT_CLIENT.redirectUrl,
];

async function storedSecrets(url: string): Promise<string[]> {
  const store = await openStore(url);
  try {
    return (await store.getTokens()).flatMap((
      t,
    ) => [t.refreshToken, t.accessToken, t.grantToken, t.clientSecret])
      .filter((s): s is string => s !== undefined);
  } finally {
    await store.close?.();
  }
}

Deno.test("cli exchange turns a self-client grant token into stored tokens; again, the stored one; a used code elsewhere fails with 1", async () => {
  await withServerAndDir(async (server, dir) => {
    const url = `kv:${join(dir, "tokens.db")}`;
    const code = server.issueGrantCode({ userName: "ada@example.com" });
    const results: CliResult[] = [];
    const result = await runCli([
      "exchange",
      "--code",
      code,
      ...client,
      "--user",
      "ada@example.com",
      "--token-url",
      server.url,
      "--store",
      url,
    ]);
    results.push(result);
    assertOk(result);
    const id =
      /^Stored token "([A-Za-z0-9_-]{1,10})" for "ada@example\.com": access token expires in 59 min\n$/
        .exec(result.stdout)?.[1];
    assert(id, result.stdout);
    assertEquals(server.stats().authorizationCode, 1);

    const store = await openStore(url);
    const token = (await store.findTokenById(id))!;
    await store.close?.();
    assertEquals(token.userName, "ada@example.com");
    assertEquals(token.clientId, DEFAULT_CLIENT.clientId);
    assertEquals(token.clientSecret, DEFAULT_CLIENT.clientSecret);
    assert(token.refreshToken && server.isValid(token.refreshToken));
    assert(token.accessToken && server.isValid(token.accessToken));

    // the same code into the same store: the stored token, nothing sent
    const again = await runCli([
      "exchange",
      "--code",
      code,
      ...client,
      "--token-url",
      server.url,
      "--store",
      url,
    ]);
    results.push(again);
    assertOk(again);
    assert(again.stdout.startsWith(`Stored token "${id}"`), again.stdout);
    assertEquals(server.stats().authorizationCode, 1);

    // a used code into a store that does not hold it: sent, refused
    const elsewhere = `kv:${join(dir, "other.db")}`;
    const used = await runCli([
      "exchange",
      "--code",
      code,
      ...client,
      "--token-url",
      server.url,
      "--store",
      elsewhere,
    ]);
    results.push(used);
    assertFails(used, 1, "invalid_code");
    assertEquals(server.stats().authorizationCode, 2);

    const list = await runCli(["list", "--store", elsewhere]);
    results.push(list);
    assertOk(list);
    assertEquals(
      list.stdout.trimEnd().split("\n").length,
      1,
      "the failed exchange stored nothing",
    );
    assertNoSecrets(results, [
      code,
      DEFAULT_CLIENT.clientSecret,
      ...await storedSecrets(url),
    ]);
  });
});

Deno.test("cli exchange bad usage exits 2", async () => {
  assertFails(
    await runCli(["exchange", ...client, "--store", "memory:"]),
    2,
    'Missing "--code"',
  );
  assertFails(
    await runCli([
      "exchange",
      "--code",
      "1000.x",
      "--client-id",
      "c",
      "--store",
      "memory:",
    ]),
    2,
    'Missing "--client-secret"',
  );
  assertFails(
    await runCli([
      "exchange",
      "--code",
      "1000.x",
      ...client,
      "--dc",
      "XX",
      "--store",
      "memory:",
    ]),
    2,
    'Unknown data center "XX"',
  );
  assertFails(
    await runCli([
      "exchange",
      "--code",
      "1000.x",
      ...client,
      "--token-url",
      "ftp://h/t",
      "--store",
      "memory:",
    ]),
    2,
    "http(s)",
  );
});

Deno.test("cli refresh gets a new access token with the stored credentials", async () => {
  await withServerAndDir(async (server, dir) => {
    const url = `file:${join(dir, "tokens.json")}`;
    const refreshToken = server.issueRefreshToken({
      userName: "ada@example.com",
    });
    const store = await openStore(url);
    const saved = await store.saveToken(
      new OAuthToken({
        userName: "ada@example.com",
        clientId: DEFAULT_CLIENT.clientId,
        clientSecret: DEFAULT_CLIENT.clientSecret,
        refreshToken,
        accessToken: "1000.stale-access-token-000000",
        expiresAt: Date.now() + 3_600_000,
      }),
    );
    const result = await runCli([
      "refresh",
      saved.id!,
      "--token-url",
      server.url,
      "--store",
      url,
    ]);
    assertOk(result);
    assertEquals(
      result.stdout,
      `Refreshed token "${saved.id}": access token expires in 59 min\n`,
    );
    assertEquals(server.stats().refreshToken, 1);
    const fresh = (await store.findTokenById(saved.id!))!;
    assertNotEquals(fresh.accessToken, "1000.stale-access-token-000000");
    assert(server.isValid(fresh.accessToken!));

    assertFails(
      await runCli([
        "refresh",
        "nope",
        "--token-url",
        server.url,
        "--store",
        url,
      ]),
      1,
      'No token with id "nope"',
    );
    assertNoSecrets([result], [
      refreshToken,
      fresh.accessToken,
      DEFAULT_CLIENT.clientSecret,
    ]);
  });
});

Deno.test("cli refresh without stored credentials needs them; a wrong secret fails with 1", async () => {
  await withServerAndDir(async (server, dir) => {
    const url = `file:${join(dir, "tokens.json")}`;
    const refreshToken = server.issueRefreshToken({
      userName: "bob@example.com",
    });
    const store = await openStore(url);
    const { id } = await store.saveToken(
      new OAuthToken({ userName: "bob@example.com", refreshToken }),
    );
    const base = ["refresh", id!, "--token-url", server.url, "--store", url];
    assertFails(await runCli(base), 2, '"--client-id"');
    assertFails(
      await runCli([...base, "--client-id", DEFAULT_CLIENT.clientId]),
      2,
      '"--client-secret"',
    );

    const wrongSecret = "wrong-client-secret-9999999999";
    const wrong = await runCli([
      ...base,
      "--client-id",
      DEFAULT_CLIENT.clientId,
      "--client-secret",
      wrongSecret,
    ]);
    assertFails(wrong, 1, "invalid_client");
    assertMatch(
      wrong.stderr,
      /^error: Token endpoint answered "invalid_client"/,
    );

    // Credentials from the environment.
    const viaEnv = await runCli(base, {
      TOKENSTORE_CLIENT_ID: DEFAULT_CLIENT.clientId,
      TOKENSTORE_CLIENT_SECRET: DEFAULT_CLIENT.clientSecret,
    });
    assertOk(viaEnv);
    assertEquals(server.stats().refreshToken, 2);
    const fresh = (await store.findTokenById(id!))!;
    assertNoSecrets([wrong, viaEnv], [
      wrongSecret,
      refreshToken,
      fresh.accessToken,
      DEFAULT_CLIENT.clientSecret,
    ]);
  });
});

Deno.test("cli revoke revokes the refresh token at the server and deletes the token", async () => {
  await withServerAndDir(async (server, dir) => {
    const url = `libsql:file:${join(dir, "tokens.db")}`;
    const refreshToken = server.issueRefreshToken({
      userName: "cy@example.com",
    });
    const store = await openStore(url);
    try {
      const { id } = await store.saveToken(
        new OAuthToken({
          userName: "cy@example.com",
          clientId: DEFAULT_CLIENT.clientId,
          clientSecret: DEFAULT_CLIENT.clientSecret,
          refreshToken,
        }),
      );
      const result = await runCli([
        "revoke",
        id!,
        "--token-url",
        server.url,
        "--store",
        url,
      ]);
      assertOk(result);
      assertEquals(
        result.stdout,
        `Revoked token "${id}" and deleted it from the store\n`,
      );
      assertEquals(server.stats().revoke, 1);
      assert(
        !server.isValid(refreshToken),
        "the refresh token is still valid at the server",
      );
      assertEquals(await store.findTokenById(id!), null);
      assertFails(
        await runCli([
          "revoke",
          id!,
          "--token-url",
          server.url,
          "--store",
          url,
        ]),
        1,
        "No token with id",
      );
      assertNoSecrets([result], [refreshToken, DEFAULT_CLIENT.clientSecret]);
    } finally {
      await store.close?.();
    }
  });
});
