import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import { join } from "@std/path";
import { generateEncryptionKey } from "../core/encrypted_token_store.ts";
import { OAuthToken, type OAuthTokenInit } from "../core/token.ts";
import { openStore } from "../stores/open_store.ts";
import {
  assertFails,
  assertNoSecrets,
  assertOk,
  type CliResult,
  runCli,
} from "./fixtures/cli.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";

const TOKENS: OAuthTokenInit[] = [
  {
    id: "1",
    userName: "ada@example.com",
    clientId: "1000.ADACLIENT",
    clientSecret: "enc-secret-ada-0000000000",
    refreshToken: "1000.enc-refresh-ada-1111111111",
    accessToken: "1000.enc-access-ada-2222222222",
    expiresAt: 1893456000000,
    apiDomain: "https://www.zohoapis.eu",
  },
  {
    id: "2",
    userName: "bob@example.com",
    clientId: "1000.BOBCLIENT",
    grantToken: "1000.enc-grant-bob-3333333333",
    redirectUrl: "https://app.example.com/cb",
  },
];
const SECRETS = TOKENS.flatMap((
  t,
) => [t.clientSecret, t.refreshToken, t.accessToken, t.grantToken]);

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

/** Every secret value stored, as the inner store holds it. */
async function rawSecrets(url: string): Promise<string[]> {
  return (await records(url)).flatMap((
    r,
  ) => [r.clientSecret, r.refreshToken, r.accessToken, r.grantToken])
    .filter((s): s is string => s !== undefined);
}

async function withTempDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cli_encrypted_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function seedPlain(url: string): Promise<void> {
  const store = await openStore(url);
  try {
    for (const init of TOKENS) await store.saveToken(new OAuthToken(init));
  } finally {
    await store.close?.();
  }
}

Deno.test("cli migrate --to-encrypted / --from-encrypted: encrypted at rest, every field back intact", async () => {
  await withTempDir(async (dir) => {
    const key = generateEncryptionKey();
    const env = { TOKENSTORE_KEY: key };
    const plain = `file:${join(dir, "plain.json")}`;
    const kv = `kv:${join(dir, "tokens.db")}`;
    const back = `file:${join(dir, "back.json")}`;
    await seedPlain(plain);
    const results: CliResult[] = [];

    const to = await runCli([
      "migrate",
      "--from",
      plain,
      "--to",
      kv,
      "--to-encrypted",
    ], env);
    results.push(to);
    assertOk(to);
    assertStringIncludes(to.stdout, "Migrated 2 tokens");
    const raw = await rawSecrets(kv);
    assertEquals(raw.length, 4);
    assert(
      raw.every((s) => s.startsWith("enc1:")),
      "secrets are not encrypted at rest",
    );

    const list = await runCli(["list", "--encrypted", "--store", kv], env);
    results.push(list);
    assertOk(list);
    assertMatch(
      list.stdout,
      /^1\s+ada@example\.com\s+1000\.ADACLIENT\s+in \d+ d\s+refresh,access,client-secret$/m,
    );
    const show = await runCli([
      "show",
      "1",
      "--json",
      "--encrypted",
      "--store",
      kv,
    ], env);
    results.push(show);
    assertOk(show);
    assertEquals(
      JSON.parse(show.stdout).refreshToken,
      new OAuthToken(TOKENS[0]).toJSON().refreshToken,
    );

    const home = await runCli([
      "migrate",
      "--from",
      kv,
      "--from-encrypted",
      "--to",
      back,
    ], env);
    results.push(home);
    assertOk(home);
    assertEquals(await records(back), TOKENS);
    assertNoSecrets(results, [...SECRETS, key]);
  });
});

Deno.test("cli rekey rotates keys and encrypts a plaintext store in place", async () => {
  await withTempDir(async (dir) => {
    const [oldKey, newKey, otherKey] = [
      generateEncryptionKey(),
      generateEncryptionKey(),
      generateEncryptionKey(),
    ];
    const url = `file:${join(dir, "tokens.json")}`;
    await seedPlain(url);
    const results: CliResult[] = [];

    // Without --accept-plaintext, plaintext secrets cannot be read: nothing is changed.
    const refused = await runCli(["rekey", "--store", url], {
      TOKENSTORE_KEY: oldKey,
    });
    results.push(refused);
    assertEquals(refused.code, 1);
    assertStringIncludes(
      refused.stderr,
      'Cannot decrypt tokens with any key in "TOKENSTORE_KEY": "1", "2"',
    );
    assertEquals(await records(url), TOKENS);

    const encrypt = await runCli([
      "rekey",
      "--accept-plaintext",
      "--store",
      url,
    ], { TOKENSTORE_KEY: oldKey });
    results.push(encrypt);
    assertOk(encrypt);
    assertMatch(
      encrypt.stdout,
      /^Re-encrypted 2 of 2 tokens with key "[A-Za-z0-9_-]{4}"\n$/,
    );
    const underOld = await rawSecrets(url);
    assert(underOld.every((s) => s.startsWith("enc1:")), "not encrypted");

    const rotate = await runCli(["rekey", "--store", url], {
      TOKENSTORE_KEY: `${newKey},${oldKey}`,
    });
    results.push(rotate);
    assertOk(rotate);
    const underNew = await rawSecrets(url);
    assert(
      underNew.every((s, i) => s.startsWith("enc1:") && s !== underOld[i]),
      "not re-encrypted",
    );

    // The old key alone no longer reads them; the new key alone does.
    const stale = await runCli(["show", "1", "--encrypted", "--store", url], {
      TOKENSTORE_KEY: oldKey,
    });
    results.push(stale);
    assertFails(stale, 1, "not among the configured keys");
    const fresh = await runCli([
      "list",
      "--json",
      "--encrypted",
      "--store",
      url,
    ], { TOKENSTORE_KEY: newKey });
    results.push(fresh);
    assertOk(fresh);
    assertEquals(JSON.parse(fresh.stdout).map((e: { id: string }) => e.id), [
      "1",
      "2",
    ]);
    const wrong = await runCli(["rekey", "--store", url], {
      TOKENSTORE_KEY: otherKey,
    });
    results.push(wrong);
    assertEquals(wrong.code, 1);
    assertMatch(wrong.stdout, /^Re-encrypted 0 of 2 tokens/);
    assertMatch(
      wrong.stderr,
      /^error: Cannot decrypt tokens with any key in "TOKENSTORE_KEY": "1", "2"\n$/,
    );
    assertNoSecrets(results, [...SECRETS, oldKey, newKey, otherKey]);
  });
});

Deno.test("cli --encrypted needs a valid TOKENSTORE_KEY (exit 2, key never echoed)", async () => {
  assertFails(
    await runCli(["list", "--encrypted", "--store", "memory:"]),
    2,
    '"TOKENSTORE_KEY"',
  );
  assertFails(
    await runCli(["rekey", "--store", "memory:"]),
    2,
    '"TOKENSTORE_KEY"',
  );
  const badKey = "bm90LWEtMzItYnl0ZS1rZXktYXQtYWxs";
  const bad = await runCli(["list", "--encrypted", "--store", "memory:"], {
    TOKENSTORE_KEY: badKey,
  });
  assertFails(bad, 2, 'Invalid "TOKENSTORE_KEY"');
  assertNoSecrets([bad], [badKey]);
  assertFails(
    await runCli(["rekey", "--wait-ms", "soon", "--store", "memory:"], {
      TOKENSTORE_KEY: generateEncryptionKey(),
    }),
    2,
    '"--wait-ms"',
  );
});

Deno.test("cli exchange and refresh --encrypted keep the tokens encrypted at rest", async () => {
  await withTempDir(async (dir) => {
    await using server = await startTokenServer();
    const key = generateEncryptionKey();
    const env = { TOKENSTORE_KEY: key };
    const url = `file:${join(dir, "tokens.json")}`;
    const code = server.issueGrantCode({ userName: "ada@example.com" });
    const exchange = await runCli([
      "exchange",
      "--encrypted",
      "--code",
      code,
      "--client-id",
      DEFAULT_CLIENT.clientId,
      "--client-secret",
      DEFAULT_CLIENT.clientSecret,
      "--redirect-url",
      DEFAULT_CLIENT.redirectUrl,
      "--user",
      "ada@example.com",
      "--token-url",
      server.url,
      "--store",
      url,
    ], env);
    assertOk(exchange);
    const id = /^Stored token "([^"]+)"/.exec(exchange.stdout)![1];
    const raw = await rawSecrets(url);
    assert(
      raw.length >= 3,
      "refresh, access token and client secret are stored",
    );
    assert(raw.every((s) => s.startsWith("enc1:")), "stored in plaintext");

    const refresh = await runCli([
      "refresh",
      id,
      "--encrypted",
      "--token-url",
      server.url,
      "--store",
      url,
    ], env);
    assertOk(refresh);
    assertEquals(server.stats().refreshToken, 1);
    const after = await rawSecrets(url);
    assert(
      after.every((s) => s.startsWith("enc1:")),
      "refreshed token stored in plaintext",
    );
    assertNoSecrets([exchange, refresh], [
      code,
      DEFAULT_CLIENT.clientSecret,
      key,
    ]);
  });
});
