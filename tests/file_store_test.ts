import {
  assert,
  assertEquals,
  assertExists,
  assertMatch,
  assertRejects,
  assertThrows,
} from "@std/assert";
import { join } from "@std/path";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { FileTokenStore, type FileTokenStoreOptions } from "../stores/file.ts";
import { testTokenStore } from "./conformance.ts";
import { LineReader, spawnWorker, tempDir } from "./fixtures/file_helpers.ts";

const FORMATS = ["json", "zoho-csv"] as const;

/** A store on a fresh temp directory, removed by close(). */
class TempFileStore extends FileTokenStore {
  #dir: string;
  constructor(dir: string, options: Omit<FileTokenStoreOptions, "path">) {
    super({ ...options, path: join(dir, "tokens", "sdk_tokens.txt") });
    this.#dir = dir;
  }
  override async close(): Promise<void> {
    await super.close();
    await Deno.remove(this.#dir, { recursive: true });
  }
}

testTokenStore(
  "FileTokenStore json",
  async () => new TempFileStore(await Deno.makeTempDir(), { format: "json" }),
);

testTokenStore(
  "FileTokenStore zoho-csv",
  async () =>
    new TempFileStore(await Deno.makeTempDir(), { format: "zoho-csv" }),
  { unsupported: /[,"\r\n]/ },
);

const SECRET = "1000.5ecret-refresh-0123456789abcdef";

function user(name: string, refreshToken = SECRET): OAuthToken {
  return new OAuthToken({
    userName: name,
    clientId: "1000.CLIENT",
    refreshToken,
  });
}

for (const format of FORMATS) {
  Deno.test(`FileTokenStore ${format} creates the file mode 0600 and its directories on first save`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "a", "b", "tokens.txt");
    const store = new FileTokenStore({ path, format });
    assertEquals(await store.getTokens(), []);
    await store.deleteTokens();
    assertEquals(await store.deleteToken("missing"), false);
    await assertRejects(
      () => Deno.stat(join(dir.path, "a")),
      Deno.errors.NotFound,
    );
    await store.saveToken(user("ada@example.com"));
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(`${path}.lock`)).mode! & 0o777, 0o600);
    assertEquals(
      (await Deno.stat(join(dir.path, "a", "b"))).mode! & 0o777,
      0o700,
    );
    // a file another tool created world-readable becomes 0600 on rewrite
    await Deno.chmod(path, 0o644);
    await store.saveToken(user("bob@example.com"));
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    assertEquals(
      (await new FileTokenStore({ path, format }).getTokens()).map((t) =>
        t.userName
      ),
      ["ada@example.com", "bob@example.com"],
    );
  });

  Deno.test(`FileTokenStore ${format} reuses its index while mtime and size are unchanged`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "tokens");
    const store = new FileTokenStore({ path, format });
    await store.saveToken(user("ada@example.com", "1000.aaaaaaaa"));
    assertEquals(
      (await store.findToken({ userName: "ada@example.com" }))?.refreshToken,
      "1000.aaaaaaaa",
    );
    const before = await Deno.stat(path);
    // same size, same inode, same mtime: different content
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(
      path,
      text.replace("1000.aaaaaaaa", "1000.bbbbbbbb"),
    );
    await Deno.utime(path, before.atime!, before.mtime!);
    const after = await Deno.stat(path);
    assertEquals([after.size, after.mtime, after.ino], [
      before.size,
      before.mtime,
      before.ino,
    ]);
    // a fresh store sees the new content; this one answers from its index
    assertEquals(
      (await new FileTokenStore({ path, format }).findToken({
        userName: "ada@example.com",
      }))?.refreshToken,
      "1000.bbbbbbbb",
    );
    assertEquals(
      (await store.findToken({ userName: "ada@example.com" }))?.refreshToken,
      "1000.aaaaaaaa",
    );
    assertEquals((await store.getTokens())[0].refreshToken, "1000.aaaaaaaa");
    // a new mtime makes it read the file again
    await Deno.utime(
      path,
      before.atime!,
      new Date(before.mtime!.getTime() + 5_000),
    );
    assertEquals(
      (await store.findToken({ userName: "ada@example.com" }))?.refreshToken,
      "1000.bbbbbbbb",
    );
    // a save by another instance (another process alike) is seen at once
    await new FileTokenStore({ path, format }).saveToken(
      user("ada@example.com", "1000.cccccccc"),
    );
    assertEquals(
      (await store.findToken({ userName: "ada@example.com" }))?.refreshToken,
      "1000.cccccccc",
    );
    // a save re-reads the file under the lock: the other instance's row stays
    await new FileTokenStore({ path, format }).saveToken(
      user("bob@example.com"),
    );
    await store.saveToken(user("cy@example.com"));
    assertEquals((await store.getTokens()).map((t) => t.userName), [
      "ada@example.com",
      "bob@example.com",
      "cy@example.com",
    ]);
  });

  Deno.test(`FileTokenStore ${format} refuses to read or overwrite a corrupt file`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "tokens");
    const store = new FileTokenStore({ path, format });
    const saved = await store.saveToken(user("ada@example.com"));
    const good = await Deno.readTextFile(path);
    const corrupt = format === "json"
      ? good.replace(`"userName"`, `"userName" ${JSON.stringify(SECRET)}`)
      : `${good}\n${saved.id!.slice(0, 5)}x,bob@example.com,${SECRET}\n`;
    await Deno.writeTextFile(path, corrupt);
    const bytes = await Deno.readFile(path);
    const ops: [string, () => Promise<unknown>][] = [
      ["findToken", () => store.findToken({ userName: "ada@example.com" })],
      ["getTokens", () => store.getTokens()],
      ["findTokenById", () => store.findTokenById(saved.id!)],
      ["saveToken", () => store.saveToken(user("new@example.com"))],
      ["deleteToken", () => store.deleteToken(saved.id!)],
      ["deleteTokens", () => store.deleteTokens()],
      [
        "fresh saveToken",
        () =>
          new FileTokenStore({ path, format }).saveToken(user("x@example.com")),
      ],
    ];
    for (const [name, op] of ops) {
      const error = await assertRejects(op, TokenStoreError, undefined, name);
      assertEquals(error.code, "CORRUPT", name);
      assert(error.message.includes(`"${path}"`), error.message);
      assertMatch(
        error.message,
        format === "json" ? /line 6 column 18 \(position \d+\)/ : /line 3:/,
      );
      assert(!Deno.inspect(error).includes(SECRET), "no secret in the error");
    }
    assertEquals(
      await Deno.readFile(path),
      bytes,
      "the file is left as it was",
    );
  });

  Deno.test(`FileTokenStore ${format} fails with a clear error when another process holds the lock`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "tokens");
    const store = new FileTokenStore({ path, format, lockTimeoutMs: 300 });
    await store.saveToken(user("ada@example.com"));
    const release = join(dir.path, "release");
    const holder = spawnWorker("file_lock_holder.ts", [
      `${path}.lock`,
      release,
    ]);
    const output = new LineReader(holder.stdout);
    try {
      assertEquals(await output.next(), "locked");
      const started = performance.now();
      const error = await assertRejects(
        () => store.saveToken(user("bob@example.com")),
        TokenStoreError,
      );
      const waited = performance.now() - started;
      assertEquals(error.code, "BACKEND");
      assertEquals(
        error.message,
        `Cannot lock "${path}.lock": timed out after 300 ms`,
      );
      assert(waited >= 295 && waited < 3_000, `waited ${waited} ms`);
      await assertRejects(
        () => store.lock.acquire("refresh:a", { ttlMs: 1000 }),
        TokenStoreError,
        "timed out after 300 ms",
      );
      // reads need no lock
      assertEquals((await store.getTokens()).length, 1);
    } finally {
      await Deno.writeTextFile(release, "");
      await output.rest();
      await holder.stderr.cancel();
      await holder.status;
    }
    await store.saveToken(user("bob@example.com"));
    assertEquals((await store.getTokens()).length, 2);
  });

  Deno.test(`FileTokenStore ${format} leases are shared by instances on the same file`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "tokens");
    const a = new FileTokenStore({ path, format });
    const b = new FileTokenStore({ path, format });
    const lease = await a.lock.acquire("refresh:x", { ttlMs: 10_000 });
    assertExists(lease);
    assertEquals(await b.lock.acquire("refresh:x", { ttlMs: 10_000 }), null);
    const sidecar = JSON.parse(await Deno.readTextFile(`${path}.leases.json`));
    assertEquals(Object.keys(sidecar.leases), ["refresh:x"]);
    assertEquals((await Deno.stat(`${path}.leases.json`)).mode! & 0o777, 0o600);
    await lease.release();
    const other = await b.lock.acquire("refresh:x", { ttlMs: 10_000 });
    assertExists(other);
    await lease.release(); // not the holder any more: nothing happens
    assertEquals(await a.lock.acquire("refresh:x", { ttlMs: 10_000 }), null);
    await other.release();
    // keys that are Object.prototype names are plain keys
    const proto = await a.lock.acquire("__proto__", { ttlMs: 10_000 });
    assertExists(proto);
    assertEquals(await b.lock.acquire("__proto__", { ttlMs: 10_000 }), null);
    await proto.release();
    await assertRejects(() => a.lock.acquire("k", { ttlMs: 0 }), TypeError);
    // the token file is untouched by leases
    await assertRejects(() => Deno.stat(path), Deno.errors.NotFound);
  });

  Deno.test(`FileTokenStore ${format} round-trips injection-like and non-ASCII values`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "tokens");
    const store = new FileTokenStore({ path, format });
    const values = [
      "x' OR '1'='1",
      "back\\slash\\\\",
      "single'quote",
      "ünïcødé ✓ 東京 🦕",
      "tab\there",
      "semi;colon --",
      "<script>alert(1)</script>",
      '{"json":true}',
      `double"quote`,
      "new\nline",
      "comma,value",
      "carriage\rreturn",
    ];
    for (const value of values) {
      const token = new OAuthToken({
        userName: value,
        clientId: `c:${value}`,
        clientSecret: `s:${value}`,
        refreshToken: `r:${value}`,
        accessToken: `a:${value}`,
        grantToken: `g:${value}`,
        redirectUrl: `u:${value}`,
        apiDomain: `d:${value}`,
        expiresAt: 1_800_000_000_000,
      });
      if (format === "zoho-csv" && /[,"\r\n]/.test(value)) {
        const before = await Deno.readFile(path);
        const error = await assertRejects(
          () => store.saveToken(token),
          TokenStoreError,
        );
        assertEquals(error.code, "INVALID_TOKEN");
        assertMatch(
          error.message,
          /^Cannot store token field "userName" in the Zoho CSV format/,
        );
        assert(!error.message.includes(value));
        assertEquals(await Deno.readFile(path), before);
        // a secret field is named, its value never shown
        const secretError = await assertRejects(
          () => store.saveToken(user("plain@example.com", `1000.r${value}`)),
          TokenStoreError,
        );
        assertMatch(secretError.message, /"refreshToken"/);
        assert(!secretError.message.includes("1000.r"));
        assertEquals(await Deno.readFile(path), before);
        continue;
      }
      const saved = await store.saveToken(token);
      const fresh = new FileTokenStore({ path, format });
      assertEquals(
        (await fresh.findToken({ userName: value }))?.toRecord(),
        saved.toRecord(),
      );
      assertEquals(
        (await fresh.findToken({ refreshToken: `r:${value}` }))?.id,
        saved.id,
      );
    }
    if (format === "zoho-csv") {
      const lines = (await Deno.readTextFile(path)).split("\n");
      const writable = values.filter((v) => !/[,"\r\n]/.test(v));
      assertEquals(lines.length, 1 + writable.length);
      for (const line of lines) assertEquals(line.split(",").length, 10);
    } else {
      const data = JSON.parse(await Deno.readTextFile(path));
      assertEquals(data.version, 1);
      assertEquals(
        data.tokens.map((t: { userName: string }) => t.userName),
        values,
      );
    }
  });
}

Deno.test("FileTokenStore validates its options and resolves relative paths", async () => {
  assertThrows(() => new FileTokenStore({ path: "" }), TypeError);
  assertThrows(
    () => new FileTokenStore({ path: "x", format: "xml" as "json" }),
    TypeError,
    '"xml"',
  );
  assertThrows(
    () => new FileTokenStore({ path: "x", lockTimeoutMs: -1 }),
    TypeError,
  );
  const store = new FileTokenStore({ path: "tokens.json" });
  assertEquals(store.path, join(Deno.cwd(), "tokens.json"));
  assertEquals(store.format, "json");
  await using dir = await tempDir();
  const csv = new FileTokenStore({
    path: join(dir.path, "t.txt"),
    format: "zoho-csv",
  });
  assertEquals(csv.format, "zoho-csv");
  assertEquals((await csv.getTokens()).length, 0);
});

Deno.test("FileTokenStore json layout is versioned records and an empty file is an empty store", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "tokens.json");
  await Deno.writeTextFile(path, "");
  const store = new FileTokenStore({ path });
  assertEquals(await store.getTokens(), []);
  const saved = await store.saveToken(
    new OAuthToken({
      userName: "ada@example.com",
      refreshToken: "1000.r",
      expiresAt: 42,
    }),
  );
  assertEquals(JSON.parse(await Deno.readTextFile(path)), {
    version: 1,
    tokens: [{
      id: saved.id,
      userName: "ada@example.com",
      refreshToken: "1000.r",
      expiresAt: 42,
    }],
  });
  for (
    const [text, reason] of [
      [`{"version":2,"tokens":[]}`, `unsupported "version" 2`],
      [`[]`, `expected an object`],
      [`{"version":1,"tokens":{}}`, `"tokens" is not an array`],
      [`{"version":1,"tokens":[{"userName":"a"}]}`, `tokens[0] has no "id"`],
      [
        `{"version":1,"tokens":[{"id":"a","expiresAt":"soon"}]}`,
        `tokens[0]: Invalid token field "expiresAt"`,
      ],
      [
        `{"version":1,"tokens":[{"id":"a"},{"id":"a"}]}`,
        `tokens[1]: id "a" appears twice`,
      ],
      [`{"version":1,"tokens":[`, `line 1 column 24 (position 23)`],
      [`{"version":1,\n "tokens": [tru]}`, `line 2 column 13 (position 26)`],
    ]
  ) {
    await Deno.writeTextFile(path, text);
    const error = await assertRejects(() => store.getTokens(), TokenStoreError);
    assertEquals(error.code, "CORRUPT");
    assert(error.message.startsWith(`Cannot parse "${path}": `), error.message);
    assert(
      error.message.includes(reason),
      `${error.message} should include ${reason}`,
    );
  }
});
