import { assert, assertEquals } from "@std/assert";
import { join } from "@std/path";
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

async function startWorkers(
  dir: string,
  args: (worker: number, go: string) => string[],
) {
  const go = join(dir, "go");
  const workers: Worker[] = [];
  for (let k = 0; k < WORKERS; k++) {
    const process = spawnWorker("file_writer.ts", args(k, go));
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

for (const format of ["json", "zoho-csv"] as const) {
  Deno.test(`FileTokenStore ${format}: ${WORKERS} processes x ${SAVES} saves lose nothing and never expose a partial file`, async () => {
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
    ]);

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
        `${shared}: ${stored.get(shared)} is not a last write of ${lastWrites}`,
      );
    }
    console.log(
      `${format}: ${WORKERS * SAVES} saves from ${WORKERS} processes in ${
        elapsed.toFixed(0)
      } ms (process start included), ${reads} concurrent reads, 0 failures`,
    );
  });

  Deno.test(`FileTokenStore ${format}: a lease is taken by exactly one of ${WORKERS} processes`, async () => {
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
    ]);
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
      assertEquals((await worker.process.status).code, 0, await worker.stderr);
    }
    // the holder released it on exit
    const lease = await store.lock.acquire("refresh:race", { ttlMs: 1000 });
    assert(lease !== null);
    await lease.release();
  });
}
