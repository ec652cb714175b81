/**
 * Cross-process stampede tests: several `deno` processes share one store with
 * a lock and ask for the same expired token at once; the token endpoint (the
 * fixture server) must see exactly one refresh per expiry. Also: a refresh
 * holder killed mid-refresh is taken over once its lease expires.
 *
 * Every store shared across processes runs these: Deno KV file, libSQL file,
 * JSON file and MySQL (when `MYSQL_URL` is set).
 */

import { assert, assertEquals } from "@std/assert";
import { join } from "@std/path";
import { OAuthToken } from "../core/token.ts";
import type { TokenStore } from "../core/token_store.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";
import {
  openStoreSpec,
  type RoundResult,
  type StoreSpec,
  tokenHash,
  type WorkerConfig,
} from "./fixtures/stampede_worker.ts";

const WORKERS = 4;
const CONCURRENCY = 50;
const ROUNDS = 3;
const HOUR = 3_600_000;
const USER = "stampede@example.com";
const WORKER = new URL("./fixtures/stampede_worker.ts", import.meta.url);
const ROOT = new URL("../", import.meta.url);
const MYSQL_URL = Deno.env.get("MYSQL_URL");

interface Target {
  name: string;
  /** The spec of a fresh, empty store, or `null` when it cannot run here. */
  spec(dir: string): StoreSpec | null;
  cleanup?(spec: StoreSpec): Promise<void>;
}

async function dropMysqlTables(spec: StoreSpec): Promise<void> {
  if (spec.kind !== "mysql") return;
  // deno-lint-ignore no-import-prefix
  const mysql = await import("npm:mysql2@^3/promise");
  const connection = await mysql.createConnection(spec.url);
  try {
    await connection.query(`DROP TABLE IF EXISTS \`${spec.table}\``);
    await connection.query(`DROP TABLE IF EXISTS \`${spec.table}_lock\``);
  } finally {
    await connection.end();
  }
}

const TARGETS: Target[] = [
  {
    name: "Deno KV file",
    spec: (dir) => ({ kind: "kv", path: join(dir, "tokens.kv") }),
  },
  {
    name: "libSQL file",
    spec: (dir) => ({ kind: "libsql", url: `file:${join(dir, "tokens.db")}` }),
  },
  {
    name: "JSON file",
    spec: (dir) => ({ kind: "file", path: join(dir, "tokens.json") }),
  },
  {
    name: "MySQL",
    spec: () =>
      MYSQL_URL === undefined ? null : {
        kind: "mysql",
        url: MYSQL_URL,
        table: `stampede_${crypto.randomUUID().slice(0, 8)}`,
      },
    cleanup: dropMysqlTables,
  },
];

if (MYSQL_URL === undefined) {
  console.log(
    "Notice: MYSQL_URL is unset, the MySQL stampede tests are skipped",
  );
}

/** A worker process and its line-based protocol. */
class Worker {
  #child: Deno.ChildProcess;
  #reader: ReadableStreamDefaultReader<string>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buffer = "";
  /** Every stdout line, for the secret scan. */
  readonly output: string[] = [];
  readonly stderr: Promise<string>;

  constructor(config: WorkerConfig) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WORKER.pathname, JSON.stringify(config)],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#reader = this.#child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    this.#writer = this.#child.stdin.getWriter();
    this.stderr = new Response(this.#child.stderr).text();
  }

  async next<T>(): Promise<T> {
    for (;;) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        this.output.push(line);
        return JSON.parse(line);
      }
      const { value, done } = await this.#reader.read();
      if (done) {
        throw new Error(`Worker ended early: ${await this.stderr}`);
      }
      this.#buffer += value;
    }
  }

  async round(round: number, clockOffsetMs: number): Promise<void> {
    await this.#writer.write(
      new TextEncoder().encode(`${JSON.stringify({ round, clockOffsetMs })}\n`),
    );
  }

  kill(): void {
    this.#child.kill("SIGKILL");
  }

  /** Ends stdin, drains stdout and waits; resolves the exit code. */
  async close(): Promise<number> {
    await this.#writer.close().catch(() => {});
    for (;;) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      this.#buffer += value;
    }
    this.output.push(this.#buffer);
    this.#buffer = "";
    return (await this.#child.status).code;
  }
}

interface Harness {
  store: TokenStore;
  server: Awaited<ReturnType<typeof startTokenServer>>;
  refreshToken: string;
  config: (overrides?: Partial<WorkerConfig>) => WorkerConfig;
  /** Every secret of the run, for the scan. */
  secrets: Set<string>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A fixture server, a fresh store holding one expired token, worker configs. */
async function harness(
  target: Target,
  spec: StoreSpec,
  dir: string,
  latencyMs: number,
): Promise<Harness> {
  const server = await startTokenServer({ latencyMs });
  const store = await openStoreSpec(spec);
  const refreshToken = server.issueRefreshToken({ userName: USER });
  await store.saveToken(
    new OAuthToken({
      userName: USER,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      refreshToken,
    }),
  );
  return {
    store,
    server,
    refreshToken,
    secrets: new Set([refreshToken, DEFAULT_CLIENT.clientSecret]),
    config: (overrides = {}) => ({
      store: spec,
      tokenUrl: server.url,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      query: { userName: USER },
      concurrency: CONCURRENCY,
      leaseTtlMs: 10_000,
      pollIntervalMs: 25,
      ...overrides,
    }),
    async [Symbol.asyncDispose]() {
      await store.close?.();
      await server.close();
      await target.cleanup?.(spec);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The stored access token and its hash. */
async function storedAccess(store: TokenStore): Promise<[string, string]> {
  const token = await store.findToken({ userName: USER });
  assert(token?.accessToken !== undefined, "no access token stored");
  return [token.accessToken, await tokenHash(token.accessToken)];
}

async function closeAll(workers: Worker[], secrets: Set<string>) {
  const codes = await Promise.all(workers.map((w) => w.close()));
  for (const worker of workers) {
    const log = worker.output.join("\n") + await worker.stderr;
    for (const secret of secrets) {
      assert(!log.includes(secret), "a secret appeared in a worker's output");
    }
  }
  return codes;
}

for (const target of TARGETS) {
  Deno.test({
    name:
      `stampede: ${WORKERS} processes x ${CONCURRENCY} callers on the ${target.name} store make exactly 1 token request per expiry`,
    ignore: target.name === "MySQL" && MYSQL_URL === undefined,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "stampede_" });
      const spec = target.spec(dir)!;
      await using h = await harness(target, spec, dir, 100);
      const workers = Array.from(
        { length: WORKERS },
        () => new Worker(h.config()),
      );
      try {
        for (const worker of workers) await worker.next();
        const counts: number[] = [];
        for (let round = 1; round <= ROUNDS; round++) {
          const before = h.server.stats().refreshToken;
          // Each round moves every process's clock 2 h on: the token issued
          // in the round before (valid 1 h) has expired for all of them.
          await Promise.all(
            workers.map((w) => w.round(round, round * 2 * HOUR)),
          );
          const results = await Promise.all(
            workers.map((w) => w.next<RoundResult>()),
          );
          const count = h.server.stats().refreshToken - before;
          counts.push(count);
          const [access, hash] = await storedAccess(h.store);
          h.secrets.add(access);
          for (const result of results) {
            assertEquals(result.errors, []);
            assertEquals(result.tokenHashes, [hash]);
          }
          assertEquals(count, 1, `round ${round}: ${count} token requests`);
        }
        console.log(
          `[stampede] ${target.name}: ${WORKERS} processes x ${CONCURRENCY} callers, token requests per expiry over ${ROUNDS} rounds: ${
            counts.join(", ")
          }`,
        );
        assertEquals(h.server.stats().issued, ROUNDS);
      } finally {
        const codes = await closeAll(workers, h.secrets);
        assertEquals(codes, workers.map(() => 0));
      }
    },
  });

  Deno.test({
    name:
      `stampede: a refresh holder killed mid-refresh on the ${target.name} store is taken over after its lease expires`,
    ignore: target.name === "MySQL" && MYSQL_URL === undefined,
    async fn() {
      const leaseTtlMs = 1500;
      const dir = await Deno.makeTempDir({ prefix: "stampede_kill_" });
      const spec = target.spec(dir)!;
      // The holder's refresh hangs at the server until it is killed.
      await using h = await harness(target, spec, dir, 30_000);
      const config = h.config({ leaseTtlMs, pollIntervalMs: 50 });
      const holder = new Worker({ ...config, concurrency: 5 });
      const waiters = Array.from(
        { length: WORKERS - 1 },
        () => new Worker(config),
      );
      try {
        for (const worker of [holder, ...waiters]) await worker.next();
        // The holder takes its lease after this moment, so the lease cannot
        // expire before `asked + leaseTtlMs`.
        const asked = Date.now();
        await holder.round(1, 0);
        for (let i = 0; h.server.requests.length === 0; i++) {
          assert(i < 1000, "the holder never asked the token endpoint");
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        holder.kill();
        assertEquals(await holder.close(), 137);
        h.server.setLatency(0);
        await Promise.all(waiters.map((w) => w.round(1, 0)));
        const results = await Promise.all(
          waiters.map((w) => w.next<RoundResult>()),
        );
        const [access, hash] = await storedAccess(h.store);
        h.secrets.add(access);
        for (const result of results) {
          assertEquals(result.errors, []);
          assertEquals(result.tokenHashes, [hash]);
        }
        const [killed, takeover, ...more] = h.server.requests;
        assertEquals(more, [], "more than one takeover refresh");
        assertEquals(takeover.outcome, "issued");
        const gap = takeover.at - killed.at;
        const sinceAsked = takeover.at - asked;
        assert(
          sinceAsked >= leaseTtlMs - 20,
          `the takeover came ${sinceAsked} ms after the holder was started, before its ${leaseTtlMs} ms lease expired`,
        );
        // The killed holder's request still waits at the server: nothing was
        // issued to it, only to the takeover.
        assertEquals(killed.outcome, "pending");
        assertEquals(h.server.stats().issued, 1);
        console.log(
          `[stampede] ${target.name}: holder killed; token requests: ${h.server.stats().refreshToken} (1 killed + 1 takeover), takeover ${gap} ms after the killed request (lease ${leaseTtlMs} ms)`,
        );
      } finally {
        const codes = await closeAll(waiters, h.secrets);
        assertEquals(codes, waiters.map(() => 0));
      }
    },
  });
}
