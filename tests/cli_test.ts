import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "@std/path";
import { main } from "../cli.ts";
import { OAuthToken, type OAuthTokenInit } from "../core/token.ts";
import { FileTokenStore } from "../stores/file.ts";
import { openStore } from "../stores/open_store.ts";
import {
  assertFails,
  assertNoSecrets,
  assertOk,
  type CliResult,
  runCli,
} from "./fixtures/cli.ts";

const COMMANDS = [
  "list",
  "show",
  "delete",
  "purge",
  "migrate",
  "exchange",
  "refresh",
  "revoke",
  "rekey",
];

const SECRETS = {
  clientSecret: "cli-client-secret-aaaaaaaaaaaaaaaa",
  refreshToken: "1000.cli-refresh-bbbbbbbbbbbbbbbbbbbb",
  accessToken: "1000.cli-access-cccccccccccccccccccc",
  grantToken: "1000.cli-grant-dddddddddddddddddddd",
};
const ALL_SECRETS = [
  ...Object.values(SECRETS),
  ...Object.values(SECRETS).map((s) => `${s}-2`),
];

async function withTempDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cli_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A JSON store with three tokens: fresh, expired, and without access token. */
async function seed(dir: string): Promise<{ url: string; ids: string[] }> {
  const path = join(dir, "tokens.json");
  const store = new FileTokenStore({ path });
  const now = Date.now();
  const ids: string[] = [];
  for (
    const init of [
      {
        id: "fresh1",
        userName: "ada@example.com",
        clientId: "1000.ADA",
        ...SECRETS,
        grantToken: undefined,
        expiresAt: now + 59 * 60_000 + 30_000,
        apiDomain: "https://www.zohoapis.eu",
      },
      {
        id: "old2",
        userName: "bob@example.com",
        clientId: "1000.BOB",
        refreshToken: `${SECRETS.refreshToken}-2`,
        accessToken: `${SECRETS.accessToken}-2`,
        expiresAt: now - (3 * 3_600_000 + 60_000),
      },
      {
        id: "grant3",
        userName: "cy@example.com",
        grantToken: `${SECRETS.grantToken}-2`,
        clientSecret: `${SECRETS.clientSecret}-2`,
      },
    ] satisfies OAuthTokenInit[]
  ) {
    ids.push((await store.saveToken(new OAuthToken(init))).id!);
  }
  return { url: `file:${path}`, ids };
}

Deno.test("cli --help, help and <command> --help explain every command", async () => {
  const results: CliResult[] = [];
  for (const args of [["--help"], ["-h"], ["help"]]) {
    const result = await runCli(args);
    results.push(result);
    assertOk(result);
    assertStringIncludes(result.stdout, "Usage: tokenstore <command>");
    for (const command of COMMANDS) {
      assert(
        new RegExp(`^  ${command} `, "m").test(result.stdout),
        `${command} missing from the global help`,
      );
    }
    for (const form of ["memory:", "kv:", "zoho-csv:", "libsql:", "mysql://"]) {
      assertStringIncludes(result.stdout, form);
    }
  }
  for (const command of COMMANDS) {
    for (
      const args of [[command, "--help"], ["help", command], [command, "-h"]]
    ) {
      const result = await runCli(args);
      assertOk(result);
      assert(
        result.stdout.startsWith(`Usage: tokenstore ${command}`),
        result.stdout,
      );
      assertStringIncludes(result.stdout, "--store URL");
    }
  }
  assertNoSecrets(results, ALL_SECRETS);
});

Deno.test("cli bad usage exits 2 with a one-line error", async () => {
  assertFails(await runCli([]), 2, "Missing command");
  assertFails(await runCli(["frobnicate"]), 2, 'Unknown command "frobnicate"');
  assertFails(
    await runCli(["list", "--store", "memory:", "--verbose"]),
    2,
    'Unknown option "--verbose"',
  );
  assertFails(
    await runCli(["list", "--store"]),
    2,
    'Option "--store" needs a value',
  );
  assertFails(
    await runCli(["list", "--store", "memory:", "extra"]),
    2,
    "takes no positional",
  );
  assertFails(await runCli(["list"]), 2, "TOKEN_STORE_URL");
  assertFails(
    await runCli(["show", "--store", "memory:"]),
    2,
    "Missing token id",
  );
  assertFails(
    await runCli(["show", "bad id!", "--store", "memory:"]),
    2,
    "Invalid token id",
  );
  assertFails(
    await runCli(["list", "--json=yes", "--store", "memory:"]),
    2,
    "takes no value",
  );
  const password = "Sup3r-secret-pw";
  const badUrl = await runCli([
    "list",
    "--store",
    `mysql://root:${password}@127.0.0.1:nope/db`,
  ]);
  assertFails(badUrl, 2, "accepted forms");
  const unknown = await runCli([
    "list",
    "--store",
    `mongodb://root:${password}@h/db`,
  ]);
  assertFails(unknown, 2, 'Unsupported token store URL scheme "mongodb:"');
  const unreachable = await runCli([
    "list",
    "--store",
    `postgres://root:${password}@127.0.0.1:1/db`,
  ]);
  assertEquals(unreachable.code, 1, unreachable.stderr);
  assertNoSecrets([badUrl, unknown, unreachable], [password]);
});

Deno.test("cli list prints a table with relative expiry and which secrets are held", async () => {
  await withTempDir(async (dir) => {
    const { url } = await seed(dir);
    const result = await runCli(["list", "--store", url]);
    assertOk(result);
    const lines = result.stdout.trimEnd().split("\n");
    assertEquals(lines.length, 4, result.stdout);
    assertEquals(lines[0].split(/\s{2,}/), [
      "ID",
      "USER",
      "CLIENT",
      "EXPIRES",
      "SECRETS",
    ]);
    assertEquals(lines[1].split(/\s{2,}/), [
      "fresh1",
      "ada@example.com",
      "1000.ADA",
      "in 59 min",
      "refresh,access,client-secret",
    ]);
    assertEquals(lines[2].split(/\s{2,}/), [
      "old2",
      "bob@example.com",
      "1000.BOB",
      "expired 3 h ago",
      "refresh,access",
    ]);
    assertEquals(lines[3].split(/\s{2,}/), [
      "grant3",
      "cy@example.com",
      "-",
      "no access token",
      "grant,client-secret",
    ]);
    // TOKEN_STORE_URL is the default store.
    const viaEnv = await runCli(["list"], { TOKEN_STORE_URL: url });
    assertOk(viaEnv);
    assertEquals(viaEnv.stdout, result.stdout);
    assertNoSecrets([result, viaEnv], ALL_SECRETS);
  });
});

Deno.test("cli list --json lists fields and secret names, never secret values", async () => {
  await withTempDir(async (dir) => {
    const { url } = await seed(dir);
    const result = await runCli(["list", "--json", "--store", url]);
    assertOk(result);
    const entries = JSON.parse(result.stdout) as Record<string, unknown>[];
    assertEquals(entries.map((e) => e.id), ["fresh1", "old2", "grant3"]);
    assertEquals(entries[0].userName, "ada@example.com");
    assertEquals(entries[0].apiDomain, "https://www.zohoapis.eu");
    assertEquals(entries[0].expires, "in 59 min");
    assertEquals(entries[0].expired, false);
    assertEquals(entries[0].secrets, [
      "refreshToken",
      "accessToken",
      "clientSecret",
    ]);
    assertEquals(entries[1].expired, true);
    assertEquals(typeof entries[1].expiresAt, "number");
    assertEquals(entries[2].secrets, ["grantToken", "clientSecret"]);
    assertNoSecrets([result], ALL_SECRETS);

    const empty = await runCli(["list", "--json", "--store", "memory:"]);
    assertOk(empty);
    assertEquals(JSON.parse(empty.stdout), []);
    const emptyTable = await runCli(["list", "--store", "memory:"]);
    assertOk(emptyTable);
    assertEquals(emptyTable.stdout, "No tokens in memory:\n");
  });
});

Deno.test("cli show prints one token redacted; a missing id fails with 1", async () => {
  await withTempDir(async (dir) => {
    const { url } = await seed(dir);
    const result = await runCli(["show", "fresh1", "--store", url]);
    assertOk(result);
    assert(/^id\s+fresh1$/m.test(result.stdout), result.stdout);
    assert(/^user\s+ada@example\.com$/m.test(result.stdout), result.stdout);
    assert(
      /^refresh token\s+.*\(redacted\)$/m.test(result.stdout),
      result.stdout,
    );
    assert(
      /^client secret\s+.*\(redacted\)$/m.test(result.stdout),
      result.stdout,
    );
    assert(/^grant token\s+-$/m.test(result.stdout), result.stdout);
    assert(
      /^expires\s+\d{4}-\d\d-\d\dT.*\(in 59 min\)$/m.test(result.stdout),
      result.stdout,
    );

    const json = await runCli(["show", "old2", "--json", "--store", url]);
    assertOk(json);
    const shown = JSON.parse(json.stdout);
    assertEquals(shown.id, "old2");
    assertEquals(shown.clientId, "1000.BOB");
    assertStringIncludes(shown.accessToken, "(redacted)");

    const missing = await runCli(["show", "nope", "--store", url]);
    assertFails(missing, 1, 'No token with id "nope"');
    assertNoSecrets([result, json, missing], ALL_SECRETS);
  });
});

Deno.test("cli delete removes one token; deleting it again fails with 1", async () => {
  await withTempDir(async (dir) => {
    const { url } = await seed(dir);
    const result = await runCli(["delete", "old2", "--store", url]);
    assertOk(result);
    assertEquals(result.stdout, 'Deleted token "old2"\n');
    const store = await openStore(url);
    assertEquals((await store.getTokens()).map((t) => t.id).sort(), [
      "fresh1",
      "grant3",
    ]);
    assertFails(
      await runCli(["delete", "old2", "--store", url]),
      1,
      'No token with id "old2"',
    );
  });
});

Deno.test("cli purge needs --yes (exit 2, nothing deleted), then deletes every token", async () => {
  await withTempDir(async (dir) => {
    const { url } = await seed(dir);
    assertFails(await runCli(["purge", "--store", url]), 2, '"--yes"');
    const store = await openStore(url);
    assertEquals((await store.getTokens()).length, 3);
    const result = await runCli(["purge", "--yes", "--store", url]);
    assertOk(result);
    assertEquals(result.stdout, `Deleted 3 tokens from ${url}\n`);
    assertEquals((await store.getTokens()).length, 0);
  });
});

Deno.test("cli runs in process through main() with injected io", async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    stdout: (text: string) => out.push(text),
    stderr: (text: string) => err.push(text),
    env: {},
  };
  assertEquals(await main(["list", "--store", "memory:"], io), 0);
  assertEquals(out.join(""), "No tokens in memory:\n");
  assertEquals(await main(["purge", "--store", "memory:"], io), 2);
  assertEquals(err.length, 1);
  assertStringIncludes(err[0], '"--yes"');
  assertEquals(
    await main(["list"], { ...io, env: { TOKEN_STORE_URL: "memory:" } }),
    0,
  );
});
