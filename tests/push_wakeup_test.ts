/**
 * Push wake-ups across processes (design "Waking waiters"): a waiter on
 * PostgreSQL (`LISTEN/NOTIFY`), the file store (a watch on its directory)
 * and a libSQL file (its files' `stat` looked at every 4 ms: a directory
 * watch would drop SQLite's locks) wakes within {@linkcode LIMIT_MS} of another process's save while
 * its poll is 10 s long, so only the push can have woken it; and a lost
 * notification (PostgreSQL's listening connection killed, the save made
 * without a notification) still lets a waiting client finish, by polling,
 * after which the driver's new listening connection pushes again.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { join } from "@std/path";
import { Wakeup } from "../core/_client/wakeup.ts";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import {
  openStoreSpec,
  type StoreSpec,
  target,
} from "./fixtures/store_specs.ts";
import { postgresAdmin } from "./fixtures/sql_server.ts";
import { TcpProxy } from "./fixtures/tcp_proxy.ts";
import { PostgresTokenStore } from "../stores/postgres.ts";

/** The most a pushed wake-up may take after the save resolved (the target is 10 ms). */
const LIMIT_MS = 100;
/** The waiter's poll: far longer than any push. */
const POLL_MS = 10_000;
const SAVER = new URL("./fixtures/push_saver.ts", import.meta.url);

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** The `push_saver.ts` process. */
class Saver {
  #child: Deno.ChildProcess;
  #lines: ReadableStreamDefaultReader<string>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buffer = "";

  constructor(spec: StoreSpec, id: string) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SAVER.pathname, JSON.stringify(spec), id],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    this.#writer = this.#child.stdin.getWriter();
  }

  async next<T>(): Promise<T> {
    for (;;) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        return JSON.parse(line);
      }
      const { value, done } = await this.#lines.read();
      if (done) throw new Error("The saver ended early");
      this.#buffer += value;
    }
  }

  /** Saves once; resolves when the save resolved there (epoch ms). */
  async save(n: number): Promise<number> {
    await this.#writer.write(new TextEncoder().encode(`save ${n}\n`));
    return (await this.next<{ savedAt: number }>()).savedAt;
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#lines.cancel().catch(() => {});
    await this.#child.status;
  }
}

/** A fresh store of `kind` with one token; disposed with its saver process. */
async function fixture(kind: StoreSpec["kind"]) {
  const t = target(kind);
  const dir = await Deno.makeTempDir({ prefix: "tokenstore_push_" });
  const spec = t.spec(dir, `push_${crypto.randomUUID().slice(0, 8)}`)!;
  const store = await openStoreSpec(spec);
  const saved = await store.saveToken(
    new OAuthToken({
      userName: "push@example.com",
      clientId: "1000.push",
      clientSecret: "push-secret",
      refreshToken: "1000.push.r",
      accessToken: "1000.push.old",
      expiresAt: Date.now() - 60_000,
    }),
  );
  const saver = new Saver(spec, saved.id!);
  await saver.next();
  return {
    spec,
    store,
    id: saved.id!,
    saver,
    async [Symbol.asyncDispose]() {
      await saver.close();
      await store.close?.();
      await t.cleanup?.(spec);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Wake-up latencies (ms after the saver's save resolved) of `rounds` saves. */
async function latencies(
  wakeup: Wakeup,
  id: string,
  saver: Saver,
  rounds: number,
): Promise<number[]> {
  const measured: number[] = [];
  for (let n = 0; n < rounds; n++) {
    const woke = wakeup.wait(id, POLL_MS).then(() => Date.now());
    // the first wait opens the listening connection or the watch
    await sleep(n === 0 ? 500 : 30);
    const savedAt = await saver.save(n);
    measured.push(await woke - savedAt);
    if (measured[n] > LIMIT_MS) break; // woken by the poll: no push
  }
  return measured;
}

const PUSHED: { kind: StoreSpec["kind"]; how: string }[] = [
  { kind: "postgres", how: "LISTEN/NOTIFY" },
  { kind: "file", how: "a file watch" },
  { kind: "libsql", how: "its files' stat, looked at every 4 ms" },
  { kind: "redis", how: "pub/sub" },
];

for (const { kind, how } of PUSHED) {
  const t = target(kind);
  Deno.test({
    name:
      `${t.name}: a waiter wakes within ${LIMIT_MS} ms of another process's save by ${how}, with a ${POLL_MS} ms poll`,
    ignore: !t.available,
    async fn() {
      await using f = await fixture(kind);
      const measured = await latencies(new Wakeup(f.store), f.id, f.saver, 8);
      console.log(
        `[push] ${t.name}: woken ${
          measured.map((ms) => `${ms}`).join(", ")
        } ms after the save resolved`,
      );
      assert(
        Math.max(...measured) <= LIMIT_MS,
        `woken ${Math.max(...measured)} ms after a save`,
      );
    },
  });
}

Deno.test({
  name:
    "PostgreSQL: with the listening connection killed and a save not notified, a waiting client finishes by polling, and push works again after",
  ignore: !target("postgres").available,
  async fn() {
    await using f = await fixture("postgres");
    const spec = f.spec as Extract<StoreSpec, { kind: "postgres" }>;
    let requests = 0;
    const client = new TokenClient({
      store: f.store,
      clientId: "1000.push",
      clientSecret: "push-secret",
      tokenUrl: "http://127.0.0.1:9/oauth/v2/token",
      pollIntervalMs: 200,
      fetch: () => {
        requests++;
        return Promise.reject(new TypeError("No token request expected"));
      },
    });
    const lease = await f.store.lock!.acquire(`refresh:${f.id}`, {
      ttlMs: 20_000,
    });
    assert(lease !== null);
    const admin = postgresAdmin(spec.url);
    try {
      const got = client.getAccessToken({ userName: "push@example.com" });
      await sleep(300); // the client waits for the lease, listening
      const killed = await admin.unsafe(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity " +
          "WHERE query ILIKE 'listen %' AND pid <> pg_backend_pid()",
      );
      assert(killed.length >= 1, "no listening connection to kill");
      // the driver listens again (waking its waiters once), then a save
      // whose notification is lost: no NOTIFY at all
      await sleep(300);
      await admin.unsafe(
        `UPDATE "${spec.table}" SET access_token = $1, expiry_time = $2 WHERE id = $3`,
        ["1000.push.fresh", String(Date.now() + 3_600_000), f.id],
      );
      await lease.release();
      const deadline = sleep(5_000).then(() => "no answer in 5 s");
      assertEquals(await Promise.race([got, deadline]), "1000.push.fresh");
      assertEquals(requests, 0);
      // the driver listens again: a pushed save wakes a long-polling waiter
      await sleep(300);
      const measured = await latencies(new Wakeup(f.store), f.id, f.saver, 3);
      assert(
        Math.max(...measured) <= LIMIT_MS,
        `woken ${Math.max(...measured)} ms after a save once listening again`,
      );
    } finally {
      await client.flush();
      await admin.end();
    }
  },
});

Deno.test("the file store's watch ends on close and opens again on the next wait", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tokenstore_push_" });
  try {
    const { FileTokenStore } = await import("../stores/file.ts");
    const store = new FileTokenStore({ path: join(dir, "tokens.json") });
    const saved = await store.saveToken(
      new OAuthToken({ refreshToken: "1000.r" }),
    );
    for (let round = 0; round < 2; round++) {
      const changed = store.watchToken(saved.id!, {
        signal: AbortSignal.timeout(5_000),
      });
      await sleep(50);
      await store.saveToken(saved.with({ accessToken: `1000.a${round}` }));
      const started = Date.now();
      await changed;
      assert(Date.now() - started < 1_000);
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "PostgreSQL: after an outage of the server (every connection cut, new ones refused for 1.5 s) the store listens again and pushes",
  ignore: !target("postgres").available,
  async fn() {
    await using f = await fixture("postgres");
    const spec = f.spec as Extract<StoreSpec, { kind: "postgres" }>;
    const url = new URL(spec.url);
    const proxy = new TcpProxy(Number(url.port || 5432));
    proxy.start();
    url.port = String(proxy.port);
    const store = await PostgresTokenStore.open({
      url: url.href,
      table: spec.table,
    });
    try {
      const wakeup = new Wakeup(store);
      const before = await latencies(wakeup, f.id, f.saver, 2);
      assert(Math.max(...before) <= LIMIT_MS, `woken ${before} ms`);
      await proxy.stop();
      await sleep(1_500);
      proxy.start();
      // a waiter after the outage is woken by push again within 5 s
      let woken = Infinity;
      const until = Date.now() + 5_000;
      for (let n = 0; woken > LIMIT_MS && Date.now() < until; n++) {
        const ended = wakeup.wait(f.id, 300).then(() => Date.now());
        await sleep(50);
        const savedAt = await f.saver.save(100 + n);
        woken = await ended - savedAt;
      }
      assert(woken <= LIMIT_MS, "no pushed wake-up in 5 s after the outage");
    } finally {
      await store.close();
      await proxy.stop();
    }
  },
});
