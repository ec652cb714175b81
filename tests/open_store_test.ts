import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { join, toFileUrl } from "@std/path";
import { OAuthToken } from "../core/token.ts";
import type { TokenStore } from "../core/token_store.ts";
import { FileTokenStore } from "../stores/file.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { openStore } from "../stores/open_store.ts";

const root = new URL("../", import.meta.url);

/** Saves a token, finds it back by user and by id, and closes the store. */
async function roundTrip(store: TokenStore): Promise<void> {
  try {
    const saved = await store.saveToken(
      new OAuthToken({
        userName: "ada@example.com",
        clientId: "1000.CLIENT",
        clientSecret: "open-store-client-secret",
        refreshToken: "1000.open-store-refresh",
        accessToken: "1000.open-store-access",
        expiresAt: 1_800_000_000_000,
        apiDomain: "https://www.zohoapis.eu",
      }),
    );
    assert(saved.id);
    const found = await store.findToken({ userName: "ada@example.com" });
    assertEquals(found?.toRecord(), saved.toRecord());
    assertEquals(
      (await store.findTokenById(saved.id))?.refreshToken,
      "1000.open-store-refresh",
    );
    assertEquals((await store.getTokens()).length, 1);
  } finally {
    await store.close?.();
  }
}

async function withTempDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "open_store_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("openStore memory: opens a MemoryTokenStore", async () => {
  const store = await openStore("memory:");
  assertInstanceOf(store, MemoryTokenStore);
  await roundTrip(store);
});

Deno.test("openStore kv:PATH opens a KvTokenStore on that file", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "tokens.db");
    const store = await openStore(`kv:${path}`);
    assertInstanceOf(store, KvTokenStore);
    await roundTrip(store);
    assert((await Deno.stat(path)).isFile);
    const again = await openStore(`kv:${path}`);
    try {
      assertEquals((await again.getTokens()).map((t) => t.userName), [
        "ada@example.com",
      ]);
    } finally {
      await again.close?.();
    }
  });
});

Deno.test("openStore kv::memory: opens an in-memory KvTokenStore", async () => {
  const store = await openStore("kv::memory:");
  assertInstanceOf(store, KvTokenStore);
  await roundTrip(store);
});

Deno.test("openStore kv: opens the default Deno KV database", async () => {
  // A subprocess with its own DENO_DIR, so the default database is a fresh one.
  await withTempDir(async (dir) => {
    const script = join(dir, "default_kv.ts");
    await Deno.writeTextFile(
      script,
      `import { openStore } from ${
        JSON.stringify(new URL("stores/open_store.ts", root).href)
      };
import { OAuthToken } from ${
        JSON.stringify(new URL("core/token.ts", root).href)
      };
const store = await openStore("kv:");
await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
const again = await openStore("kv:");
console.log(store.constructor.name, (await again.findToken({ userName: "ada@example.com" }))?.userName);
await store.close?.();
await again.close?.();
`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        new URL("deno.json", root).pathname,
        script,
      ],
      env: { DENO_DIR: join(dir, "deno_dir") },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assertEquals(output.code, 0, stderr);
    assertEquals(
      new TextDecoder().decode(output.stdout).trim(),
      "KvTokenStore ada@example.com",
    );
    const kvFiles = [];
    for await (
      const entry of Deno.readDir(join(dir, "deno_dir", "location_data"))
    ) {
      kvFiles.push(entry.name);
    }
    assertEquals(kvFiles.length, 1, "the default database lives in DENO_DIR");
  });
});

Deno.test("openStore file:PATH and file:///PATH open a JSON FileTokenStore", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "tokens.json");
    const store = await openStore(`file:${path}`);
    assertInstanceOf(store, FileTokenStore);
    assertEquals((store as FileTokenStore).format, "json");
    await roundTrip(store);
    JSON.parse(await Deno.readTextFile(path));

    const byUrl = await openStore(toFileUrl(path).href);
    assertInstanceOf(byUrl, FileTokenStore);
    assertEquals((byUrl as FileTokenStore).path, path);
    assertEquals((await byUrl.getTokens()).length, 1);
    await byUrl.close?.();
  });
});

Deno.test("openStore zoho-csv:PATH opens a FileTokenStore in the Zoho SDK layout", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "sdk_tokens.txt");
    const store = await openStore(`zoho-csv:${path}`);
    assertInstanceOf(store, FileTokenStore);
    assertEquals((store as FileTokenStore).format, "zoho-csv");
    await roundTrip(store);
    const text = await Deno.readTextFile(path);
    assert(
      text.startsWith(
        "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain",
      ),
      text,
    );
  });
});

Deno.test("openStore libsql:file:PATH opens a LibsqlTokenStore with ?table=", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "tokens.db");
    const store = await openStore(`libsql:file:${path}?table=cli_tokens`);
    assertInstanceOf(store, LibsqlTokenStore);
    assertEquals((store as LibsqlTokenStore).table, "cli_tokens");
    await roundTrip(store);
    const again = await openStore(`libsql:file:${path}?table=cli_tokens`);
    try {
      assertEquals((await again.getTokens()).length, 1);
    } finally {
      await again.close?.();
    }
    const other = await openStore(`libsql:file:${path}`);
    try {
      assertEquals((other as LibsqlTokenStore).table, "oauthtoken");
      assertEquals((await other.getTokens()).length, 0);
    } finally {
      await other.close?.();
    }
  });
});

Deno.test("openStore libsql::memory: opens an in-memory LibsqlTokenStore", async () => {
  const store = await openStore("libsql::memory:");
  assertInstanceOf(store, LibsqlTokenStore);
  await roundTrip(store);
});

Deno.test("openStore mysql:// opens a MysqlTokenStore with ?table=", async () => {
  const base = Deno.env.get("MYSQL_URL");
  if (!base) {
    console.log(
      "MYSQL_URL is not set: skipping the mysql:// case of openStore",
    );
    return;
  }
  const { MysqlTokenStore } = await import("../stores/mysql.ts");
  const table = `open_store_${crypto.randomUUID().slice(0, 8)}`;
  const url = `${base}${base.includes("?") ? "&" : "?"}table=${table}`;
  try {
    const store = await openStore(url);
    assertInstanceOf(store, MysqlTokenStore);
    await roundTrip(store);
    const again = await openStore(url);
    try {
      assertEquals((await again.getTokens()).length, 1);
    } finally {
      await again.close?.();
    }
  } finally {
    const mysql = await import("mysql2/promise");
    const connection = await mysql.createConnection(base);
    try {
      await connection.query(`DROP TABLE IF EXISTS ${table}`);
      await connection.query(`DROP TABLE IF EXISTS ${table}_lock`);
      await connection.query(`DROP TABLE IF EXISTS ${table}_status`);
    } finally {
      await connection.end();
    }
  }
});

Deno.test("openStore without a URL uses TOKEN_STORE_URL", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "env.json");
    const store = await openStore(undefined, {
      env: { TOKEN_STORE_URL: `file:${path}` },
    });
    assertInstanceOf(store, FileTokenStore);
    await roundTrip(store);

    Deno.env.set("TOKEN_STORE_URL", "memory:");
    try {
      assertInstanceOf(await openStore(undefined), MemoryTokenStore);
      // An explicit URL wins over the variable.
      assertInstanceOf(await openStore(`file:${path}`), FileTokenStore);
      // An injected environment replaces Deno.env.
      await assertRejects(
        () => openStore(undefined, { env: {} }),
        TypeError,
        "TOKEN_STORE_URL",
      );
    } finally {
      Deno.env.delete("TOKEN_STORE_URL");
    }
  });
});

Deno.test("openStore without a URL or TOKEN_STORE_URL is a TypeError naming the forms", async () => {
  const error = await assertRejects(
    () => openStore(undefined, { env: { TOKEN_STORE_URL: "" } }),
    TypeError,
  );
  assertStringIncludes(error.message, "TOKEN_STORE_URL");
  assertStringIncludes(error.message, "zoho-csv:");
});

Deno.test("openStore rejects unknown schemes and malformed URLs without echoing secrets", async () => {
  const password = "Pa55w0rd-never-shown";
  const authToken = "eyJhbGciOi-never-shown";
  const cases: [string, string][] = [
    [
      `mongodb://admin:${password}@127.0.0.1:27017/db`,
      'Unsupported token store URL scheme "mongodb:"',
    ],
    ["redis:", "host is missing"],
    ["ftp://host/x", 'Unsupported token store URL scheme "ftp:"'],
    [
      `redis://:${password}@127.0.0.1:6379/0?table=x`,
      'unknown query parameter "table"',
    ],
    [`redis://:${password}@127.0.0.1:6379/abc`, "database number"],
    [
      `rediss://:${password}@127.0.0.1:6379/0?allowVolatile=yes`,
      '"allowVolatile" must be',
    ],
    ["./tokens.json", "no scheme"],
    ["", "non-empty"],
    ["memory:extra", "nothing may follow"],
    ["file:", "path is missing"],
    ["zoho-csv:", "path is missing"],
    ["file://server/share/tokens.json", "without host"],
    ["libsql:", "missing"],
    ["libsql:tokens.db", "not a libSQL URL"],
    [
      `libsql:postgres://u:${password}@h/db`,
      'unsupported libSQL URL scheme "postgres:"',
    ],
    [
      `libsql:libsql://db.example.com:notaport?authToken=${authToken}`,
      "cannot be parsed",
    ],
    [`libsql:https://user:${password}@db.example.com`, "credentials"],
    [`mysql://root:${password}@127.0.0.1:notaport/test`, "cannot be parsed"],
    [
      `mysql://root:${password}@127.0.0.1:3306/test/extra`,
      "single database name",
    ],
    [
      `mysql://root:${password}@127.0.0.1:3306/test?ssl=${password}`,
      'unknown query parameter "ssl"',
    ],
    [`mysql:root:${password}@127.0.0.1/test`, "host is missing"],
  ];
  for (const [url, reason] of cases) {
    const error = await assertRejects(
      () => openStore(url),
      TypeError,
      undefined,
      url,
    );
    assertStringIncludes(error.message, reason, url);
    for (
      const form of [
        "memory:",
        "kv:PATH",
        "file:PATH",
        "zoho-csv:PATH",
        "libsql:",
        "mysql://",
        "postgres://",
        "redis://",
      ]
    ) {
      assertStringIncludes(error.message, form, url);
    }
    assert(!error.message.includes(password), `password echoed for ${url}`);
    assert(!error.message.includes(authToken), `auth token echoed for ${url}`);
  }
});

Deno.test("importing open_store.ts statically loads no store module and no npm driver", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "stores/open_store.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: {
        specifier: string;
        isDynamic?: boolean;
        code?: { specifier?: string };
        type?: { specifier?: string };
      }[];
    }[];
    redirects: Record<string, string>;
  };
  const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
  const staticGraph = new Set<string>();
  const queue = [...graph.roots];
  while (queue.length > 0) {
    let specifier = queue.pop()!;
    specifier = graph.redirects[specifier] ?? specifier;
    if (staticGraph.has(specifier)) continue;
    staticGraph.add(specifier);
    for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dep.isDynamic) continue;
      for (const resolved of [dep.code?.specifier, dep.type?.specifier]) {
        if (resolved) queue.push(resolved);
      }
    }
  }
  const loaded = [...staticGraph].map((s) =>
    s.replace(new URL(".", root).href, "")
  );
  assert(loaded.every((s) => !s.startsWith("npm:")), loaded.join(", "));
  const stores = loaded.filter((s) => s.startsWith("stores/")).sort();
  assertEquals(stores, ["stores/_store_url.ts", "stores/open_store.ts"]);
  // The dynamic imports are there, and they are the only way to the drivers.
  const dynamic = bySpecifier.get(new URL("stores/open_store.ts", root).href)!
    .dependencies!.filter((d) => d.isDynamic).map((d) => d.specifier).sort();
  assertEquals(dynamic, [
    "./file.ts",
    "./kv.ts",
    "./libsql.ts",
    "./memory.ts",
    "./mysql.ts",
    "./postgres.ts",
    "./redis.ts",
  ]);
});

Deno.test("openStore loads a driver only for the URL that needs it (runs with --no-npm)", async () => {
  const run = async (url: string) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--no-npm",
        `import { openStore } from "./stores/open_store.ts";
         const store = await openStore(${JSON.stringify(url)});
         console.log(store.constructor.name);
         await store.close?.();`,
      ],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout).trim(),
      stderr: new TextDecoder().decode(output.stderr),
    };
  };
  const memory = await run("memory:");
  assertEquals(
    [memory.code, memory.stdout],
    [0, "MemoryTokenStore"],
    memory.stderr,
  );
  // The same program fails once a URL needs the npm driver: npm really is off.
  const libsql = await run("libsql::memory:");
  assertEquals(libsql.code, 1);
  assertStringIncludes(libsql.stderr, "npm");
});
