/**
 * Memory of the client's cache: 50,000 distinct users looked up through a
 * client with `cache: { maxEntries: 1000 }` against one with `cache: false`
 * (the baseline), each in its own process over a memory store seeded with
 * the same tokens. Prints the heap each client grew by (after a full GC)
 * and fails when the cached client grew more than twice the baseline.
 *
 * Run: `deno run -A bench/cache_memory.ts [--users 50000]`
 *
 * @module
 */

import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import { MemoryTokenStore } from "../stores/memory.ts";

const USERS = Number(
  Deno.args.find((a) => a.startsWith("--users="))?.slice(8) ?? 50_000,
);
const LIMIT = 2;

interface Measured {
  label: string;
  growthBytes: number;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** In a child process: seed, look every user up, report the heap growth. */
async function measure(cache: false | { maxEntries: number }): Promise<number> {
  const store = new MemoryTokenStore();
  const expiresAt = Date.now() + 3_600_000;
  for (let i = 0; i < USERS; i++) {
    await store.saveToken(
      new OAuthToken({
        userName: `user${i}@example.com`,
        refreshToken: `1000.${i.toString(16).padStart(64, "r")}`,
        accessToken: `1000.${i.toString(16).padStart(64, "a")}`,
        expiresAt,
      }),
    );
  }
  gc();
  const before = Deno.memoryUsage().heapUsed;
  const client = new TokenClient({
    store,
    clientId: "1000.C",
    clientSecret: "s",
    tokenUrl: "http://127.0.0.1:9/oauth/v2/token", // never asked
    cache,
  });
  for (let i = 0; i < USERS; i++) {
    await client.getAccessToken({ userName: `user${i}@example.com` });
  }
  gc();
  const after = Deno.memoryUsage().heapUsed;
  if (client.tokenUrl === "") throw new Error("unreachable"); // keep it alive
  return after - before;
}

async function child(label: string, cache: string): Promise<Measured> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      `--users=${USERS}`,
      `--child=${cache}`,
    ],
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`The ${label} run failed`);
  return {
    label,
    growthBytes: Number(new TextDecoder().decode(output.stdout).trim()),
  };
}

const childArg = Deno.args.find((a) => a.startsWith("--child="))?.slice(8);
if (childArg !== undefined) {
  const cache = childArg === "false" ? false : { maxEntries: Number(childArg) };
  console.log(await measure(cache));
} else {
  const baseline = await child("cache: false", "false");
  const cached = await child("cache: { maxEntries: 1000 }", "1000");
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(2);
  const ratio = cached.growthBytes / Math.max(1, baseline.growthBytes);
  console.log(`Cache memory: ${USERS} distinct users through one client`);
  console.log("| client | heap growth MiB | ÷ baseline |");
  console.log("| --- | ---: | ---: |");
  console.log(
    `| ${baseline.label} (baseline) | ${mib(baseline.growthBytes)} | 1.00× |`,
  );
  console.log(
    `| ${cached.label} | ${mib(cached.growthBytes)} | ${ratio.toFixed(2)}× |`,
  );
  if (ratio > LIMIT) {
    console.log(`Cache memory FAILED: ${ratio.toFixed(2)}× > ${LIMIT}×`);
    Deno.exit(1);
  }
  console.log(`Cache memory: ${ratio.toFixed(2)}× ≤ ${LIMIT}×`);
}
