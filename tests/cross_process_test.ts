/**
 * Stores shared by several processes: 4 `deno` processes save and find the
 * tokens of the same users in one store while taking one lease in turns.
 * Every store with a lock runs it: Deno KV file, libSQL file, MySQL and
 * PostgreSQL (when `MYSQL_URL` / `POSTGRES_URL` are set). The SQL servers
 * also show that a lease held by a process that died expires.
 */

import { assert, assertEquals, assertExists, assertGreater } from "@std/assert";
import { fromFileUrl, join } from "@std/path";
import type { TokenStore } from "../core/token_store.ts";
import { assertLayout } from "./_kv_layout.ts";
import { waitFor, type WorkerReport } from "./fixtures/cross_process_worker.ts";
import { SQL_SERVERS } from "./fixtures/sql_server.ts";
import {
  openStoreSpec,
  type StoreSpec,
  target,
} from "./fixtures/store_specs.ts";

const WORKERS = 4;
const ROOT = fromFileUrl(new URL("..", import.meta.url));
const WORKER = fromFileUrl(
  new URL("./fixtures/cross_process_worker.ts", import.meta.url),
);

/** One store's run: users shared, saves and leases per process. */
interface Case {
  kind: StoreSpec["kind"];
  users: number;
  saves: number;
  leases: number;
  /** The SQL store's pool size. */
  connectionLimit?: number;
  /** More checks of the store the processes left. */
  check?(store: TokenStore, spec: StoreSpec): Promise<void>;
}

const CASES: Case[] = [
  {
    kind: "kv",
    users: 20,
    saves: 160,
    leases: 5,
    // exactly the index entries and counters of the 20 tokens, none stale
    async check(store, spec) {
      const kv = await Deno.openKv((spec as { path: string }).path);
      try {
        await assertLayout(kv, store as Parameters<typeof assertLayout>[1]);
      } finally {
        kv.close();
      }
    },
  },
  { kind: "libsql", users: 20, saves: 100, leases: 3 },
  { kind: "mysql", users: 8, saves: 50, leases: 3, connectionLimit: 4 },
  { kind: "postgres", users: 8, saves: 50, leases: 3 },
  { kind: "redis", users: 20, saves: 100, leases: 3 },
];

const test = (name: string, ignore: boolean, fn: () => Promise<void>) =>
  Deno.test({ name, ignore, fn, sanitizeOps: false, sanitizeResources: false });

/** Starts the workers on one store, releases them together, resolves their reports. */
async function runWorkers(
  spec: StoreSpec,
  { users, saves, leases }: Case,
  dir: string,
): Promise<{ reports: WorkerReport[]; wall: number }> {
  const children = Array.from(
    { length: WORKERS },
    (_, i) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          WORKER,
          JSON.stringify(spec),
          String(i),
          String(users),
          String(saves),
          String(leases),
          dir,
        ],
        cwd: ROOT,
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
  return { reports, wall: performance.now() - started };
}

for (const run of CASES) {
  const { users, saves, leases } = run;
  const store = target(run.kind);
  test(
    `${store.storeName}: ${WORKERS} processes × ${saves} saves of ${users} users on one ${store.name} store keep one row per user, lose no update and share an exclusive lease`,
    !store.available,
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "cross_process_" });
      const fresh = store.spec(dir)!;
      const spec = run.connectionLimit === undefined
        ? fresh
        : { ...fresh, connectionLimit: run.connectionLimit } as StoreSpec;
      try {
        const { reports, wall } = await runWorkers(spec, run, dir);
        for (const report of reports) {
          assertEquals(report.errors, [], `worker ${report.worker}`);
          assertEquals(report.saves, saves);
          assert(report.byId > 0, `worker ${report.worker} never saved by id`);
        }

        const opened = await openStoreSpec(spec);
        try {
          const tokens = await opened.getTokens();
          assertEquals(tokens.length, users);
          assertEquals(new Set(tokens.map((t) => t.userName)).size, users);
          for (let u = 0; u < users; u++) {
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
            // and every lookup finds it
            assertEquals(
              (await opened.findToken({ accessToken: stored.accessToken }))
                ?.id,
              stored.id,
            );
            assertEquals(
              (await opened.findToken({ userName }))?.id,
              stored.id,
            );
          }
          await run.check?.(opened, spec);
        } finally {
          await opened.close?.();
        }

        // the lease: each worker held it as often as it wanted, no two
        // critical sections overlap, and no increment of the counter is lost
        for (const report of reports) {
          assertEquals(
            report.intervals.length,
            leases,
            `worker ${report.worker} held the lease ${report.intervals.length} times`,
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
        assertEquals(
          Number(await Deno.readTextFile(join(dir, "counter"))),
          WORKERS * leases,
        );
        // the workers did contend for it
        assertGreater(reports.reduce((n, r) => n + r.misses, 0), 0);
        const attempts = reports.reduce((n, r) => n + r.attempts, 0);
        const slowest = Math.max(...reports.map((r) => r.elapsedMs));
        console.log(
          `${store.name}: ${
            WORKERS * saves
          } saves (+ finds) by ${WORKERS} processes in ${
            slowest.toFixed(0)
          } ms (wall ${wall.toFixed(0)} ms); ${intervals.length} leases ` +
            `taken in ${attempts} attempts`,
        );
      } finally {
        await store.cleanup?.(spec);
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

for (const server of SQL_SERVERS) {
  test(
    `${server.storeName}: a lease held by a process that died expires after its ttlMs`,
    server.url === undefined,
    () =>
      server.withTable(async (table) => {
        const spec: StoreSpec = { kind: server.kind, url: server.url!, table };
        const script = `
        import { openStoreSpec } from ${
          JSON.stringify(
            new URL("./fixtures/store_specs.ts", import.meta.url).href,
          )
        };
        const store = await openStoreSpec(${JSON.stringify(spec)});
        const lease = await store.lock.acquire("refresh:crash", { ttlMs: 1500 });
        console.log(lease ? "held" : "refused");
        Deno.exit(0); // dies without releasing or closing
      `;
        const output = await new Deno.Command(Deno.execPath(), {
          args: ["eval", script],
          cwd: ROOT,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assertEquals(
          new TextDecoder().decode(output.stdout).trim(),
          "held",
          new TextDecoder().decode(output.stderr),
        );
        const store = await server.open({ table });
        try {
          const [row] = await server.query(
            `SELECT expires_at - ${server.nowMs} AS left_ms ` +
              `FROM ${
                server.quote(`${table}_lock`)
              } WHERE lock_key = 'refresh:crash'`,
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
      }),
  );
}
