/**
 * The file store never writes a file with fewer tokens than it read unless a
 * delete asked for it: a file another program truncated, emptied, cut or
 * removed is `CORRUPT` and left alone, `<path>.bak` keeps the last good
 * copy, and deletes through any `FileTokenStore` are not mistaken for a loss.
 * Also: JSON tokens with unknown fields and tokens without a secret are
 * `CORRUPT` and never rewritten.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { FileTokenStore } from "../stores/file.ts";
import {
  LineReader,
  readText,
  spawnWorker,
  tempDir,
} from "./fixtures/file_helpers.ts";

const FORMATS = ["json", "zoho-csv"] as const;
type Format = typeof FORMATS[number];

const SECRET = "1000.durability-secret-0123456789abcdef";

function user(name: string, refreshToken = `1000.r-${name}`): OAuthToken {
  return new OAuthToken({
    userName: `${name}@example.com`,
    clientId: "1000.CLIENT",
    refreshToken,
  });
}

async function expectCorrupt(
  call: () => Promise<unknown>,
  includes: string[],
  name = "",
): Promise<TokenStoreError> {
  const error = await assertRejects(call, TokenStoreError, undefined, name);
  assertEquals(error.code, "CORRUPT", `${name}: ${error.message}`);
  for (const part of includes) {
    assert(error.message.includes(part), `${name}: ${error.message} / ${part}`);
  }
  assert(!Deno.inspect(error).includes(SECRET), "no secret in the error");
  return error;
}

/** A store on a fresh file holding three saved tokens. */
async function seeded(dir: string, format: Format) {
  const path = join(dir, "tokens", "sdk_tokens.txt");
  const store = new FileTokenStore({ path, format });
  const saved = [];
  for (const name of ["ada", "bob", "cy"]) {
    saved.push(await store.saveToken(user(name, `${SECRET}-${name}`)));
  }
  return { path, bak: `${path}.bak`, store, saved };
}

for (const format of FORMATS) {
  Deno.test(`FileTokenStore ${format}: every save and delete writes the file to <path>.bak too, mode 0600`, async () => {
    await using dir = await tempDir();
    const { path, bak, store, saved } = await seeded(dir.path, format);
    const same = async () =>
      assertEquals(await Deno.readFile(bak), await Deno.readFile(path));
    await same();
    assertEquals((await Deno.stat(bak)).mode! & 0o777, 0o600);
    await store.saveToken(saved[0].with({ accessToken: "1000.a" }));
    await same();
    assertEquals(await store.deleteToken(saved[1].id!), true);
    await same();
    await store.deleteTokens();
    await same();
    assertEquals((await Deno.stat(bak)).mode! & 0o777, 0o600);
  });

  Deno.test(`FileTokenStore ${format}: a file emptied, cut or removed behind the store is CORRUPT, left alone, and recovered from <path>.bak`, async () => {
    const damages: [string, (path: string) => Promise<void>, string][] = [
      ["emptied", (path) => Deno.truncate(path), "it is empty, 3 tokens"],
      [
        "cut",
        async (path) => {
          // keep the first token only: well-formed in CSV, cut JSON in JSON
          const text = await Deno.readTextFile(path);
          const lines = text.split("\n");
          await Deno.writeTextFile(
            path,
            format === "json"
              ? lines.slice(0, 10).join("\n")
              : lines.slice(0, 2).join("\n"),
          );
        },
        format === "json"
          ? "invalid JSON"
          : "it holds 1 token, 3 when last saved; another program",
      ],
      [
        "replaced",
        async (path) => {
          // same count, other ids: a different file
          const other = join(path, "..", "other");
          const store = new FileTokenStore({ path: other, format });
          for (const name of ["x", "y", "z"]) await store.saveToken(user(name));
          await Deno.rename(other, path);
        },
        "it holds 3 tokens, 3 when last saved (3 of those missing)",
      ],
      ["removed", (path) => Deno.remove(path), "it no longer exists"],
    ];
    for (const [name, damage, what] of damages) {
      await using dir = await tempDir();
      const { path, bak, store, saved } = await seeded(dir.path, format);
      const good = await Deno.readFile(bak);
      await damage(path);
      const damaged = await Deno.readFile(path).catch(() => null);
      const includes = [`"${path}"`, what, `The last good copy is "${bak}"`];
      const calls: [string, () => Promise<unknown>][] = [
        ["saveToken", () => store.saveToken(user("new"))],
        ["update", () => store.saveToken(saved[0].with({ accessToken: "a" }))],
        ["deleteToken", () => store.deleteToken(saved[2].id!)],
        // a process started after the damage cannot overwrite the copy either
        [
          "fresh saveToken",
          () => new FileTokenStore({ path, format }).saveToken(user("new")),
        ],
      ];
      const parsing = name === "cut" && format === "json";
      for (const [call, run] of calls) {
        const error = await expectCorrupt(run, includes, `${name} ${call}`);
        const verb = call === "deleteToken" ? "read" : "write";
        assert(
          error.message.startsWith(
            parsing ? `Cannot parse "${path}"` : `Cannot ${verb} "${path}": `,
          ),
          error.message,
        );
      }
      // reads fail too: tokens this store had seen are gone
      for (
        const [call, run] of [
          ["getTokens", () => store.getTokens()],
          ["findTokenById", () => store.findTokenById(saved[0].id!)],
          ["findToken", () => store.findToken({ userName: "ada@example.com" })],
        ] as const
      ) {
        await expectCorrupt(run, includes, `${name} ${call}`);
      }
      assertEquals(
        await Deno.readFile(path).catch(() => null),
        damaged,
        `${name}: the file is left as it was`,
      );
      assertEquals(await Deno.readFile(bak), good, `${name}: the copy too`);

      // recovery, as the README says: copy the last good copy back
      await Deno.copyFile(bak, path);
      assertEquals(
        (await store.getTokens()).map((t) => t.refreshToken),
        saved.map((t) => t.refreshToken),
      );
      await store.saveToken(user("after"));
      assertEquals(
        (await new FileTokenStore({ path, format }).getTokens()).length,
        4,
      );
    }
  });

  Deno.test(`FileTokenStore ${format}: a delete by another store instance or process is not a loss`, async () => {
    await using dir = await tempDir();
    const { path, store, saved } = await seeded(dir.path, format);
    assertEquals((await store.getTokens()).length, 3);

    // another instance in this process
    const other = new FileTokenStore({ path, format });
    assertEquals(await other.deleteToken(saved[0].id!), true);
    assertEquals((await store.getTokens()).map((t) => t.id), [
      saved[1].id,
      saved[2].id,
    ]);
    await store.saveToken(user("dee"));

    // another process, one token then all
    const deleteIn = async (id: string) => {
      const child = spawnWorker("file_durable_writer.ts", [
        path,
        format,
        "x",
        "delete",
        id,
      ]);
      const { code, stdout, stderr } = await child.output();
      const out = new TextDecoder().decode(stdout).trim();
      assertEquals(code, 0, new TextDecoder().decode(stderr));
      return out;
    };
    assertEquals(await deleteIn(saved[1].id!), "deleted true");
    assertEquals((await store.getTokens()).map((t) => t.userName), [
      "cy@example.com",
      "dee@example.com",
    ]);
    await store.saveToken(user("eve"));
    assertEquals(await deleteIn("*"), "deleted all");
    assertEquals(await store.getTokens(), []);
    await store.saveToken(user("fay"));
    assertEquals(
      (await new FileTokenStore({ path, format }).getTokens()).map((t) =>
        t.userName
      ),
      ["fay@example.com"],
    );
  });

  Deno.test(`FileTokenStore ${format}: what a crash between writing the file and its copy leaves is not a loss`, async () => {
    await using dir = await tempDir();
    const { path, bak, store, saved } = await seeded(dir.path, format);
    const three = await Deno.readFile(path);
    // a delete writes the copy first: killed before the file, the copy lacks
    // the deleted token and the file still has it
    await new FileTokenStore({ path: bak, format }).deleteToken(saved[0].id!);
    await Deno.remove(`${bak}.bak`);
    await new FileTokenStore({ path, format }).saveToken(user("dee"));
    assertEquals((await store.getTokens()).length, 4, "the delete undone");
    // any other save writes the file first: killed before the copy, the file
    // has a token the copy lacks
    await Deno.writeFile(bak, three);
    await new FileTokenStore({ path, format }).saveToken(user("eve"));
    await Deno.writeFile(bak, three);
    await store.saveToken(user("fay"));
    assertEquals((await store.getTokens()).length, 6);
  });

  Deno.test(`FileTokenStore ${format}: a save or delete whose second write fails leaves no false loss (the file is written last when tokens go, first otherwise)`, async () => {
    await using dir = await tempDir();
    const { path, bak, store, saved } = await seeded(dir.path, format);
    /** Makes writing `file` fail: its temp name is a non-empty directory. */
    const block = async (file: string) => {
      await Deno.mkdir(`${file}.tmp`);
      await Deno.writeTextFile(join(`${file}.tmp`, "x"), "");
      return () => Deno.remove(`${file}.tmp`, { recursive: true });
    };
    const cases: [string, string, () => Promise<unknown>][] = [
      ["delete, copy refused", bak, () => store.deleteToken(saved[0].id!)],
      ["delete, file refused", path, () => store.deleteToken(saved[1].id!)],
      ["insert, file refused", path, () => store.saveToken(user("dee"))],
      ["insert, copy refused", bak, () => store.saveToken(user("eve"))],
    ];
    for (const [name, file, call] of cases) {
      const unblock = await block(file);
      const error = await assertRejects(call, TokenStoreError);
      assertEquals(error.code, "BACKEND", `${name}: ${error.message}`);
      await unblock();
      // whatever half happened, nothing looks lost to any store
      await store.saveToken(user(`after-${name.replaceAll(/\W/g, "")}`));
      await new FileTokenStore({ path, format }).saveToken(user("fresh"));
    }
  });

  Deno.test(`FileTokenStore ${format}: without a last good copy the store's memory of what it read still catches a loss`, async () => {
    await using dir = await tempDir();
    const { path, bak, store } = await seeded(dir.path, format);
    await Deno.remove(bak);
    await Deno.truncate(path);
    await expectCorrupt(() => store.saveToken(user("new")), [
      `Cannot write "${path}": it is empty, 3 tokens when last read`,
      `There is no last good copy ("${bak}" does not exist)`,
    ]);
    await expectCorrupt(() => store.getTokens(), [`Cannot read "${path}"`]);
    assertEquals((await Deno.stat(path)).size, 0);
  });

  Deno.test(`FileTokenStore ${format}: an intended change is accepted once the file is copied over <path>.bak`, async () => {
    await using dir = await tempDir();
    const { path, bak, store, saved } = await seeded(dir.path, format);
    // another tool deleted a token (as a Zoho SDK would)
    const survivor = new FileTokenStore({ path: join(dir.path, "x"), format });
    await survivor.saveToken(saved[1]);
    await Deno.rename(join(dir.path, "x"), path);
    await expectCorrupt(() => store.saveToken(user("new")), [
      "it holds 1 token, 3 when last saved",
    ]);
    await Deno.copyFile(path, bak);
    await store.saveToken(user("new"));
    assertEquals((await store.getTokens()).map((t) => t.userName), [
      "bob@example.com",
      "new@example.com",
    ]);
  });
}

Deno.test("FileTokenStore json: a token with unknown fields, Zoho's keys or no secret is CORRUPT and the file is never rewritten", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "tokens.json");
  const file = (tokens: unknown[]) =>
    JSON.stringify({ version: 1, tokens }, null, 2);
  const good = { id: "a1", userName: "ada@example.com", refreshToken: SECRET };
  const cases: [string, unknown[], string][] = [
    [
      "Zoho's column names",
      [{ id: "z1", user_name: "ada@example.com", refresh_token: SECRET }],
      `tokens[0] has unknown fields "user_name", "refresh_token"`,
    ],
    [
      "an extra field",
      [good, { id: "b1", refreshToken: SECRET, foo: SECRET }],
      `tokens[1] has unknown field "foo"`,
    ],
    [
      "a prototype key",
      [JSON.parse(`{"id":"p1","refreshToken":"x","__proto__":{"a":1}}`)],
      `tokens[0] has unknown field "__proto__"`,
    ],
    [
      "no secret",
      [good, { id: "c1", userName: "cy@example.com", clientSecret: SECRET }],
      `tokens[1] has none of "refreshToken", "grantToken" or "accessToken"`,
    ],
  ];
  for (const [name, tokens, reason] of cases) {
    await Deno.writeTextFile(path, file(tokens));
    const bytes = await Deno.readFile(path);
    const store = new FileTokenStore({ path });
    for (
      const [call, run] of [
        ["getTokens", () => store.getTokens()],
        ["findToken", () => store.findToken({ userName: "ada@example.com" })],
        ["saveToken", () => store.saveToken(user("new", SECRET))],
        ["deleteTokens", () => store.deleteTokens()],
      ] as const
    ) {
      await expectCorrupt(
        run,
        [`Cannot parse "${path}": ${reason}`],
        `${name} ${call}`,
      );
    }
    assertEquals(await Deno.readFile(path), bytes, `${name}: file unchanged`);
    await assertRejects(() => Deno.stat(`${path}.bak`), Deno.errors.NotFound);
  }

  // a file the store wrote, edited by hand afterwards: the store has a copy
  await Deno.remove(path);
  const store = new FileTokenStore({ path });
  await store.saveToken(user("ada", SECRET));
  const text = await Deno.readTextFile(path);
  await Deno.writeTextFile(path, text.replace(`"userName"`, `"user_name"`));
  const bytes = await Deno.readFile(path);
  await expectCorrupt(() => store.saveToken(user("bob", SECRET)), [
    `tokens[0] has unknown field "user_name". The last good copy is "${path}.bak"`,
  ]);
  assertEquals(await Deno.readFile(path), bytes);
  assertEquals(await Deno.readTextFile(`${path}.bak`), text);
});

Deno.test("FileTokenStore zoho-csv: a row with none of refresh, grant or access token is CORRUPT naming the line, and never rewritten", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "sdk_tokens.txt");
  const text = [
    "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain",
    `1,ada@example.com,1000.C,${SECRET},1000.r,,,,,`,
    `2,bob@example.com,1000.C,${SECRET},,,,1800000000000,,`,
  ].join("\n");
  await Deno.writeTextFile(path, text);
  const store = new FileTokenStore({ path, format: "zoho-csv" });
  for (
    const run of [
      () => store.getTokens(),
      () => store.saveToken(user("new", SECRET)),
    ]
  ) {
    await expectCorrupt(run, [
      `Cannot parse "${path}" line 3: the token has none of "refresh_token", "grant_token" or "access_token"`,
    ]);
  }
  assertEquals(await Deno.readTextFile(path), text);
});

// Real processes: two writers, and a third program truncating the file.

const TRIALS = 4;
const SAVES = 100;
const HOW: Record<Format, string[]> = {
  json: ["empty", "shell", "lines", "empty"],
  "zoho-csv": ["empty", "shell", "lines", "lines"],
};

interface Started {
  process: Deno.ChildProcess;
  output: LineReader;
  stderr: Promise<string>;
}

function start(name: string, args: string[]): Started {
  const process = spawnWorker(name, args);
  return {
    process,
    output: new LineReader(process.stdout),
    stderr: readText(process.stderr),
  };
}

async function ready(worker: Started): Promise<void> {
  const line = await worker.output.next();
  if (line !== "ready") {
    worker.process.kill("SIGKILL");
    throw new Error(`worker did not start: ${line} ${await worker.stderr}`);
  }
}

for (const format of FORMATS) {
  Deno.test(`FileTokenStore ${format}: 2 processes x ${SAVES} saves while a third truncates the file: every confirmed token survives (after copying .bak back), and writers see CORRUPT`, async () => {
    for (let trial = 1; trial <= TRIALS; trial++) {
      await using dir = await tempDir();
      const path = join(dir.path, "tokens", "sdk_tokens.txt");
      const go = join(dir.path, "go");
      const how = HOW[format][trial - 1];
      const at = 30 + Math.floor(Math.random() * 70);
      const writers = [0, 1].map((k) =>
        start("file_durable_writer.ts", [
          path,
          format,
          String(k),
          "save",
          String(SAVES),
          go,
        ])
      );
      const truncator = start("file_truncator.ts", [
        path,
        format,
        go,
        String(at),
        how,
      ]);
      for (const worker of [...writers, truncator]) await ready(worker);
      await Deno.writeTextFile(go, "");

      const confirmed: string[] = [];
      const errors: string[] = [];
      for (const writer of writers) {
        const lines = await writer.output.rest();
        assertEquals(
          (await writer.process.status).code,
          0,
          await writer.stderr,
        );
        assertEquals(lines.at(-1), "done");
        const saved = lines.filter((l) => l.startsWith("saved "));
        confirmed.push(...saved.map((l) => l.slice("saved ".length)));
        const error = lines.find((l) => l.startsWith("error "));
        if (error) errors.push(error);
        // a writer stops short only at an error
        else assertEquals(saved.length, SAVES);
      }
      const cut = (await truncator.output.rest())[0] ?? "";
      assertEquals((await truncator.process.status).code, 0);
      assert(cut.startsWith("truncated "), `the truncation took: ${cut}`);
      const [attempts, before, left, ino] = cut.split(" ").slice(1).map(
        Number,
      );

      // the writers that hit it got CORRUPT naming the file and the copy
      assert(errors.length > 0, "a writer hit the truncation");
      for (const error of errors) {
        assert(error.startsWith("error CORRUPT "), error);
        assert(error.includes(`"${path}"`), error);
        assert(error.includes(`The last good copy is "${path}.bak"`), error);
      }
      // and nothing wrote the file after it was truncated
      const after = await Deno.stat(path);
      assertEquals([after.ino, after.size], [ino, left], "file untouched");

      const inFile = new Set<string>();
      try {
        const tokens = await new FileTokenStore({ path, format }).getTokens();
        for (const token of tokens) inFile.add(token.userName!);
      } catch (error) {
        // a JSON file cut mid-way does not parse: it holds nothing usable
        assert(error instanceof TokenStoreError && error.code === "CORRUPT");
      }
      const keptInFile = confirmed.filter((u) => inFile.has(u)).length;

      // recovery: copy the last good copy back over the file
      await Deno.copyFile(`${path}.bak`, path);
      const recovered = new FileTokenStore({ path, format });
      const users = new Set(
        (await recovered.getTokens()).map((t) => t.userName),
      );
      const lost = confirmed.filter((u) => !users.has(u));
      assertEquals(lost, [], "confirmed tokens lost");
      await recovered.saveToken(user("after-recovery"));

      console.log(
        `${format} trial ${trial} (${how}, at ${before} tokens, ${attempts} ${
          attempts === 1 ? "attempt" : "attempts"
        }): ${confirmed.length} confirmed, ${keptInFile} in the truncated file, ${
          confirmed.length - lost.length
        } after copying .bak back, CORRUPT seen by ${errors.length} of 2 writers`,
      );
    }
  });
}
