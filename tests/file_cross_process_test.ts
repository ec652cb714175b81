import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { FileTokenStore } from "../stores/file.ts";
import { parseZohoCsv } from "../stores/_file/zoho_csv.ts";
import { parseTokenJson } from "../stores/_file/json.ts";
import {
  LineReader,
  readText,
  spawnWorker,
  tempDir,
} from "./fixtures/file_helpers.ts";

const WORKERS = 4;
const SAVES = 50;

interface Worker {
  process: Deno.ChildProcess;
  output: LineReader;
  stderr: Promise<string>;
}

/**
 * Starts {@linkcode WORKERS} writers; with `mixed`, the odd ones run the
 * store on `node:fs/promises` (no `flock`: the lock owner file only), as
 * Node and Bun processes would.
 */
async function startWorkers(
  dir: string,
  args: (worker: number, go: string) => string[],
  mixed = false,
) {
  const go = join(dir, "go");
  const workers: Worker[] = [];
  for (let k = 0; k < WORKERS; k++) {
    const process = mixed && k % 2 === 1
      ? spawnWorker("node_fs.ts", ["file_writer.ts", ...args(k, go)])
      : spawnWorker("file_writer.ts", args(k, go));
    workers.push({
      process,
      output: new LineReader(process.stdout),
      stderr: readText(process.stderr),
    });
  }
  for (const worker of workers) {
    const line = await worker.output.next();
    if (line !== "ready") {
      for (const w of workers) w.process.kill("SIGKILL");
      throw new Error(`worker did not start: ${line} ${await worker.stderr}`);
    }
  }
  // start together
  await Deno.writeTextFile(go, "");
  return { workers };
}

const SAVE_CASES = [
  ["json", false],
  ["zoho-csv", false],
  ["json", true],
] as const;

for (const [format, mixed] of SAVE_CASES) {
  Deno.test(
    `FileTokenStore ${format}: ${WORKERS} processes${
      mixed ? ` (${WORKERS / 2} Deno, ${WORKERS / 2} on node:fs)` : ""
    } x ${SAVES} saves lose nothing and never expose a partial file`,
    async () => {
      await using dir = await tempDir();
      const path = join(dir.path, "tokens", "sdk_tokens.txt");
      const parse = (text: string) =>
        format === "json"
          ? parseTokenJson(text, path)
          : parseZohoCsv(text, path).tokens;
      const started = performance.now();
      const { workers } = await startWorkers(dir.path, (k, go) => [
        path,
        format,
        String(k),
        "save",
        String(SAVES),
        go,
      ], mixed);

      // read the file while they write: raw parses and a store with its index
      let running = true;
      let reads = 0;
      const failures: string[] = [];
      const reader = new FileTokenStore({ path, format });
      const readLoop = (async () => {
        while (running) {
          try {
            const text = await Deno.readTextFile(path);
            assert(text.length > 0, "the file is never empty");
            parse(text);
            await reader.getTokens();
            reads++;
          } catch (error) {
            if (!(error instanceof Deno.errors.NotFound)) {
              failures.push(String(error));
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      })();

      const finals: Record<string, string>[] = [];
      for (const worker of workers) {
        const line = await worker.output.next();
        const status = await worker.process.status;
        assertEquals(status.code, 0, await worker.stderr);
        finals.push(JSON.parse(line!));
        await worker.output.rest();
      }
      const elapsed = performance.now() - started;
      running = false;
      await readLoop;

      assertEquals(failures, []);
      assert(reads > 0, "the reader ran during the writes");
      const tokens = parse(await Deno.readTextFile(path));
      // one row per user: 3 shared users and one per worker
      assertEquals(tokens.length, 3 + WORKERS);
      assertEquals(new Set(tokens.map((t) => t.id)).size, tokens.length);
      assertEquals(new Set(tokens.map((t) => t.userName)).size, tokens.length);
      const stored = new Map(tokens.map((t) => [t.userName!, t.refreshToken!]));
      for (let k = 0; k < WORKERS; k++) {
        // only worker k writes its own user: its last write must be there
        const own = `own-${k}@example.com`;
        assertEquals(stored.get(own), finals[k][own]);
      }
      for (let s = 0; s < 3; s++) {
        const shared = `shared-${s}@example.com`;
        const lastWrites = finals.map((last) => last[shared]);
        assert(
          lastWrites.includes(stored.get(shared)!),
          `${shared}: ${
            stored.get(shared)
          } is not a last write of ${lastWrites}`,
        );
      }
      console.log(
        `${format}${mixed ? " (mixed)" : ""}: ${
          WORKERS * SAVES
        } saves from ${WORKERS} processes in ${
          elapsed.toFixed(0)
        } ms (process start included), ${reads} concurrent reads, 0 failures`,
      );
    },
  );

  Deno.test(
    `FileTokenStore ${format}: a lease is taken by exactly one of ${WORKERS} processes${
      mixed ? ` (${WORKERS / 2} Deno, ${WORKERS / 2} on node:fs)` : ""
    }`,
    async () => {
      await using dir = await tempDir();
      const path = join(dir.path, "tokens");
      const release = join(dir.path, "release");
      const { workers } = await startWorkers(dir.path, (k, go) => [
        path,
        format,
        String(k),
        "lease",
        go,
        release,
      ], mixed);
      const results: string[] = [];
      for (const worker of workers) results.push((await worker.output.next())!);
      assertEquals(results.filter((r) => r === "lease true").length, 1);
      assertEquals(results.filter((r) => r === "lease false").length, 3);
      const store = new FileTokenStore({ path, format });
      assertEquals(
        await store.lock.acquire("refresh:race", { ttlMs: 1000 }),
        null,
      );
      await Deno.writeTextFile(release, "");
      for (const worker of workers) {
        await worker.output.rest();
        assertEquals(
          (await worker.process.status).code,
          0,
          await worker.stderr,
        );
      }
      // the holder released it on exit
      const lease = await store.lock.acquire("refresh:race", { ttlMs: 1000 });
      assert(lease !== null);
      await lease.release();
    },
  );
}

Deno.test("FileTokenStore waits for a process holding the lock on node:fs (no flock), and goes on at once when it is killed", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "tokens.json");
  const release = join(dir.path, "release");
  const token = (name: string) =>
    new OAuthToken({ userName: name, refreshToken: `1000.${name}` });
  const store = new FileTokenStore({ path, lockTimeoutMs: 300 });
  await store.saveToken(token("ada@example.com"));
  const holder = spawnWorker("node_fs.ts", [
    "file_store_lock_holder.ts",
    `${path}.lock`,
    release,
  ]);
  const output = new LineReader(holder.stdout);
  const stderr = readText(holder.stderr);
  try {
    const line = await output.next();
    if (line !== "locked") throw new Error(`holder: ${line} ${await stderr}`);
    const error = await assertRejects(
      () => store.saveToken(token("bob@example.com")),
      TokenStoreError,
    );
    assertEquals(
      error.message,
      `Cannot lock "${path}.lock": timed out after 300 ms`,
    );
    holder.kill("SIGKILL");
    await holder.status;
    const started = performance.now();
    await store.saveToken(token("bob@example.com"));
    // Deno probes the dead holder's pid (with --allow-run granted)
    assert(performance.now() - started < 1_000, "waited for a dead holder");
  } finally {
    await Deno.writeTextFile(release, "");
    await output.rest();
    await stderr;
    await holder.status;
  }
  assertEquals((await store.getTokens()).length, 2);
});
