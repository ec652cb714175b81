/**
 * `deleteTokens` of the Deno KV token store (private): every token with its
 * index entries, counters, parts and status in atomic batches within Deno
 * KV's limits, then a sweep of every status left and of what no token owns
 * (left by nothing but corruption or a crash of another writer version).
 *
 * @module
 */

import {
  keyBytes,
  type NaturalKey,
  naturalKeyId,
  naturalKeys,
} from "./keys.ts";
import {
  counter,
  deleteOnce,
  getMany,
  holderExists,
  type KvContext,
  RETRY,
  type Retry,
} from "./transactions.ts";
import type { KvRunner } from "./runner.ts";
import { spilledFields } from "./spill.ts";
import type { KvCheck, KvEntry, KvKey } from "./kv_like.ts";

/** What one atomic operation may hold (Deno KV's limits, with margin). */
const BUDGET = {
  checks: 100,
  mutations: 500,
  keyBytes: 60 * 1024,
};

/** Groups operations into atomic batches that stay within {@linkcode BUDGET}. */
class Batcher {
  #checks = 0;
  #mutations = 0;
  #bytes = 0;

  /** Whether a group of this size still fits; counts it when it does. */
  fits(checks: number, mutations: number, bytes: number): boolean {
    if (
      this.#checks + checks > BUDGET.checks ||
      this.#mutations + mutations > BUDGET.mutations ||
      this.#bytes + bytes > BUDGET.keyBytes
    ) {
      if (this.#checks + this.#mutations === 0) return true;
      return false;
    }
    this.#checks += checks;
    this.#mutations += mutations;
    this.#bytes += bytes;
    return true;
  }

  reset(): void {
    this.#checks = this.#mutations = this.#bytes = 0;
  }
}

/**
 * Deletes a batch of token entries (as listed) in one atomic operation, with
 * their index entries and counters. Resolves the ids that could not be
 * deleted because they changed meanwhile.
 */
async function deleteListed(
  context: KvContext,
  entries: KvEntry<unknown>[],
): Promise<string[]> {
  const { kv, keys } = context;
  const owned = entries.map((e) => naturalKeys(e.value));
  const counts = new Map<string, { key: NaturalKey; n: number }>();
  for (const key of owned.flat()) {
    const id = naturalKeyId(key);
    const seen = counts.get(id);
    if (seen) seen.n++;
    else counts.set(id, { key, n: 1 });
  }
  const slots = [...counts.values()];
  const reads = await getMany(kv, slots.map((s) => keys.uniq(s.key)), "strong");
  const op = kv.atomic();
  entries.forEach((entry, i) => {
    const id = entry.key[entry.key.length - 1] as string;
    op.check(entry).delete(entry.key).delete(keys.status(id));
    for (const key of owned[i]) op.delete(keys.index(key, id));
    for (const field of spilledFields(id, entry.value, false)) {
      op.delete(keys.part(id, field));
    }
  });
  slots.forEach((slot, i) => {
    const count = counter(reads[i]) - slot.n;
    op.check(reads[i]);
    if (count > 0) op.set(reads[i].key, count);
    else if (reads[i].versionstamp !== null) op.delete(reads[i].key);
  });
  if ((await op.commit()).ok) return [];
  return entries.map((entry) => entry.key[entry.key.length - 1] as string);
}

/**
 * Phase one of `deleteTokens`: every listed token with its index entries and
 * counters, in atomic batches. Resolves ids to delete one by one (changed
 * while listed).
 */
export async function deleteAllTokens(context: KvContext): Promise<string[]> {
  const { kv, keys } = context;
  const batcher = new Batcher();
  const left: string[] = [];
  let batch: KvEntry<unknown>[] = [];
  // Per token: its key, its status, 4 index entries, 4 counters and 3 parts
  // at most.
  const perToken = keys.prefixBytes + 200;
  const [checks, mutations] = [5, 13];
  for await (
    const entry of kv.list({ prefix: keys.tokens() }, { batchSize: 500 })
  ) {
    if (!batcher.fits(checks, mutations, perToken * mutations)) {
      left.push(...await deleteListed(context, batch));
      batch = [];
      batcher.reset();
      batcher.fits(checks, mutations, perToken * mutations);
    }
    batch.push(entry);
  }
  if (batch.length > 0) left.push(...await deleteListed(context, batch));
  return left;
}

/**
 * Phase two of `deleteTokens`: index entries whose token is gone and
 * counters of natural keys no token has (left by nothing but corruption or
 * a crash of another writer version), deleted with checks so that tokens
 * saved meanwhile keep theirs. Leases are kept.
 */
export async function sweepOrphans(
  context: KvContext,
): Promise<void | Retry> {
  const { kv, keys } = context;
  const batcher = new Batcher();
  let op = kv.atomic();
  let pending = 0;
  const flush = async () => {
    if (pending > 0) await op.commit();
    op = kv.atomic();
    pending = 0;
    batcher.reset();
  };
  const add = async (checks: KvCheck[], key: KvKey) => {
    const bytes = checks.reduce((n, c) => n + keyBytes(c.key), keyBytes(key));
    if (!batcher.fits(checks.length, 1, bytes)) {
      await flush();
      batcher.fits(checks.length, 1, bytes);
    }
    for (const check of checks) op.check(check);
    op.delete(key);
    pending++;
  };
  for await (
    const entry of kv.list({ prefix: keys.prefix }, { batchSize: 500 })
  ) {
    const space = keys.space(entry.key);
    if (space === "token" || space === "lock" || space === "status") continue;
    if (space === "part") {
      // a part its token does not list, or was not written with it
      const [id, field] = entry.key.slice(keys.prefix.length + 1);
      const token = await kv.get(keys.token(String(id)));
      const listed = spilledFields(String(id), token.value, false)
        .includes(String(field));
      if (!listed || token.versionstamp !== entry.versionstamp) {
        await add([token, entry], entry.key);
      }
      continue;
    }
    const parsed = keys.parseNatural(entry.key);
    if (parsed?.id !== undefined) {
      const token = await kv.get(keys.token(parsed.id));
      if (token.versionstamp === null) await add([token, entry], entry.key);
    } else if (parsed) {
      const held = await holderExists(context, parsed.key);
      if (held === RETRY) return RETRY;
      if (!held) await add([entry], entry.key);
    }
  }
  await flush();
}

/**
 * Phase three of `deleteTokens`: every status left (of a token deleted one
 * by one, or written while the tokens were deleted), in atomic batches
 * without checks, so that a status written meanwhile cannot keep the others.
 */
export async function deleteAllStatuses(context: KvContext): Promise<void> {
  const { kv, keys } = context;
  const batcher = new Batcher();
  let op = kv.atomic();
  let pending = 0;
  for await (
    const { key } of kv.list({ prefix: keys.statuses() }, { batchSize: 500 })
  ) {
    if (!batcher.fits(0, 1, keyBytes(key))) {
      await op.commit();
      op = kv.atomic();
      pending = 0;
      batcher.reset();
      batcher.fits(0, 1, keyBytes(key));
    }
    op.delete(key);
    pending++;
  }
  if (pending > 0) await op.commit();
}

/**
 * Every token, index entry and status under the prefix deleted, in atomic
 * batches: the tokens {@linkcode deleteAllTokens} found changed are deleted
 * one by one, then {@linkcode sweepOrphans} and
 * {@linkcode deleteAllStatuses} run. Each step is retried on conflict.
 */
export async function deleteTokens(
  context: KvContext,
  runner: KvRunner,
): Promise<void> {
  const changed = await runner.retry(
    "delete tokens",
    () => deleteAllTokens(context),
  );
  for (const id of changed) {
    await runner.retry("delete token", () => deleteOnce(context, id));
  }
  await runner.retry("delete tokens", () => sweepOrphans(context));
  await runner.retry("delete tokens", () => deleteAllStatuses(context));
}
