import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { BUSY_RETRIES, withRetry } from "../stores/_libsql/client.ts";

const WORKERS = 4;
const USERS = 20;
const ROUNDS = 5;

interface WorkerReport {
  worker: number;
  finals: Record<string, string>;
  ids: Record<string, string[]>;
  intervals: [number, number][];
  attempts: number;
  saves: number;
  errors: string[];
  elapsedMs: number;
}

async function waitFor(paths: string[], deadline: number): Promise<void> {
  for (const path of paths) {
    for (;;) {
      try {
        await Deno.stat(path);
        break;
      } catch {
        if (Date.now() > deadline) {
          throw new Error(`Timed out waiting for "${path}"`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }
}

Deno.test("LibsqlTokenStore: 4 processes on one file keep one row per user and an exclusive lease", async () => {
  const dir = await Deno.makeTempDir({ prefix: "libsql_cross_process_" });
  try {
    const url = `file:${join(dir, "tokens.db")}`;
    const worker = new URL("./fixtures/libsql_worker.ts", import.meta.url);
    const children = Array.from(
      { length: WORKERS },
      (_, i) =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            worker.pathname,
            url,
            String(i),
            String(USERS),
            String(ROUNDS),
            dir,
          ],
          stdout: "piped",
          stderr: "piped",
        }).spawn(),
    );
    // start together: every worker has opened the store before any saves
    await waitFor(
      Array.from({ length: WORKERS }, (_, i) => join(dir, `ready-${i}`)),
      Date.now() + 60_000,
    );
    await Deno.writeTextFile(join(dir, "go"), "");
    const reports: WorkerReport[] = [];
    for (const child of children) {
      const { code, stdout, stderr } = await child.output();
      assertEquals(code, 0, new TextDecoder().decode(stderr));
      reports.push(JSON.parse(new TextDecoder().decode(stdout)));
    }
    for (const report of reports) {
      assertEquals(report.errors, [], `worker ${report.worker}`);
      assertEquals(report.saves, USERS * ROUNDS);
    }

    const store = await LibsqlTokenStore.open({ url });
    try {
      const tokens = await store.getTokens();
      assertEquals(tokens.length, USERS);
      assertEquals(new Set(tokens.map((t) => t.userName)).size, USERS);
      for (let i = 0; i < USERS; i++) {
        const userName = `user${i}@example.com`;
        const stored = tokens.find((t) => t.userName === userName);
        assert(stored, userName);
        // the value left is one of the workers' final writes for this user
        const finals = reports.map((r) => r.finals[userName]);
        assert(
          finals.includes(stored.refreshToken!),
          `${userName}: ${stored.refreshToken} not among ${finals}`,
        );
        // every save and find of every process saw the same row
        const ids = new Set(reports.flatMap((r) => r.ids[userName]));
        assertEquals([...ids], [stored.id], userName);
      }
    } finally {
      await store.close();
    }

    // the lease: each worker held it, and no two critical sections overlap
    for (const report of reports) {
      assert(
        report.intervals.length >= 1,
        `worker ${report.worker} never held the lease`,
      );
    }
    const intervals = reports.flatMap((r) => r.intervals)
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (let i = 1; i < intervals.length; i++) {
      assert(
        intervals[i][0] >= intervals[i - 1][1],
        `critical sections overlap: ${intervals[i - 1]} and ${intervals[i]}`,
      );
    }
    const attempts = reports.reduce((n, r) => n + r.attempts, 0);
    const slowest = Math.max(...reports.map((r) => r.elapsedMs));
    console.log(
      `${WORKERS * USERS * ROUNDS} saves + finds in ${
        slowest.toFixed(0)
      } ms; ` +
        `${intervals.length} leases taken in ${attempts} attempts`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LibsqlTokenStore waits for another process's write lock instead of failing with SQLITE_BUSY", async () => {
  const dir = await Deno.makeTempDir({ prefix: "libsql_busy_" });
  try {
    const path = join(dir, "tokens.db");
    const store = await LibsqlTokenStore.open({ url: `file:${path}` });
    try {
      const holder = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { createClient } from "@libsql/client";
           const client = createClient({ url: ${
            JSON.stringify(`file:${path}`)
          } });
           const tx = await client.transaction("write"); // BEGIN IMMEDIATE
           await tx.execute("INSERT INTO oauthtoken (id, user_name, refresh_token) VALUES ('held', 'held@example.com', '1000.h')");
           await Deno.writeTextFile(${JSON.stringify(join(dir, "locked"))}, "");
           await new Promise((r) => setTimeout(r, 400));
           await tx.commit();
           client.close();`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await waitFor([join(dir, "locked")], Date.now() + 30_000);
      const started = performance.now();
      const saved = await store.saveToken(
        new OAuthToken({
          userName: "busy@example.com",
          refreshToken: "1000.b",
        }),
      );
      const waited = performance.now() - started;
      const { code, stderr } = await holder.output();
      assertEquals(code, 0, new TextDecoder().decode(stderr));
      assert(waited > 150, `saved after ${waited} ms: it did not wait`);
      assertEquals(
        (await store.getTokens()).map((t) => t.id).sort(),
        ["held", saved.id!].sort(),
      );
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LibsqlTokenStore retries SQLITE_BUSY a bounded number of times, then reports BACKEND", async () => {
  const busy = Object.assign(new Error("SQLITE_BUSY: database is locked"), {
    code: "SQLITE_BUSY",
    rawCode: 5,
  });
  let calls = 0;
  assertEquals(
    await withRetry("save token", [], () => {
      calls++;
      return calls < 3 ? Promise.reject(busy) : Promise.resolve("done");
    }),
    "done",
  );
  assertEquals(calls, 3);
  calls = 0;
  const error = await assertRejects(
    () =>
      withRetry("save token", [], () => {
        calls++;
        return Promise.reject(busy);
      }),
    TokenStoreError,
  );
  assertEquals(calls, BUSY_RETRIES + 1);
  assertEquals(error.code, "BACKEND");
  assertEquals(error.cause, busy);
  assertEquals(
    error.message,
    "Cannot save token: SQLITE_BUSY: database is locked",
  );
  // other driver errors are not retried
  calls = 0;
  await assertRejects(
    () =>
      withRetry("save token", [], () => {
        calls++;
        return Promise.reject(new Error("SQLITE_ERROR: no such table"));
      }),
    TokenStoreError,
  );
  assertEquals(calls, 1);
});
