/**
 * A scan for leaked secrets over representative scenarios: the CLI run as a
 * subprocess (success, endpoint failures that echo secrets, unreachable
 * databases with passwords and auth tokens, corrupt files, bad URLs), every
 * store logging its tokens and provoking its errors (corrupt stored data,
 * unreachable servers, bad input), the refresh client against a failing
 * token endpoint, and the examples. Everything printed and every error
 * (message, stack, inspection, JSON, cause chain) must hold no secret value
 * and no full Zoho-shaped token.
 */

import { assert, assertEquals } from "@std/assert";
import { EncryptedTokenStore } from "../core/encrypted_token_store.ts";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStore } from "../core/token_store.ts";
import { FileTokenStore } from "../stores/file.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { MysqlTokenStore } from "../stores/mysql.ts";
import { type CliResult, runCli } from "./fixtures/cli.ts";
import { MYSQL } from "./fixtures/sql_server.ts";
import {
  assertSecretFree,
  captureConsole,
  renderError,
  secretsOf,
} from "./fixtures/secret_scan.ts";
import {
  DEFAULT_CLIENT,
  startTokenServer,
  type TokenServerFailure,
} from "./fixtures/token_server.ts";

const root = new URL("../", import.meta.url);

/** Secret values the scenarios put in tokens, URLs and options. */
const SECRET = {
  clientSecret: "scan-client-5ecret-7f3a9c2e1b4d",
  refreshToken: "1000.scan-refresh-5ecret-8e2d4f6a0c1b",
  accessToken: "1000.scan-access-5ecret-9a1c3e5b7d2f",
  grantToken: "1000.scan-grant-5ecret-0b2d4f6a8c1e",
  password: "scan-db-passw0rd-3c5e7a9b1d",
  authToken: "scan-libsql-auth-t0ken-4d6f8b0a2c",
  key: btoa(String.fromCharCode(...new Uint8Array(32).fill(42))),
};

/** A port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function secretToken(user: string): OAuthToken {
  return new OAuthToken({
    userName: `${user}@example.com`,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: `${SECRET.clientSecret}-${user}`,
    refreshToken: `${SECRET.refreshToken}-${user}`,
    accessToken: `${SECRET.accessToken}-${user}`,
    grantToken: `${SECRET.grantToken}-${user}`,
    expiresAt: 1_800_000_000_000,
    apiDomain: "https://www.zohoapis.com",
  });
}

/** Every secret value a scan looks for, as scenarios add them. */
class Secrets {
  readonly values = new Set<string>(Object.values(SECRET));
  add(...values: (string | undefined)[]): void {
    for (const value of values) if (value) this.values.add(value);
  }
  addToken(token: OAuthToken | null | undefined): void {
    if (token) this.add(...secretsOf(token));
  }
}

Deno.test("the CLI prints no secret: listing, refresh and exchange failures that echo secrets, unreachable databases, corrupt files, bad URLs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokenstore_scan_" });
  await using server = await startTokenServer({ rateLimit: false });
  const secrets = new Secrets();
  try {
    const json = `${dir}/tokens.json`;
    const store = new FileTokenStore({ path: json });
    await store.saveToken(secretToken("ada"));
    const live = await store.saveToken(
      new OAuthToken({
        userName: "live@example.com",
        clientId: DEFAULT_CLIENT.clientId,
        clientSecret: DEFAULT_CLIENT.clientSecret,
        refreshToken: server.issueRefreshToken({
          userName: "live@example.com",
        }),
      }),
    );
    for (const token of await store.getTokens()) secrets.addToken(token);
    secrets.add(DEFAULT_CLIENT.clientSecret);
    const corrupt = `${dir}/sdk_tokens.txt`;
    await Deno.writeTextFile(
      corrupt,
      "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain\n" +
        `a1,ada@example.com,1000.C,${SECRET.clientSecret},${SECRET.refreshToken},${SECRET.accessToken},,not-a-time,,\n`,
    );
    const echo = JSON.stringify({
      error: "invalid_request",
      error_description:
        `bad ${live.refreshToken} for ${DEFAULT_CLIENT.clientSecret}`,
    });
    const dead = closedPort();
    const endpoint = ["--token-url", server.url];
    const runs: [string, string[], TokenServerFailure[], number][] = [
      ["list", ["list", "--store", `file:${json}`], [], 0],
      ["list --json", ["list", "--json", "--store", `file:${json}`], [], 0],
      ["show", ["show", live.id!, "--store", `file:${json}`], [], 0],
      [
        "refresh, the endpoint echoing secrets in a 400",
        ["refresh", live.id!, "--store", `file:${json}`, ...endpoint],
        [{ status: 400, body: echo }],
        1,
      ],
      [
        "refresh, the endpoint echoing secrets in a 500",
        ["refresh", live.id!, "--store", `file:${json}`, ...endpoint],
        Array(4).fill({ status: 500, body: echo }),
        1,
      ],
      [
        "refresh, an HTML answer",
        ["refresh", live.id!, "--store", `file:${json}`, ...endpoint],
        ["html"],
        1,
      ],
      [
        "refresh",
        ["refresh", live.id!, "--store", `file:${json}`, ...endpoint],
        [],
        0,
      ],
      [
        "exchange with a used-up code and a secret on the command line",
        [
          "exchange",
          "--code",
          SECRET.grantToken,
          "--client-id",
          DEFAULT_CLIENT.clientId,
          "--client-secret",
          SECRET.clientSecret,
          "--store",
          `file:${json}`,
          ...endpoint,
        ],
        [],
        1,
      ],
      [
        "a MySQL URL with a password, unreachable",
        [
          "list",
          "--store",
          `mysql://scan:${SECRET.password}@127.0.0.1:${dead}/zohooauth`,
        ],
        [],
        1,
      ],
      [
        "a libSQL URL with an auth token, unreachable",
        [
          "list",
          "--store",
          `libsql:http://127.0.0.1:${dead}?authToken=${SECRET.authToken}`,
        ],
        [],
        1,
      ],
      [
        "migrate to an unreachable MySQL with a password",
        [
          "migrate",
          "--from",
          `file:${json}`,
          "--to",
          `mysql://scan:${SECRET.password}@127.0.0.1:${dead}/zohooauth`,
        ],
        [],
        1,
      ],
      [
        "a corrupt Zoho CSV file full of secrets",
        ["list", "--store", `zoho-csv:${corrupt}`],
        [],
        1,
      ],
      [
        "an unknown scheme with a password",
        ["list", "--store", `memcached://:${SECRET.password}@127.0.0.1:11211`],
        [],
        2,
      ],
      [
        "an unreachable Redis with a password",
        [
          "list",
          "--store",
          `redis://scan:${SECRET.password}@127.0.0.1:${dead}/0`,
        ],
        [],
        1,
      ],
      [
        "a Redis refusing the password",
        ["list", "--store", `redis://scan:${SECRET.password}@127.0.0.1:6379/0`],
        [],
        1,
      ],
      [
        "the store URL from the environment",
        ["list"],
        [],
        1,
      ],
    ];
    const results: [string, CliResult][] = [];
    for (const [name, args, failures, code] of runs) {
      server.setFailures(failures);
      const env: Record<string, string> = name.includes("environment")
        ? {
          TOKEN_STORE_URL:
            `mysql://scan:${SECRET.password}@127.0.0.1:${dead}/zohooauth`,
        }
        : {};
      const result = await runCli(args, env);
      assertEquals(result.code, code, `${name}: ${result.stderr}`);
      results.push([name, result]);
    }
    // what the refresh issued is secret too
    for (const token of await store.getTokens()) secrets.addToken(token);
    assert(server.stats().issued >= 1);
    for (const [name, result] of results) {
      assertSecretFree(
        `${result.stdout}\n${result.stderr}`,
        secrets.values,
        `cli ${name}`,
      );
    }
    const listed = results[0][1].stdout;
    assert(listed.includes("ada@example.com"), listed);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

interface Scenario {
  name: string;
  open(dir: string): Promise<TokenStore>;
  /** Damages the stored token `id` with secrets in the damaged data. */
  corrupt?(store: TokenStore, dir: string, id: string): Promise<void>;
  cleanup?(): Promise<void>;
}

const mysqlTable = MYSQL.freshTable("scan");
const SCENARIOS: Scenario[] = [
  { name: "memory", open: () => Promise.resolve(new MemoryTokenStore()) },
  {
    name: "kv",
    open: (dir) => KvTokenStore.open({ path: `${dir}/kv.db` }),
    async corrupt(_, dir, id) {
      const kv = await Deno.openKv(`${dir}/kv.db`);
      await kv.set(["tokenstore", "token", id], {
        id,
        refreshToken: SECRET.refreshToken,
        clientSecret: SECRET.clientSecret.repeat(200),
        expiresAt: `${SECRET.accessToken}`,
      });
      kv.close();
    },
  },
  {
    name: "libsql",
    open: (dir) =>
      LibsqlTokenStore.open({
        url: `file:${dir}/libsql.db`,
        authToken: SECRET.authToken,
      }),
    async corrupt(_, dir, id) {
      const { createClient } = await import("@libsql/client");
      const client = createClient({ url: `file:${dir}/libsql.db` });
      await client.execute({
        sql:
          "UPDATE oauthtoken SET client_secret = ?, expiry_time = ? WHERE id = ?",
        args: [SECRET.clientSecret.repeat(200), SECRET.accessToken, id],
      });
      client.close();
    },
  },
  {
    name: "file json",
    open: (dir) =>
      Promise.resolve(new FileTokenStore({ path: `${dir}/t.json` })),
    async corrupt(_, dir) {
      const path = `${dir}/t.json`;
      const text = await Deno.readTextFile(path);
      // cut the file right after a secret
      const at = text.indexOf(SECRET.refreshToken) + SECRET.refreshToken.length;
      await Deno.writeTextFile(path, text.slice(0, at));
    },
  },
  {
    name: "encrypted file",
    open: (dir) =>
      Promise.resolve(
        new EncryptedTokenStore(
          new FileTokenStore({ path: `${dir}/encrypted.json` }),
          { keys: SECRET.key },
        ),
      ),
    async corrupt(_, dir) {
      // flip one character inside the encrypted refresh token
      const path = `${dir}/encrypted.json`;
      const file = JSON.parse(await Deno.readTextFile(path));
      const value: string = file.tokens[0].refreshToken;
      const at = Math.floor(value.length / 2);
      file.tokens[0].refreshToken = `${value.slice(0, at)}${
        value[at] === "A" ? "B" : "A"
      }${value.slice(at + 1)}`;
      await Deno.writeTextFile(path, JSON.stringify(file));
    },
  },
  {
    name: "file zoho-csv",
    open: (dir) =>
      Promise.resolve(
        new FileTokenStore({ path: `${dir}/sdk.txt`, format: "zoho-csv" }),
      ),
    async corrupt(_, dir) {
      const path = `${dir}/sdk.txt`;
      await Deno.writeTextFile(
        path,
        `${await Deno.readTextFile(
          path,
        )}x1,${SECRET.refreshToken},${SECRET.clientSecret}\n`,
      );
    },
  },
];
if (MYSQL.url !== undefined) {
  SCENARIOS.push({
    name: "mysql",
    open: () => MysqlTokenStore.open({ url: MYSQL.url, table: mysqlTable }),
    async corrupt(_, __, id) {
      await MYSQL.withAdmin((admin) =>
        admin.query(
          `UPDATE \`${mysqlTable}\` SET expiry_time = ?, client_secret = ? WHERE id = ?`,
          [SECRET.accessToken.slice(0, 20), SECRET.clientSecret, id],
        )
      );
    },
    cleanup: () =>
      MYSQL.dropTables(
        mysqlTable,
        `${mysqlTable}_lock`,
        `${mysqlTable}_status`,
      ),
  });
} else {
  console.log(
    "Notice: MYSQL_URL is unset, the MySQL store is left out of tests/secrets_scan_test.ts",
  );
}

Deno.test({
  name:
    "stores print no secret: tokens and stores logged, bad input, corrupt stored data, unreachable servers",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tokenstore_scan_" });
    const secrets = new Secrets();
    const errors: [string, unknown][] = [];
    const attempt = async (
      name: string,
      fn: () => Promise<unknown>,
      mayPass = false,
    ) => {
      try {
        await fn();
        if (!mayPass) errors.push([name, new Error(`${name} succeeded`)]);
      } catch (error) {
        errors.push([name, error]);
        console.error(error);
      }
    };
    try {
      const { logged } = await captureConsole(async () => {
        for (const scenario of SCENARIOS) {
          const store = await scenario.open(dir);
          try {
            await store.deleteTokens();
            const saved = await store.saveToken(
              secretToken(scenario.name.replace(/\W/g, "")),
            );
            secrets.addToken(saved);
            const found = await store.findToken({
              refreshToken: saved.refreshToken,
            });
            // what an application might log
            console.log(store);
            console.log(saved, found, `${saved}`, JSON.stringify(found));
            console.log(await store.getTokens());
            console.info(
              "lease",
              await store.lock?.acquire("k", { ttlMs: 500 }),
            );
            console.table([saved.toJSON()]);
            const n = `${scenario.name}:`;
            await attempt(
              `${n} save secrets into a bad field`,
              () =>
                store.saveToken(
                  new OAuthToken({
                    ...saved.toRecord(),
                    id: `${SECRET.refreshToken.slice(5, 13)}/x`,
                  }),
                ),
            );
            await attempt(
              `${n} find by a 5000-character secret`,
              () =>
                store.findToken({
                  refreshToken: SECRET.refreshToken.repeat(130),
                }),
            );
            // too wide for the SQL stores' columns; others store it
            await attempt(
              `${n} save a secret too long`,
              () =>
                store.saveToken(
                  new OAuthToken({
                    userName: "long@example.com",
                    refreshToken: `${SECRET.refreshToken}${"r".repeat(3000)}`,
                    clientSecret: `${SECRET.clientSecret}${"c".repeat(3000)}`,
                  }),
                ),
              true,
            );
            if (scenario.corrupt) {
              await scenario.corrupt(store, dir, saved.id!);
              await attempt(`${n} read corrupt data`, async () => {
                await store.close?.();
                const again = await scenario.open(dir);
                try {
                  await again.getTokens();
                } finally {
                  await again.close?.();
                }
              });
            }
          } finally {
            await store.close?.();
            await scenario.cleanup?.();
          }
        }
        const dead = closedPort();
        await attempt(
          "libsql remote unreachable with an auth token",
          () =>
            LibsqlTokenStore.open({
              url: `http://127.0.0.1:${dead}`,
              authToken: SECRET.authToken,
            }),
        );
        await attempt(
          "mysql unreachable with a password",
          () =>
            MysqlTokenStore.open({
              url:
                `mysql://scan:${SECRET.password}@127.0.0.1:${dead}/zohooauth`,
            }),
        );
        if (MYSQL.url !== undefined) {
          const url = new URL(MYSQL.url);
          url.password = SECRET.password;
          url.username = "tokenstore_no_such_user";
          await attempt(
            "mysql with a wrong password",
            () => MysqlTokenStore.open({ url: url.href, table: mysqlTable }),
          );
        }
        await attempt("kv closed", async () => {
          const store = await KvTokenStore.open({ path: ":memory:" });
          await store.close();
          await store.saveToken(secretToken("closed"));
        });
      });
      assert(
        errors.length >= SCENARIOS.length * 2 + 3,
        `${errors.length} errors`,
      );
      for (const [name, error] of errors) {
        assert(
          !(error instanceof Error && error.message === `${name} succeeded`),
          `${name} succeeded`,
        );
        assertSecretFree(renderError(error), secrets.values, name);
      }
      assertSecretFree(logged, secrets.values, "what the scenarios logged");
      assert(logged.includes("redacted"), "nothing redacted was logged");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the refresh client prints no secret: a failing endpoint echoing secrets, a refused connection, a used-up code, 401 answers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokenstore_scan_" });
  await using server = await startTokenServer({
    mode: "standard",
    rateLimit: false,
  });
  const store = await KvTokenStore.open({ path: `${dir}/kv.db` });
  const secrets = new Secrets();
  try {
    const stored = await store.saveToken(
      new OAuthToken({
        userName: "ada@example.com",
        refreshToken: server.issueRefreshToken({ userName: "ada@example.com" }),
        accessToken: SECRET.accessToken,
        expiresAt: Date.now() - 1,
      }),
    );
    secrets.addToken(stored);
    secrets.add(DEFAULT_CLIENT.clientSecret);
    const client = new TokenClient({
      store,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      redirectUrl: DEFAULT_CLIENT.redirectUrl,
      tokenUrl: server.url,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
      // the server does not rotate: a dropped refresh may be sent again
      rotation: false,
    });
    const code = server.issueGrantCode({ userName: "grace@example.com" });
    secrets.add(code);
    const echo = JSON.stringify({
      error: "invalid_request",
      error_description:
        `bad ${stored.refreshToken} / ${DEFAULT_CLIENT.clientSecret} / ${code}`,
    });
    const query = { userName: "ada@example.com" };
    const { logged } = await captureConsole(async () => {
      const errors: unknown[] = [];
      const failures: TokenServerFailure[] = [
        { status: 400, body: echo },
        { status: 500, body: echo },
        { status: 429, body: echo },
        {
          status: 401,
          body: echo.replace("invalid_request", "invalid_client"),
        },
        "drop",
        "garbage",
        "html",
      ];
      for (const failure of failures) {
        for (
          const call of [
            () => client.getAccessToken(query),
            () =>
              client.exchangeGrantToken(code, {
                userName: "grace@example.com",
              }),
            () => client.revoke(query),
          ]
        ) {
          server.setFailures([failure, failure]);
          try {
            await call();
            errors.push(new Error("expected a failure"));
          } catch (error) {
            errors.push(error);
          }
        }
      }
      server.setFailures([]);
      const other = new TokenClient({
        store,
        clientId: DEFAULT_CLIENT.clientId,
        clientSecret: DEFAULT_CLIENT.clientSecret,
        tokenUrl: `http://127.0.0.1:${closedPort()}/oauth/v2/token`,
        retry: { maxAttempts: 1 },
      });
      await other.getAccessToken(query).catch((error) => errors.push(error));
      // success: the exchange, a refresh, an authorised call refreshed on 401
      const exchanged = await client.exchangeGrantToken(code, {
        userName: "grace@example.com",
      });
      secrets.addToken(exchanged);
      await client.exchangeGrantToken(code).catch((error) =>
        errors.push(error)
      );
      const token = await client.getToken(query);
      secrets.addToken(token);
      server.expireAccessTokens();
      const response = await client.fetch(server.apiUrl, { token: query });
      secrets.addToken(await store.findToken(query));
      console.log(client, token, exchanged, response.status);
      console.log(await response.json());
      for (const error of errors) console.error(error);
      assert(
        errors.every((e) =>
          !(e instanceof Error && e.message === "expected a failure")
        ),
      );
      for (const error of errors) {
        assertSecretFree(renderError(error), secrets.values, String(error));
      }
    });
    assertSecretFree(
      logged,
      secrets.values,
      "what the client scenarios logged",
    );
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the examples print no secret, also when their database is unreachable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokenstore_scan_" });
  try {
    const run = async (
      path: string,
      args: string[] = [],
      env: Record<string, string> = {},
    ) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", path, ...args],
        cwd: root,
        env: { NO_COLOR: "1", ...env },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decoder = new TextDecoder();
      return {
        code: output.code,
        text: `${decoder.decode(output.stdout)}\n${
          decoder.decode(output.stderr)
        }`,
      };
    };
    const secrets = [
      "fixture-client-secret-0123456789abcdef",
      "file-example-refresh",
      "libsql-example-grant",
      SECRET.authToken,
      SECRET.password,
    ];
    const quickstart = await run("examples/quickstart.ts", [], {
      QUICKSTART_KV: `${dir}/quickstart.db`,
    });
    assertEquals(quickstart.code, 0, quickstart.text);
    const file = await run("examples/file_store.ts", [dir]);
    assertEquals(file.code, 0, file.text);
    const libsql = await run("examples/libsql_store.ts", [
      `file:${dir}/libsql.db`,
    ], { LIBSQL_AUTH_TOKEN: SECRET.authToken });
    assertEquals(libsql.code, 0, libsql.text);
    const mysql = await run("examples/mysql_store.ts", [], {
      MYSQL_URL:
        `mysql://scan:${SECRET.password}@127.0.0.1:${closedPort()}/zohooauth`,
    });
    assert(mysql.code !== 0, "the MySQL example reached a closed port");
    for (
      const [name, out] of Object.entries({ quickstart, file, libsql, mysql })
    ) {
      assertSecretFree(out.text, secrets, `examples/${name}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
