import { assert, assertEquals } from "@std/assert";
import { join } from "@std/path";
import { LibsqlTokenStore } from "../stores/libsql.ts";

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
