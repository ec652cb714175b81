import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "@std/path";
import { main } from "../cli.ts";
import type { OAuthTokenInit } from "../core/token.ts";
import type { TokenStatus } from "../core/token_status.ts";
import { openStore } from "../stores/open_store.ts";
import {
  assertFails,
  assertNoSecrets,
  assertOk,
  type CliResult,
  runCli,
} from "./fixtures/cli.ts";

const HEADER =
  "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain";

/** A Zoho SDK `sdk_tokens.txt` as the SDKs write it: ids 1..3, plain values, empty for absent fields. */
const SDK_TOKENS = [
  HEADER,
  "1,ada@example.com,1000.ADACLIENT,mig-secret-ada-0000000000,1000.mig-refresh-ada-1111111111,1000.mig-access-ada-2222222222,,1893456000000,https://app.example.com/callback,https://www.zohoapis.eu",
  "2,bob@example.com,1000.BOBCLIENT,mig-secret-bob-0000000000,1000.mig-refresh-bob-1111111111,,,,,https://www.zohoapis.com",
  "3,cy@example.com,1000.CYCLIENT,mig-secret-cy-00000000000,,,1000.mig-grant-cy-3333333333,,https://app.example.com/cb,",
].join("\n");

const SECRETS = [
  ...SDK_TOKENS.matchAll(/(mig-secret|1000\.mig-[a-z]+)-[a-z]+-\d+/g),
].map((m) => m[0]);

const EXPECTED: OAuthTokenInit[] = [
  {
    id: "1",
    userName: "ada@example.com",
    clientId: "1000.ADACLIENT",
    clientSecret: "mig-secret-ada-0000000000",
    refreshToken: "1000.mig-refresh-ada-1111111111",
    accessToken: "1000.mig-access-ada-2222222222",
    expiresAt: 1893456000000,
    redirectUrl: "https://app.example.com/callback",
    apiDomain: "https://www.zohoapis.eu",
  },
  {
    id: "2",
    userName: "bob@example.com",
    clientId: "1000.BOBCLIENT",
    clientSecret: "mig-secret-bob-0000000000",
    refreshToken: "1000.mig-refresh-bob-1111111111",
    apiDomain: "https://www.zohoapis.com",
  },
  {
    id: "3",
    userName: "cy@example.com",
    clientId: "1000.CYCLIENT",
    clientSecret: "mig-secret-cy-00000000000",
    grantToken: "1000.mig-grant-cy-3333333333",
    redirectUrl: "https://app.example.com/cb",
  },
];

async function records(url: string): Promise<OAuthTokenInit[]> {
  const store = await openStore(url);
  try {
    return (await store.getTokens()).map((t) => t.toRecord()).sort((a, b) =>
      a.id! < b.id! ? -1 : 1
    );
  } finally {
    await store.close?.();
  }
}

async function withTempDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cli_migrate_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cli migrate: sdk_tokens.txt → KV file → sdk_tokens.txt round-trips every field, and reruns are idempotent", async () => {
  await withTempDir(async (dir) => {
    const csv = `zoho-csv:${join(dir, "sdk_tokens.txt")}`;
    const kv = `kv:${join(dir, "tokens.db")}`;
    const back = `zoho-csv:${join(dir, "back.txt")}`;
    await Deno.writeTextFile(join(dir, "sdk_tokens.txt"), SDK_TOKENS);
    assertEquals(await records(csv), EXPECTED);
    const results: CliResult[] = [];

    const first = await runCli(["migrate", "--from", csv, "--to", kv]);
    results.push(first);
    assertOk(first); // not a terminal: no progress bar on stderr
    assertEquals(
      first.stdout,
      `Migrated 3 tokens from ${csv} to ${kv}; all 3 verified\n`,
    );
    assertEquals(await records(kv), EXPECTED);

    const rerun = await runCli(["migrate", "--from", csv, "--to", kv]);
    results.push(rerun);
    assertOk(rerun);
    assertEquals(rerun.stdout, first.stdout);
    assertEquals(
      await records(kv),
      EXPECTED,
      "a rerun neither duplicates nor changes tokens",
    );

    const home = await runCli(["migrate", "--to", back], {
      TOKEN_STORE_URL: kv,
    });
    results.push(home);
    assertOk(home);
    assertEquals(
      home.stdout,
      `Migrated 3 tokens from ${kv} to ${back}; all 3 verified\n`,
    );
    assertEquals(await records(back), EXPECTED);
    const text = await Deno.readTextFile(join(dir, "back.txt"));
    assertEquals(text.split("\n")[0], HEADER);
    assertEquals(text.trimEnd().split("\n").length, 4);
    assertNoSecrets(results, SECRETS);
  });
});

Deno.test("cli migrate --dry-run lists what would be copied and writes nothing", async () => {
  await withTempDir(async (dir) => {
    const csv = `zoho-csv:${join(dir, "sdk_tokens.txt")}`;
    await Deno.writeTextFile(join(dir, "sdk_tokens.txt"), SDK_TOKENS);
    const target = join(dir, "target.json");

    const dry = await runCli([
      "migrate",
      "--from",
      csv,
      "--to",
      `file:${target}`,
      "--dry-run",
    ]);
    assertOk(dry);
    assertEquals(dry.stdout.split("\n").slice(0, 3), [
      "would copy 1 ada@example.com",
      "would copy 2 bob@example.com",
      "would copy 3 cy@example.com",
    ]);
    assertStringIncludes(dry.stdout, "Dry run: would copy 3 tokens");
    assert(!await exists(target), "the target was created by a dry run");

    // Target URLs are shown with their password and auth token masked.
    const password = "Dry-run-passw0rd";
    const authToken = "dry-run-auth-token-0000";
    const masked = await runCli([
      "migrate",
      "--from",
      csv,
      "--to",
      `mysql://crm:${password}@127.0.0.1:3306/zoho?table=oauthtoken`,
      "--dry-run",
    ]);
    assertOk(masked);
    assertStringIncludes(
      masked.stdout,
      "to mysql://crm:***@127.0.0.1:3306/zoho?table=oauthtoken;",
    );
    const maskedToken = await runCli([
      "migrate",
      "--from",
      csv,
      "--to",
      `libsql:libsql://db.example.com?authToken=${authToken}`,
      "--dry-run",
    ]);
    assertOk(maskedToken);
    assertStringIncludes(
      maskedToken.stdout,
      "to libsql:libsql://db.example.com?authToken=***;",
    );
    assertNoSecrets([masked, maskedToken], [password, authToken]);

    // An existing target is left exactly as it was.
    assertOk(
      await runCli(["migrate", "--from", csv, "--to", `file:${target}`]),
    );
    const before = await Deno.readTextFile(target);
    await Deno.writeTextFile(
      join(dir, "sdk_tokens.txt"),
      SDK_TOKENS.replace("ada@example.com", "eve@example.com"),
    );
    assertOk(
      await runCli([
        "migrate",
        "--from",
        csv,
        "--to",
        `file:${target}`,
        "--dry-run",
      ]),
    );
    assertEquals(await Deno.readTextFile(target), before);
    assertNoSecrets([dry], SECRETS);
  });
});

Deno.test("cli migrate shows a progress bar on a terminal and fails cleanly", async () => {
  await withTempDir(async (dir) => {
    const csv = `zoho-csv:${join(dir, "sdk_tokens.txt")}`;
    await Deno.writeTextFile(join(dir, "sdk_tokens.txt"), SDK_TOKENS);
    const out: string[] = [];
    const err: string[] = [];
    const code = await main([
      "migrate",
      "--from",
      csv,
      "--to",
      `file:${join(dir, "t.json")}`,
    ], {
      stdout: (text) => out.push(text),
      stderr: (text) => err.push(text),
      isTerminal: true,
      env: {},
    });
    assertEquals(code, 0, err.join(""));
    const progress = err.join("");
    assertStringIncludes(
      progress,
      "Copying   [##############################] 3/3",
    );
    assertStringIncludes(
      progress,
      "Verifying [##############################] 3/3",
    );
    assertStringIncludes(progress, "\r\x1b[2K");
    assertStringIncludes(out.join(""), "Migrated 3 tokens");

    assertFails(
      await runCli(["migrate", "--from", csv]),
      2,
      'Missing "--to URL"',
    );
    assertFails(
      await runCli(["migrate", "--to", csv]),
      2,
      'Missing "--from URL"',
    );
    assertFails(
      await runCli(["migrate", "--from", csv, "--to", csv]),
      2,
      "same store",
    );
    assertFails(
      await runCli(["migrate", "--from", csv, "--to", "nope:x"]),
      2,
      "Unsupported token store URL",
    );
    // A source that cannot be read is a failure, not a usage error.
    await Deno.writeTextFile(join(dir, "broken.json"), "{ not json");
    const broken = await runCli([
      "migrate",
      "--from",
      `file:${join(dir, "broken.json")}`,
      "--to",
      "memory:",
    ]);
    assertFails(broken, 1, "broken.json");
    // A target that cannot hold a value (a comma in the Zoho CSV) fails with 1.
    const json = await openStore(`file:${join(dir, "comma.json")}`);
    const { OAuthToken } = await import("../core/token.ts");
    await json.saveToken(
      new OAuthToken({
        id: "c1",
        userName: "a,b",
        refreshToken: "1000.mig-refresh-comma-1111",
      }),
    );
    const comma = await runCli([
      "migrate",
      "--from",
      `file:${join(dir, "comma.json")}`,
      "--to",
      `zoho-csv:${join(dir, "c.txt")}`,
    ]);
    assertEquals(comma.code, 1);
    assertNoSecrets([comma], ["1000.mig-refresh-comma-1111"]);
  });
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("cli migrate: sdk_tokens.txt → a Zoho MySQL oauthtoken table → libSQL keeps every field", async () => {
  const base = Deno.env.get("MYSQL_URL");
  if (!base) {
    console.log("MYSQL_URL is not set: skipping the MySQL migration case");
    return;
  }
  const table = `cli_migrate_${crypto.randomUUID().slice(0, 8)}`;
  const mysql = `${base}${base.includes("?") ? "&" : "?"}table=${table}`;
  try {
    await withTempDir(async (dir) => {
      const csv = `zoho-csv:${join(dir, "sdk_tokens.txt")}`;
      const libsql = `libsql:file:${join(dir, "tokens.db")}`;
      await Deno.writeTextFile(join(dir, "sdk_tokens.txt"), SDK_TOKENS);
      const toMysql = await runCli(["migrate", "--from", csv, "--to", mysql]);
      assertOk(toMysql);
      assertStringIncludes(toMysql.stdout, "Migrated 3 tokens");
      assertEquals(await records(mysql), EXPECTED);
      const toLibsql = await runCli([
        "migrate",
        "--from",
        mysql,
        "--to",
        libsql,
      ]);
      assertOk(toLibsql);
      assertEquals(await records(libsql), EXPECTED);
      assertNoSecrets([toMysql, toLibsql], SECRETS);
    });
  } finally {
    const driver = await import("mysql2/promise");
    const connection = await driver.createConnection(base);
    try {
      await connection.query(`DROP TABLE IF EXISTS ${table}`);
      await connection.query(`DROP TABLE IF EXISTS ${table}_lock`);
      await connection.query(`DROP TABLE IF EXISTS ${table}_status`);
    } finally {
      await connection.end();
    }
  }
});

async function statusesIn(url: string): Promise<TokenStatus[]> {
  const store = await openStore(url);
  try {
    return (await store.status!.list()).sort((a, b) => a.id < b.id ? -1 : 1);
  } finally {
    await store.close?.();
  }
}

Deno.test("cli migrate copies the tokens' statuses too, verified and counted", async () => {
  await withTempDir(async (dir) => {
    const csv = `zoho-csv:${join(dir, "sdk_tokens.txt")}`;
    const kv = `kv:${join(dir, "tokens.db")}`;
    const json = `file:${join(dir, "tokens.json")}`;
    await Deno.writeTextFile(join(dir, "sdk_tokens.txt"), SDK_TOKENS);
    const statuses: TokenStatus[] = [
      {
        id: "1",
        state: "ok",
        lastRefreshAt: 1_800_000_000_000,
        failures: 0,
        refreshTokenExpiresAt: 1_900_000_000_000,
      },
      {
        id: "3",
        state: "revoked",
        lastRefreshAt: 1_700_000_000_000,
        lastFailureAt: 1_800_000_000_500,
        lastError: "invalid_grant",
        failures: 2,
      },
    ];
    // token 2 has no status; "9" is the status of a token no longer there
    const source = await openStore(csv);
    try {
      for (const status of statuses) await source.status!.put(status);
      await source.status!.put({ id: "9", state: "failing", failures: 1 });
    } finally {
      await source.close?.();
    }
    const results: CliResult[] = [];

    const dry = await runCli([
      "migrate",
      "--from",
      csv,
      "--to",
      kv,
      "--dry-run",
    ]);
    results.push(dry);
    assertOk(dry);
    assertStringIncludes(
      dry.stdout,
      `Dry run: would copy 3 tokens and 2 token statuses from ${csv} to ${kv}; nothing was written`,
    );

    const first = await runCli(["migrate", "--from", csv, "--to", kv]);
    results.push(first);
    assertOk(first);
    assertEquals(
      first.stdout,
      `Migrated 3 tokens from ${csv} to ${kv}; all 3 verified\n` +
        "Copied 2 token statuses; all 2 verified\n",
    );
    assertEquals(await records(kv), EXPECTED);
    assertEquals(await statusesIn(kv), statuses);

    // a rerun replaces the target's statuses with the source's, whole
    const target = await openStore(kv);
    try {
      await target.status!.put({
        id: "1",
        state: "failing",
        lastFailureAt: 1_800_000_001_000,
        lastError: "invalid_client",
        failures: 5,
      });
    } finally {
      await target.close?.();
    }
    const rerun = await runCli(["migrate", "--from", csv, "--to", kv]);
    results.push(rerun);
    assertOk(rerun);
    assertEquals(rerun.stdout, first.stdout);
    assertEquals(await statusesIn(kv), statuses);

    // and on to a JSON file: statuses beside it, the token file unchanged
    const onward = await runCli(["migrate", "--from", kv, "--to", json]);
    results.push(onward);
    assertOk(onward);
    assertStringIncludes(
      onward.stdout,
      "Copied 2 token statuses; all 2 verified\n",
    );
    assertEquals(await statusesIn(json), statuses);
    assertEquals(await records(json), EXPECTED);
    assertEquals(
      JSON.parse(
        await Deno.readTextFile(join(dir, "tokens.json.status.json")),
      ).statuses["3"],
      statuses[1],
    );
    assertNoSecrets(results, SECRETS);
  });
});
