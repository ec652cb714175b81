/**
 * The refresh pipeline's seams (core/_client/): every exchange and refresh
 * ends in exactly one outcome reported to the observers, with the notes on
 * the way (rate-limited attempts, saves that gave up, waits for another
 * holder's lease); the coordinator alone holds the refresh lease, through a
 * save retried in the background; the client's listeners are typed by event
 * name. Real memory stores and their leases; the token endpoint is an
 * injected `fetch` answering as Zoho and RFC 6749 servers do.
 */

import { assert, assertEquals, assertExists, assertRejects } from "@std/assert";
import type { PipelineReport } from "../core/_client/observer.ts";
import { resolveClientOptions } from "../core/_client/options.ts";
import { createPipeline } from "../core/_client/pipeline.ts";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { TokenClient, type TokenClientOptions } from "../core/token_client.ts";
import { MemoryTokenStore } from "../stores/memory.ts";

const USER = "ada@example.com";
const REFRESH = "1000.refresh-secret-0123456789";

type Answer = () => Response | Promise<Response>;

/** A pipeline on `store` whose token endpoint answers with `answer`. */
function pipelineOn(
  store: MemoryTokenStore,
  answer: Answer,
  options: Partial<TokenClientOptions> = {},
) {
  const reports: PipelineReport[] = [];
  let requests = 0;
  const fetch = async () => {
    requests++;
    return await answer();
  };
  const pipeline = createPipeline(
    resolveClientOptions({
      store,
      clientId: "1000.C",
      clientSecret: "client-secret",
      tokenUrl: "https://accounts.example.com/oauth/v2/token",
      fetch,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 5 },
      ...options,
    }),
    [{ observe: (report) => reports.push(report) }],
  );
  return { pipeline, reports, requests: () => requests };
}

async function seed(store: MemoryTokenStore): Promise<string> {
  const saved = await store.saveToken(
    new OAuthToken({ userName: USER, refreshToken: REFRESH }),
  );
  return saved.id!;
}

const granted = (init: Record<string, unknown> = {}) => () =>
  Response.json({ access_token: "1000.access", expires_in: 3600, ...init });

Deno.test("observer: each refresh ends in exactly one report, with its outcome", async (t) => {
  const cases: {
    name: string;
    answer: Answer;
    options?: Partial<TokenClientOptions>;
    outcome: string;
    rotated?: boolean;
    before?: string[];
  }[] = [
    {
      name: "ok, rotated",
      answer: granted({ refresh_token: "1000.rotated" }),
      outcome: "ok",
      rotated: true,
    },
    { name: "ok", answer: granted(), outcome: "ok", rotated: false },
    {
      name: "revoked: the stored refresh token is refused",
      answer: () => Response.json({ error: "invalid_code" }),
      outcome: "revoked",
    },
    {
      name: "rate-limited: Zoho's Access Denied with HTTP 200",
      answer: () =>
        Response.json({
          error: "Access Denied",
          error_description:
            "You have made too many requests continuously. Please try again after some time.",
        }),
      outcome: "rate_limited",
      before: ["ratelimited"],
    },
    {
      name: "unknown: connection lost after sending to a rotating server",
      answer: () => Promise.reject(new TypeError("connection reset by peer")),
      options: { rotation: true },
      outcome: "unknown",
    },
    {
      name: "failed: a 500",
      answer: () => new Response("down", { status: 500 }),
      outcome: "failed",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const store = new MemoryTokenStore();
      const id = await seed(store);
      const { pipeline, reports } = pipelineOn(store, c.answer, c.options);
      const run = pipeline.coordinator.run(id, "expiring");
      if (c.outcome === "ok") await run;
      else await assertRejects(() => run);
      assertEquals(reports.map((r) => r.type), [...c.before ?? [], "refresh"]);
      const ended = reports.at(-1)!;
      assert(ended.type === "refresh");
      assertEquals(ended.id, id);
      assertEquals(ended.outcome, c.outcome);
      if (c.rotated !== undefined) assertEquals(ended.rotated, c.rotated);
      assertEquals(ended.error === undefined, c.outcome === "ok");
      assert(ended.durationMs >= 0);
      assert(!JSON.stringify(reports).includes(REFRESH));
    });
  }
});

Deno.test("observer: a grant exchange reports once, ok or failed", async () => {
  const store = new MemoryTokenStore();
  const ok = pipelineOn(store, granted({ refresh_token: "1000.r" }));
  const { token } = await ok.pipeline.work.exchangeCode("1000.grant", {
    userName: USER,
  });
  assertEquals(ok.reports, [{
    type: "exchange",
    id: token.id,
    outcome: "ok",
    rotated: false,
    durationMs: (ok.reports[0] as { durationMs: number }).durationMs,
    error: undefined,
  }]);
  const used = pipelineOn(
    store,
    () => Response.json({ error: "invalid_code" }),
  );
  await assertRejects(() =>
    used.pipeline.work.exchangeCode("1000.used", { userName: USER })
  );
  assertEquals(used.reports.length, 1);
  const [failed] = used.reports;
  assert(failed.type === "exchange");
  assertEquals([failed.id, failed.outcome], [undefined, "failed"]);
});

Deno.test("observer: a save refused as invalid reports persistfailed, and the refresh still ends ok", async () => {
  const store = new MemoryTokenStore();
  const id = await seed(store);
  store.saveToken = () =>
    Promise.reject(
      new TokenStoreError("INVALID_TOKEN", "Cannot save: too long"),
    );
  const { pipeline, reports } = pipelineOn(store, granted());
  const token = await pipeline.coordinator.run(id, "expiring");
  assertEquals(token.accessToken, "1000.access");
  assertEquals(reports.map((r) => r.type), ["persistfailed", "refresh"]);
  assertEquals((reports[1] as { outcome: string }).outcome, "ok");
});

Deno.test("observer: a caller that waits for another holder's lease reports how long", async () => {
  const store = new MemoryTokenStore();
  const id = await seed(store);
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const slow = async () => {
    await held;
    return granted()();
  };
  const holder = pipelineOn(store, slow);
  const waiter = pipelineOn(store, slow, { pollIntervalMs: 20 });
  const first = holder.pipeline.coordinator.run(id, "expiring");
  await new Promise((resolve) => setTimeout(resolve, 20));
  const second = waiter.pipeline.coordinator.run(id, "expiring");
  await new Promise((resolve) => setTimeout(resolve, 150));
  release();
  const [a, b] = await Promise.all([first, second]);
  assertEquals(a.accessToken, b.accessToken);
  assertEquals(holder.requests() + waiter.requests(), 1);
  assertEquals(holder.reports.map((r) => r.type), ["refresh"]);
  assertEquals(waiter.reports.map((r) => r.type), ["leasewaited"]);
  const waited = waiter.reports[0];
  assert(waited.type === "leasewaited");
  assertEquals(waited.id, id);
  assert(waited.waitedMs >= 100, `waited ${waited.waitedMs} ms`);
});

Deno.test("the coordinator holds the refresh lease until a save retried in the background lands, then releases it", async () => {
  const store = new MemoryTokenStore();
  const id = await seed(store);
  const save = store.saveToken.bind(store);
  let down = true;
  let landed = false;
  store.saveToken = async (token) => {
    if (down) throw new TokenStoreError("BACKEND", "Cannot save: store down");
    landed = true;
    return await save(token);
  };
  const { pipeline } = pipelineOn(store, granted(), {
    retry: { maxAttempts: 1, baseDelayMs: 40, maxDelayMs: 40 },
    leaseTtlMs: 60,
    requestTimeoutMs: 50,
  });
  const token = await pipeline.coordinator.run(id, "expiring");
  assertEquals(token.accessToken, "1000.access");
  assert(!landed);
  // held (and renewed past its 60 ms time to live) while the save is retried
  await new Promise((resolve) => setTimeout(resolve, 200));
  assertEquals(await store.lock.acquire(`refresh:${id}`, { ttlMs: 1 }), null);
  assert(!landed);
  down = false;
  await pipeline.coordinator.settled();
  assert(landed);
  const lease = await store.lock.acquire(`refresh:${id}`, { ttlMs: 1_000 });
  assertExists(lease);
  await lease.release();
  assertEquals((await store.findTokenById(id))?.accessToken, "1000.access");
});

Deno.test("TokenClient listeners are typed by event name: detail needs no cast", async () => {
  const store = new MemoryTokenStore();
  await seed(store);
  const client = new TokenClient({
    store,
    clientId: "1000.C",
    clientSecret: "client-secret",
    tokenUrl: "https://accounts.example.com/oauth/v2/token",
    fetch: () => Promise.resolve(Response.json({ error: "invalid_code" })),
  });
  const seen: string[] = [];
  const onRevoked = (event: CustomEvent<{ id: string }>) =>
    seen.push(`revoked ${event.detail.id.length}`);
  client.addEventListener("revoked", onRevoked);
  client.addEventListener("refresherror", (event) => {
    seen.push(`refresherror ${(event.detail.error as Error).name}`);
  });
  client.addEventListener("refresh", {
    handleEvent: (event) => seen.push(`refresh ${event.detail.durationMs}`),
  });
  await assertRejects(() => client.refresh({ userName: USER }));
  client.removeEventListener("revoked", onRevoked);
  await assertRejects(() => client.refresh({ userName: USER }));
  assertEquals(seen, [
    "revoked 10",
    "refresherror TokenRevokedError",
    "refresherror TokenRevokedError",
  ]);
});
