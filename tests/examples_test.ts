import { assert, assertEquals } from "@std/assert";

const root = new URL("../", import.meta.url);

const FIXTURE_SECRETS = [
  "fixture-client-secret-0123456789abcdef",
  "quickstart-client-secret",
];

/** No client secret and no full Zoho-shaped token (1000.<hex>) is printed. */
function assertNoSecrets(output: string): void {
  for (const secret of FIXTURE_SECRETS) {
    assert(!output.includes(secret), `secret printed: ${secret}`);
  }
  const token = output.match(/1000\.[0-9a-f]{16,}/);
  assert(token === null, `token printed: ${token?.[0].slice(0, 12)}…`);
}

async function runExample(
  path: string,
  options: { env?: Record<string, string>; args?: string[] } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path, ...(options.args ?? [])],
    cwd: root,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("examples/quickstart.ts exchanges, lists redacted tokens and refreshes at expiry", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { code, stdout, stderr } = await runExample(
      "examples/quickstart.ts",
      {
        env: { QUICKSTART_KV: `${dir}/tokens.db` },
      },
    );
    assertEquals(code, 0, stderr);
    assert(stdout.includes(`${dir}/tokens.db`), stdout);
    assert(
      stdout.includes("Exchanged a grant token for ada@example.com"),
      stdout,
    );
    assert(stdout.includes("grace@example.com"), stdout);
    assert(
      stdout.includes("so the client refreshed it: new access token"),
      stdout,
    );
    assert(
      stdout.includes("Token endpoint requests: 1 grant exchange, 1 refresh"),
      stdout,
    );
    assert(stdout.includes("redacted"), stdout);
    assertNoSecrets(stdout + stderr);
    // the tokens really are in the KV file the example names
    const kv = await Deno.openKv(`${dir}/tokens.db`);
    let records = 0;
    for await (const _ of kv.list({ prefix: ["tokenstore", "token"] })) {
      records++;
    }
    kv.close();
    assertEquals(records, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/memory_store.ts, kv_store.ts, libsql_store.ts and file_store.ts run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const memory = await runExample("examples/memory_store.ts");
    assertEquals(memory.code, 0, memory.stderr);
    assert(memory.stdout.includes("Updated in place: true"), memory.stdout);
    assert(memory.stdout.includes("Deleted: true"), memory.stdout);

    const kv = await runExample("examples/kv_store.ts", {
      args: [`${dir}/kv.db`],
    });
    assertEquals(kv.code, 0, kv.stderr);
    assert(
      kv.stdout.includes("Lease taken: true; taken twice: false"),
      kv.stdout,
    );
    assert(kv.stdout.includes('clientId: "1000.KVEXAMPLE"'), kv.stdout);

    const libsql = await runExample("examples/libsql_store.ts", {
      args: [`file:${dir}/libsql.db`],
    });
    assertEquals(libsql.code, 0, libsql.stderr);
    assert(libsql.stdout.includes('table "oauthtoken"'), libsql.stdout);
    assert(libsql.stdout.includes("Tokens stored: 1"), libsql.stdout);

    const file = await runExample("examples/file_store.ts", { args: [dir] });
    assertEquals(file.code, 0, file.stderr);
    const csv = await Deno.readTextFile(`${dir}/sdk_tokens.txt`);
    assertEquals(
      csv.split("\n")[0],
      "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain",
    );
    assert(
      csv.includes(
        ",ada@example.com,1000.FILEEXAMPLE,,1000.file-example-refresh,,,1800000000000,,",
      ),
      csv,
    );
    assert(JSON.parse(await Deno.readTextFile(`${dir}/tokens.json`)));

    for (const out of [memory, kv, libsql, file]) {
      for (
        const secret of [
          "memory-example",
          "kv-example-refresh",
          "libsql-example-grant",
          "file-example-refresh",
        ]
      ) {
        assert(
          !out.stdout.includes(secret) && !out.stderr.includes(secret),
          `${secret} printed`,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const mysqlUrl = Deno.env.get("MYSQL_URL");
if (!mysqlUrl) {
  console.log(
    "MYSQL_URL is not set: skipping the examples/mysql_store.ts test",
  );
} else {
  Deno.test("examples/mysql_store.ts runs against MySQL", async () => {
    const table = `ex_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const out = await runExample("examples/mysql_store.ts", {
      env: { MYSQL_URL: mysqlUrl, MYSQL_TABLE: table },
    });
    const mysql = await import("mysql2/promise");
    const pool = mysql.createPool(mysqlUrl);
    try {
      assertEquals(out.code, 0, out.stderr);
      assert(out.stdout.includes('clientId: "1000.MYSQLEXAMPLE"'), out.stdout);
      assert(out.stdout.includes("Deleted: true"), out.stdout);
      assert(!out.stdout.includes("mysql-example-refresh"));
      const [rows] = await pool.query(`SELECT COUNT(*) AS n FROM ${table}`);
      assertEquals((rows as { n: number }[])[0].n, 0);
    } finally {
      await pool.query(
        `DROP TABLE IF EXISTS ${table}, ${table}_lock, ${table}_status`,
      );
      await pool.end();
    }
  });
}

Deno.test("examples/migrate_from_zoho_sdk.ts moves sdk_tokens.txt into KV and libSQL, rerun-safe", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/sdk_tokens.txt`,
      "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_uri,api_domain\n" +
        "1,ada@example.com,1000.C,migrate-secret,1000.migrate-r1,1000.migrate-a1,,1800000000000,https://app.example.com/cb,https://www.zohoapis.eu\n" +
        "2,bob@example.com,1000.C,migrate-secret,1000.migrate-r2,,1000.migrate-g2,,,\n",
    );
    for (const target of [`kv:${dir}/t.db`, `libsql:file:${dir}/t.sqlite`]) {
      for (let run = 0; run < 2; run++) {
        const out = await runExample("examples/migrate_from_zoho_sdk.ts", {
          args: [`zoho-csv:${dir}/sdk_tokens.txt`, target],
        });
        assertEquals(out.code, 0, out.stderr);
        assert(
          out.stdout.includes("Migrated 2 of 2 tokens, every field verified"),
          out.stdout,
        );
        assert(!out.stdout.includes("migrate-secret"));
      }
    }
    const { openStore } = await import("../mod.ts");
    const kv = await openStore(`kv:${dir}/t.db`);
    try {
      const ada = await kv.findTokenById("1");
      assertEquals(ada?.toRecord(), {
        id: "1",
        userName: "ada@example.com",
        clientId: "1000.C",
        clientSecret: "migrate-secret",
        refreshToken: "1000.migrate-r1",
        accessToken: "1000.migrate-a1",
        expiresAt: 1800000000000,
        redirectUrl: "https://app.example.com/cb",
        apiDomain: "https://www.zohoapis.eu",
      });
      assertEquals((await kv.getTokens()).length, 2);
    } finally {
      await kv.close?.();
    }
    const usage = await runExample("examples/migrate_from_zoho_sdk.ts");
    assertEquals(usage.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/deploy/main.ts connects a user and calls the API through client.fetch", async () => {
  const { startTokenServer } = await import("./fixtures/token_server.ts");
  const server = await startTokenServer({ mode: "zoho" });
  const dir = await Deno.makeTempDir();
  const app = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "examples/deploy/main.ts"],
    cwd: root,
    env: {
      PORT: "0",
      KV_PATH: `${dir}/deploy.db`,
      ZOHO_CLIENT_ID: "1000.FIXTURECLIENT0000000000000000",
      ZOHO_CLIENT_SECRET: "fixture-client-secret-0123456789abcdef",
      ZOHO_REDIRECT_URL: "http://127.0.0.1/callback",
      ZOHO_TOKEN_URL: server.url,
      ZOHO_CRM_PATH: "/api/crm/v8/users?type=CurrentUser",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(app.stderr).text();
  const lines = app.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`app exited: ${await stderr}`);
      first += value;
    }
    const base = first.match(/Listening on (http:\/\/\S+)/)![1];
    assertEquals(await (await fetch(`${base}health`)).text(), "ok");

    const notConnected = await fetch(`${base}crm/me?user=ada@example.com`);
    assertEquals(notConnected.status, 404);
    await notConnected.body?.cancel();

    const code = server.issueGrantCode({ userName: "ada@example.com" });
    const callback = await fetch(
      `${base}oauth/callback?code=${code}&user=ada@example.com`,
    );
    assertEquals(await callback.json(), { connected: "ada@example.com" });

    // the callback replayed: the stored token, the code not sent again
    const reused = await fetch(
      `${base}oauth/callback?code=${code}&user=ada@example.com`,
    );
    assertEquals(await reused.json(), { connected: "ada@example.com" });
    assertEquals(server.stats().authorizationCode, 1);
    // replayed for another user: refused, nothing stored for them
    const stolen = await fetch(
      `${base}oauth/callback?code=${code}&user=mallory@example.com`,
    );
    assertEquals(stolen.status, 409);
    await stolen.body?.cancel();
    const mallory = await fetch(`${base}crm/me?user=mallory@example.com`);
    assertEquals(mallory.status, 404);
    await mallory.body?.cancel();
    assertEquals(server.stats().authorizationCode, 1);

    const me = await fetch(`${base}crm/me?user=ada@example.com`);
    assertEquals(me.status, 200);
    const echoed = await me.text();
    assert(echoed.includes("/api/crm/v8/users"), echoed);

    // an expired access token: the API answers 401, the app refreshes once and retries
    server.expireAccessTokens();
    const again = await fetch(`${base}crm/me?user=ada@example.com`);
    assertEquals(again.status, 200);
    await again.body?.cancel();
    assertEquals(server.stats().refreshToken, 1);
  } finally {
    app.kill("SIGTERM");
    await app.status;
    await lines.cancel().catch(() => {});
    const errors = await stderr;
    assert(!errors.includes("fixture-client-secret"), errors);
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

const postgresUrl = Deno.env.get("POSTGRES_URL");
if (!postgresUrl) {
  console.log(
    "POSTGRES_URL is not set: skipping the examples/supabase_edge_function.ts test",
  );
} else {
  Deno.test("examples/supabase_edge_function.ts stores a user's tokens in PostgreSQL and calls the API through client.fetch", async () => {
    const { startTokenServer } = await import("./fixtures/token_server.ts");
    const { default: postgres } = await import("postgres");
    const server = await startTokenServer({ mode: "zoho" });
    const table = `ex_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const app = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "examples/supabase_edge_function.ts"],
      cwd: root,
      env: {
        PORT: "0",
        DATABASE_URL: postgresUrl,
        TOKEN_TABLE: table,
        ZOHO_CLIENT_ID: "1000.FIXTURECLIENT0000000000000000",
        ZOHO_CLIENT_SECRET: "fixture-client-secret-0123456789abcdef",
        ZOHO_REDIRECT_URL: "http://127.0.0.1/callback",
        ZOHO_TOKEN_URL: server.url,
        ZOHO_CRM_PATH: "/api/crm/v8/users?type=CurrentUser",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(app.stderr).text();
    const lines = app.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const sql = postgres(postgresUrl, { onnotice: () => {} });
    try {
      let first = "";
      while (!first.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`app exited: ${await stderr}`);
        first += value;
      }
      // routes match the end of the path, as under /functions/v1/<name>/
      const base = `${
        first.match(/Listening on (http:\/\/\S+)/)![1]
      }functions/v1/zoho/`;
      assertEquals(await (await fetch(`${base}health`)).text(), "ok");

      const notConnected = await fetch(`${base}crm/me?user=ada@example.com`);
      assertEquals(notConnected.status, 404);
      await notConnected.body?.cancel();

      const code = server.issueGrantCode({ userName: "ada@example.com" });
      const callback = await fetch(
        `${base}oauth/callback?code=${code}&user=ada@example.com`,
      );
      assertEquals(await callback.json(), { connected: "ada@example.com" });
      const rows = await sql.unsafe(
        `SELECT user_name, client_id, refresh_token IS NOT NULL AS has_refresh FROM "${table}"`,
      );
      assertEquals([...rows], [{
        user_name: "ada@example.com",
        client_id: "1000.FIXTURECLIENT0000000000000000",
        has_refresh: true,
      }]);

      const me = await fetch(`${base}crm/me?user=ada@example.com`);
      assertEquals(me.status, 200);
      assert((await me.text()).includes("/api/crm/v8/users"));

      // an expired access token: the API answers 401, the app refreshes once and retries
      server.expireAccessTokens();
      const again = await fetch(`${base}crm/me?user=ada@example.com`);
      assertEquals(again.status, 200);
      await again.body?.cancel();
      assertEquals(server.stats().refreshToken, 1);
    } finally {
      app.kill("SIGTERM");
      await app.status;
      await lines.cancel().catch(() => {});
      const errors = await stderr;
      assert(!errors.includes("fixture-client-secret"), errors);
      await server.close();
      await sql.unsafe(
        `DROP TABLE IF EXISTS "${table}", "${table}_lock", "${table}_status"`,
      );
      await sql.end();
    }
  });
}

Deno.test("examples/zoho_sdk.ts: the real TypeScript SDK on a KV store, its grant token exchanged once, then refreshed through the client", async () => {
  const { DEFAULT_CLIENT, startTokenServer } = await import(
    "./fixtures/token_server.ts"
  );
  await using server = await startTokenServer({ mode: "zoho" });
  const dir = await Deno.makeTempDir();
  const env = {
    ZOHO_CLIENT_ID: DEFAULT_CLIENT.clientId,
    ZOHO_CLIENT_SECRET: DEFAULT_CLIENT.clientSecret,
    ZOHO_REDIRECT_URL: DEFAULT_CLIENT.redirectUrl,
    ZOHO_USER: "ada@example.com",
    ZOHO_API_URL: server.origin,
    ZOHO_ACCOUNTS_URL: server.url,
    TOKEN_STORE_URL: `kv:${dir}/tokens.db`,
    CALLS: "8",
  };
  try {
    const first = await runExample("examples/zoho_sdk.ts", {
      env: {
        ...env,
        ZOHO_GRANT_TOKEN: server.issueGrantCode({
          userName: "ada@example.com",
        }),
      },
    });
    assertEquals(first.code, 0, first.stderr);
    assert(
      first.stdout.includes(
        `8 SDK calls at once: ${
          Array(8).fill("200 ada@example.com").join(", ")
        }`,
      ),
      first.stdout,
    );
    assertNoSecrets(first.stdout + first.stderr);
    assertEquals(server.stats().authorizationCode, 1);
    assertEquals(server.stats().refreshToken, 0);
    // the access token dies early: the 8 calls answered 401 report it, one
    // refresh follows, and the calls made again are answered
    server.expireAccessTokens();
    const again = await runExample("examples/zoho_sdk.ts", { env });
    assertEquals(again.code, 0, again.stderr);
    assert(
      again.stdout.includes(Array(8).fill("200 ada@example.com").join(", ")),
      again.stdout,
    );
    assertEquals(server.stats().authorizationCode, 1);
    assertEquals(server.stats().refreshToken, 1);
    assertNoSecrets(again.stdout + again.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
