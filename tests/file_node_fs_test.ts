/**
 * The file store on its `node:fs/promises` path, as on Node and Bun, run by
 * Deno with `Deno.open` hidden (`fixtures/node_fs_mode.ts`): the shared store
 * suite, the file's guarantees, and the lock owner file's rules (no `flock`
 * there: the owner file is the lock). The runtime checks
 * (`tests/runtimes/run.mjs`) run the same store on Node and Bun themselves.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { FileTokenStore } from "../stores/file.ts";
import { fileSystem } from "../stores/_file/fs.ts";
import { STALE_MS, TAKEOVER_STALE_MS } from "../stores/_file/lock_owner.ts";
import { testTokenStore } from "./conformance.ts";
import {
  LineReader,
  readText,
  spawnWorker,
  tempDir,
} from "./fixtures/file_helpers.ts";
import { hideDenoOpen } from "./fixtures/node_fs_mode.ts";

hideDenoOpen();

Deno.test("the file store here runs on node:fs/promises", async () => {
  assertEquals((await fileSystem()).name, "node");
});

for (const format of ["json", "zoho-csv"] as const) {
  testTokenStore(
    `FileTokenStore on node:fs ${format}`,
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "tokenstore_nodefs_" });
      const store = new FileTokenStore({
        path: join(dir, "tokens", "sdk_tokens.txt"),
        format,
      });
      const close = store.close.bind(store);
      store.close = async () => {
        await close();
        await Deno.remove(dir, { recursive: true });
      };
      return store;
    },
    format === "zoho-csv" ? { unsupported: /[,"\r\n]/ } : {},
  );
}

function user(name: string): OAuthToken {
  return new OAuthToken({ userName: name, refreshToken: `1000.${name}` });
}

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

Deno.test("FileTokenStore on node:fs: the file and its .bak are mode 0600, and no temp, lock or owner file is left", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "a", "tokens.json");
  const store = new FileTokenStore({ path });
  await store.saveToken(user("ada@example.com"));
  const lease = await store.lock.acquire("refresh:a", { ttlMs: 1_000 });
  await lease?.release();
  assertEquals(await mode(path), 0o600);
  assertEquals(await mode(`${path}.bak`), 0o600);
  assertEquals(await mode(`${path}.leases.json`), 0o600);
  const names = [];
  for await (const entry of Deno.readDir(join(dir.path, "a"))) {
    names.push(entry.name);
  }
  assertEquals(names.sort(), [
    "tokens.json",
    "tokens.json.bak",
    "tokens.json.leases.json",
  ]);
});

/** The owner file of `path`'s lock, written as another holder would. */
async function writeOwner(
  path: string,
  owner: { pid: number; flock?: boolean } | string,
  ageMs = 0,
): Promise<string> {
  const file = `${path}.lock.owner`;
  const host = Deno.hostname();
  await Deno.writeTextFile(
    file,
    typeof owner === "string" ? owner : JSON.stringify({
      pid: owner.pid,
      host,
      flock: owner.flock ?? false,
      nonce: "another",
    }),
  );
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    await Deno.utime(file, then, then);
  }
  return file;
}

async function assertTimesOut(store: FileTokenStore, path: string) {
  const started = performance.now();
  const error = await assertRejects(
    () => store.saveToken(user("bob@example.com")),
    TokenStoreError,
  );
  assertEquals(error.code, "BACKEND");
  assertEquals(
    error.message,
    `Cannot lock "${path}.lock": timed out after 300 ms`,
  );
  assert(performance.now() - started >= 295);
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "0"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await child.status;
  return child.pid;
}

Deno.test("FileTokenStore on node:fs: a live owner holds the lock; one whose process is gone, or untouched too long, is taken over at once", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "tokens.json");
  const store = new FileTokenStore({ path, lockTimeoutMs: 300 });
  await store.saveToken(user("ada@example.com"));

  // alive: the parent process; the same with the flock flag (a Deno holder:
  // this process has no flock to tell)
  await writeOwner(path, { pid: Deno.ppid });
  await assertTimesOut(store, path);
  await writeOwner(path, { pid: Deno.ppid, flock: true });
  await assertTimesOut(store, path);
  // being written: no content yet
  await writeOwner(path, "");
  await assertTimesOut(store, path);

  const cases: [string, () => Promise<string>][] = [
    ["gone", async () => writeOwner(path, { pid: await deadPid() })],
    ["untouched", () => writeOwner(path, { pid: Deno.ppid }, STALE_MS + 1)],
    ["empty, untouched", () => writeOwner(path, "", STALE_MS + 1)],
    // left by this very process, which does not hold the lock
    ["this process", () => writeOwner(path, { pid: Deno.pid })],
  ];
  for (const [name, write] of cases) {
    await write();
    const started = performance.now();
    await store.saveToken(user(`${name.replace(/\W/g, "-")}@example.com`));
    assert(performance.now() - started < 250, `${name}: took too long`);
  }
  assertEquals((await store.getTokens()).length, 1 + cases.length);
});

Deno.test("FileTokenStore on node:fs: a stale owner is removed by one waiter at a time, through its takeover guard", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "tokens.json");
  const store = new FileTokenStore({ path, lockTimeoutMs: 300 });
  await store.saveToken(user("ada@example.com"));
  const owner = await writeOwner(path, { pid: await deadPid() });
  const guard = `${owner}.takeover`;
  // another waiter is removing it
  await Deno.writeTextFile(guard, "");
  await assertTimesOut(store, path);
  // that waiter died doing so
  const then = new Date(Date.now() - TAKEOVER_STALE_MS - 1);
  await Deno.utime(guard, then, then);
  await store.saveToken(user("bob@example.com"));
  assertEquals((await store.getTokens()).length, 2);
  await assertRejects(() => Deno.stat(guard), Deno.errors.NotFound);
  await assertRejects(() => Deno.stat(owner), Deno.errors.NotFound);
});

Deno.test("FileTokenStore on node:fs waits for a Deno process holding the lock, and goes on at once when it is killed", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "tokens.json");
  const release = join(dir.path, "release");
  const store = new FileTokenStore({ path, lockTimeoutMs: 300 });
  await store.saveToken(user("ada@example.com"));
  const holder = spawnWorker("file_store_lock_holder.ts", [
    `${path}.lock`,
    release,
  ]);
  const output = new LineReader(holder.stdout);
  const stderr = readText(holder.stderr);
  try {
    const line = await output.next();
    if (line !== "locked") throw new Error(`holder: ${line} ${await stderr}`);
    await assertTimesOut(store, path);
    holder.kill("SIGKILL");
    await holder.status;
    const started = performance.now();
    await store.saveToken(user("bob@example.com"));
    assert(performance.now() - started < 1_000, "waited for a dead holder");
  } finally {
    await Deno.writeTextFile(release, "");
    await output.rest();
    await stderr;
    await holder.status;
  }
  assertEquals((await store.getTokens()).length, 2);
});
