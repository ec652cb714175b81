/**
 * One process of `bench/stampede.ts`. Reads JSON commands on stdin, one per
 * line, and answers each with one JSON line on stdout:
 *
 * - `{"open": StoreSpec, "query": TokenQuery}` opens that shared store (closing
 *   the previous one) → `{"ready": true}`;
 * - `{"round": n, "callers": c}` fires `c` concurrent `getAccessToken` calls
 *   → `{"round", "latenciesMs", "tokenHashes", "errors"}`, where
 *   `tokenHashes` holds the SHA-256 of each distinct access token received
 *   (never the token itself).
 *
 * Usage: `deno run -A bench/_stampede_worker.ts '<WorkerOptions JSON>'`.
 *
 * @module
 */

import { TokenClient } from "../core/token_client.ts";
import type { TokenQuery, TokenStore } from "../core/token_store.ts";
import {
  openStoreSpec,
  type StoreSpec,
  tokenHash,
} from "../tests/fixtures/stampede_worker.ts";

/** What a worker is given on its command line. */
export interface WorkerOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** `TokenClient`'s `pollIntervalMs`; its default when absent. */
  pollIntervalMs?: number;
  /** `TokenClient`'s `leaseTtlMs`; its default when absent. */
  leaseTtlMs?: number;
}

/** A command read from stdin. */
export type Command =
  | { open: StoreSpec; query: TokenQuery }
  | {
    round: number;
    callers: number;
    /** Added to the client's clock: moving it on expires the token. */
    clockOffsetMs: number;
    /** Real time (epoch ms) every worker fires its callers at. */
    startAt: number;
  };

/** The answer to a round. */
export interface RoundResult {
  round: number;
  /** Every call's latency, ms. */
  latenciesMs: number[];
  /** SHA-256 (hex) of each distinct access token the callers got. */
  tokenHashes: string[];
  /** Messages of failed calls. */
  errors: string[];
}

async function main(options: WorkerOptions): Promise<void> {
  let store: TokenStore | undefined;
  let client: TokenClient | undefined;
  let query: TokenQuery = {};
  let clockOffsetMs = 0;
  const encoder = new TextEncoder();
  const print = (value: unknown) =>
    Deno.stdout.write(encoder.encode(`${JSON.stringify(value)}\n`));

  const run = async (command: Command) => {
    if ("open" in command) {
      await store?.close?.();
      store = await openStoreSpec(command.open);
      query = command.query;
      client = new TokenClient({
        store,
        clientId: options.clientId,
        clientSecret: options.clientSecret,
        tokenUrl: options.tokenUrl,
        now: () => Date.now() + clockOffsetMs,
        pollIntervalMs: options.pollIntervalMs,
        leaseTtlMs: options.leaseTtlMs,
      });
      await print({ ready: true });
      return;
    }
    const latenciesMs: number[] = [];
    const tokens = new Set<string>();
    const errors: string[] = [];
    clockOffsetMs = command.clockOffsetMs;
    // every process fires at the same instant; latency counts from it
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, command.startAt - Date.now()))
    );
    const started = performance.now() -
      Math.max(0, Date.now() - command.startAt);
    await Promise.all(
      Array.from({ length: command.callers }, async () => {
        try {
          tokens.add(await client!.getAccessToken(query));
        } catch (error) {
          errors.push(String(error));
        }
        latenciesMs.push(performance.now() - started);
      }),
    );
    const result: RoundResult = {
      round: command.round,
      latenciesMs: latenciesMs.map((ms) => Math.round(ms * 100) / 100),
      tokenHashes: await Promise.all([...tokens].map(tokenHash)),
      errors,
    };
    await print(result);
  };

  let buffered = "";
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  for await (const chunk of lines) {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      await run(JSON.parse(line));
    }
  }
  await store?.close?.();
}

if (import.meta.main) {
  await main(JSON.parse(Deno.args[0]));
}
