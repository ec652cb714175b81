import { assert, assertEquals, assertExists } from "@std/assert";
import { join } from "@std/path";
import { PostgresTokenStore } from "../stores/postgres.ts";
import {
  notice,
  POSTGRES_URL,
  select,
  withAdmin,
  withTable,
} from "./fixtures/postgres_helpers.ts";

const WORKERS = 4;
const SAVES = 50;
const USERS = 8;

interface WorkerReport {
  worker: number;
  finals: Record<string, string>;
  ids: Record<string, string[]>;
  intervals: [number, number][];
  attempts: number;
  saves: number;
  byId: number;
  errors: string[];
  elapsedMs: number;
}

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

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

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postgres_cross_process_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (POSTGRES_URL === undefined) {
  notice("tests/postgres_cross_process_test.ts");
} else {
  const url = POSTGRES_URL;

  test("PostgresTokenStore: 4 processes × 50 saves on one table keep one row per user, lose no update and share an exclusive lease", () =>
    withTempDir((dir) =>
      withTable(async (table) => {
        const worker = new URL("./fixtures/xproc_worker.ts", import.meta.url);
        const spec = { kind: "postgres", url, table };
        const children = Array.from(
          { length: WORKERS },
          (_, i) =>
            new Deno.Command(Deno.execPath(), {
              args: [
                "run",
                "-A",
                worker.pathname,
                JSON.stringify(spec),
                String(i),
                String(USERS),
                String(SAVES),
                dir,
              ],
              stdout: "piped",
              stderr: "piped",
            }).spawn(),
        );
        // start together: every worker has opened the store before any saves
        await waitFor(
          Array.from({ length: WORKERS }, (_, i) => join(dir, `ready-${i}`)),
          Date.now() + 90_000,
        );
        const started = performance.now();
        await Deno.writeTextFile(join(dir, "go"), "");
        const reports: WorkerReport[] = [];
        for (const child of children) {
          const { code, stdout, stderr } = await child.output();
          assertEquals(code, 0, new TextDecoder().decode(stderr));
          reports.push(JSON.parse(new TextDecoder().decode(stdout)));
        }
        const wall = performance.now() - started;
        for (const report of reports) {
          assertEquals(report.errors, [], `worker ${report.worker}`);
          assertEquals(report.saves, SAVES);
          assert(report.byId > 0, `worker ${report.worker} never saved by id`);
        }

        const store = await PostgresTokenStore.open({ url, table });
        try {
          const tokens = await store.getTokens();
          assertEquals(tokens.length, USERS);
          assertEquals(new Set(tokens.map((t) => t.userName)).size, USERS);
          for (let u = 0; u < USERS; u++) {
            const userName = `user${u}@example.com`;
            const stored = tokens.find((t) => t.userName === userName);
            assertExists(stored, userName);
            // the value left is one of the workers' final writes for this user
            const finals = reports.map((r) => r.finals[userName]);
            assert(
              finals.includes(stored.refreshToken!),
              `${userName}: ${stored.refreshToken} not among ${finals}`,
            );
            // access and refresh token come from the same save: no mixed row
            assertEquals(
              stored.accessToken!.replace("1000.a-", ""),
              stored.refreshToken!.replace("1000.", ""),
            );
            // every save and find of every process saw the same row
            const ids = new Set(reports.flatMap((r) => r.ids[userName]));
            assertEquals([...ids], [stored.id], userName);
          }
        } finally {
          await store.close();
        }

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
            `critical sections overlap: ${intervals[i - 1]} and ${
              intervals[i]
            }`,
          );
        }
        const attempts = reports.reduce((n, r) => n + r.attempts, 0);
        const slowest = Math.max(...reports.map((r) => r.elapsedMs));
        console.log(
          `${WORKERS * SAVES} saves (+ finds) by ${WORKERS} processes in ${
            slowest.toFixed(0)
          } ms (wall ${wall.toFixed(0)} ms); ${intervals.length} leases ` +
            `taken in ${attempts} attempts`,
        );
      }, "xproc")
    ));

  test("PostgresTokenStore: a lease held by a process that died expires after its ttlMs", () =>
    withTable(async (table) => {
      const script = `
        import { PostgresTokenStore } from ${
        JSON.stringify(new URL("../stores/postgres.ts", import.meta.url).href)
      };
        const store = await PostgresTokenStore.open({ url: ${
        JSON.stringify(url)
      }, table: ${JSON.stringify(table)} });
        const lease = await store.lock.acquire("refresh:crash", { ttlMs: 1500 });
        console.log(lease ? "held" : "refused");
        Deno.exit(0); // dies without releasing or closing
      `;
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(
        new TextDecoder().decode(output.stdout).trim(),
        "held",
        new TextDecoder().decode(output.stderr),
      );
      const store = await PostgresTokenStore.open({ url, table });
      try {
        const [row] = await withAdmin((admin) =>
          select(
            admin,
            `SELECT expires_at - CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS bigint) AS left_ms ` +
              `FROM "${table}_lock" WHERE lock_key = 'refresh:crash'`,
          )
        );
        const left = Number(row.left_ms);
        assert(left > 0 && left <= 1500, `${left} ms left`);
        assertEquals(
          await store.lock.acquire("refresh:crash", { ttlMs: 10_000 }),
          null,
        );
        await new Promise((r) => setTimeout(r, Math.max(0, left) + 100));
        const lease = await store.lock.acquire("refresh:crash", {
          ttlMs: 10_000,
        });
        assertExists(lease);
        await lease.release();
      } finally {
        await store.close();
      }
    }));
}
