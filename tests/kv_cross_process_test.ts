import { assert, assertEquals, assertGreater } from "@std/assert";
import { fromFileUrl, join } from "@std/path";
import { KvTokenStore } from "../stores/kv.ts";
import { assertLayout } from "./_kv_layout.ts";

const WORKERS = 4;
const USERS = 20;
const ROUNDS = 8;
const root = fromFileUrl(new URL("..", import.meta.url));
const script = fromFileUrl(new URL("./fixtures/kv_worker.ts", import.meta.url));

/** A raw KV call, retried while a worker holds the file's write lock. */
async function raw<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const busy = /database is locked/.test((error as Error).message);
      if (!busy || attempt >= 50) throw error;
      await new Promise((r) => setTimeout(r, 1 + Math.random() * 5));
    }
  }
}

/**
 * Starts the workers on one KV file, releases them together once all are
 * ready and resolves their JSON reports.
 */
async function runWorkers(
  path: string,
  args: (worker: number) => string[],
): Promise<Record<string, unknown>[]> {
  const children = Array.from(
    { length: WORKERS },
    (_, w) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--unstable-kv",
          script,
          path,
          String(w),
          ...args(w),
        ],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
  );
  const kv = await Deno.openKv(path);
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await raw(async () => {
        let n = 0;
        for await (const _ of kv.list({ prefix: ["test", "ready"] })) n++;
        return n;
      });
      if (ready === WORKERS) break;
      if (Date.now() > deadline) {
        for (const child of children) child.kill();
        throw new Error(`Only ${ready} of ${WORKERS} workers got ready`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await raw(() => kv.set(["test", "go"], true));
  } finally {
    kv.close();
  }
  const outputs = await Promise.all(children.map((child) => child.output()));
  return outputs.map((output, w) => {
    const stdout = new TextDecoder().decode(output.stdout).trim();
    const stderr = new TextDecoder().decode(output.stderr);
    assertEquals(output.code, 0, `worker ${w} failed:\n${stderr}`);
    return JSON.parse(stdout.split("\n").at(-1)!);
  });
}

async function withKvFile(fn: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "kv_cross_process_" });
  try {
    await fn(join(dir, "shared.sqlite3"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("KvTokenStore across processes: 4 writers of the same 20 users leave 20 tokens, each a last write", async () => {
  await withKvFile(async (path) => {
    const reports = await runWorkers(
      path,
      () => ["save", String(USERS), String(ROUNDS)],
    ) as { last: Record<string, string>; saves: number; errors: string[] }[];
    for (const report of reports) {
      assertEquals(report.errors, []);
      assertEquals(report.saves, USERS * ROUNDS);
    }
    const store = await KvTokenStore.open({ path });
    try {
      const tokens = await store.getTokens();
      assertEquals(tokens.length, USERS);
      const users = new Set(tokens.map((t) => t.userName));
      assertEquals(users.size, USERS);
      for (const token of tokens) {
        const finals = reports.map((r) => r.last[token.userName!]);
        assert(
          finals.includes(token.refreshToken!),
          `${token.userName}: ${token.refreshToken} is none of ${finals}`,
        );
        assertEquals(
          (await store.findToken({ accessToken: token.accessToken }))?.id,
          token.id,
        );
        assertEquals(
          (await store.findToken({ userName: token.userName }))?.id,
          token.id,
        );
      }
      // exactly the index entries and counters of the 20 tokens, none stale
      const kv = await Deno.openKv(path);
      try {
        await assertLayout(kv, store);
      } finally {
        kv.close();
      }
    } finally {
      await store.close();
    }
  });
});

Deno.test("KvTokenStore across processes: the lease is exclusive and every worker gets it", async () => {
  await withKvFile(async (path) => {
    const reports = await runWorkers(path, () => ["lease", "5"]) as {
      acquired: number;
      overlaps: number;
      misses: number;
    }[];
    for (const report of reports) {
      assertEquals(report.overlaps, 0);
      assertEquals(report.acquired, 5);
    }
    const kv = await Deno.openKv(path);
    try {
      const counter = (await kv.get<number>(["test", "counter"])).value;
      assertEquals(counter, WORKERS * 5);
      // the workers did contend for it
      assertGreater(reports.reduce((n, r) => n + r.misses, 0), 0);
    } finally {
      kv.close();
    }
  });
});
