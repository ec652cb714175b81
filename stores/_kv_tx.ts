/**
 * The reads and atomic writes of the Deno KV token store (private). Every
 * function here makes one attempt and resolves {@linkcode RETRY} when a
 * versionstamp check failed; the store retries a bounded number of times.
 *
 * Invariants every write keeps, in the same atomic operation as the token:
 * - a token's index entries are exactly its natural keys;
 * - the `uniq` counter of a natural key is the number of tokens having it.
 *
 * @module
 */

import { newTokenId } from "../core/id.ts";
import type { OAuthToken } from "../core/token.ts";
import { matchesPlan, type QueryPlan } from "../core/token_store.ts";
import {
  decodeToken,
  keyBytes,
  type KvKeys,
  type NaturalKey,
  naturalKeyId,
  naturalKeys,
} from "./_kv_keys.ts";

/** A failed check: read again and retry. */
export const RETRY: unique symbol = Symbol("retry");
/** What an attempt resolves when it has to be retried. */
export type Retry = typeof RETRY;

/**
 * Whether an error is SQLite's "database is locked": another process holds
 * the write lock of a local database file. Nothing was written; worth
 * retrying.
 */
export function isBusy(error: unknown): boolean {
  return error instanceof Error &&
    /database (table )?is locked|SQLITE_BUSY/i.test(error.message);
}

/** What the transactions need. */
export interface KvContext {
  readonly kv: Deno.Kv;
  readonly keys: KvKeys;
}

/** A stored token with the entry it was read from. */
export interface Found {
  readonly token: OAuthToken;
  readonly entry: Deno.KvEntry<unknown>;
}

const GET_MANY_LIMIT = 10;

/** `kv.getMany` without its limit of 10 keys per call. */
export async function getMany(
  kv: Deno.Kv,
  keys: readonly Deno.KvKey[],
  consistency: Deno.KvConsistencyLevel,
): Promise<Deno.KvEntryMaybe<unknown>[]> {
  const chunks: Promise<Deno.KvEntryMaybe<unknown>[]>[] = [];
  for (let i = 0; i < keys.length; i += GET_MANY_LIMIT) {
    chunks.push(
      kv.getMany(keys.slice(i, i + GET_MANY_LIMIT), { consistency }),
    );
  }
  return (await Promise.all(chunks)).flat();
}

/** The token with this id, or `null`. */
export async function findById(
  { kv, keys }: KvContext,
  id: string,
  consistency: Deno.KvConsistencyLevel,
): Promise<Found | null> {
  const entry = await kv.get(keys.token(id), { consistency });
  if (entry.versionstamp === null) return null;
  return { token: decodeToken(id, entry.value), entry };
}

/**
 * The first token (in key order) listed under an index range whose stored
 * record passes `accept`. Index entries are only hints: every candidate is
 * loaded and checked.
 */
async function firstListed(
  { kv, keys }: KvContext,
  range: Deno.KvKey,
  consistency: Deno.KvConsistencyLevel,
  accept: (token: OAuthToken) => boolean | Promise<boolean>,
): Promise<Found | null> {
  let ids: string[] = [];
  const check = async (): Promise<Found | null> => {
    const entries = await getMany(
      kv,
      ids.map((id) => keys.token(id)),
      consistency,
    );
    for (let i = 0; i < ids.length; i++) {
      const entry = entries[i];
      if (entry.versionstamp === null) continue;
      const token = decodeToken(ids[i], entry.value);
      if (await accept(token)) return { token, entry };
    }
    return null;
  };
  const listed = kv.list({ prefix: range }, {
    consistency,
    batchSize: GET_MANY_LIMIT,
  });
  for await (const { key } of listed) {
    const id = key[key.length - 1];
    if (typeof id === "string") ids.push(id);
    if (ids.length === GET_MANY_LIMIT) {
      const found = await check();
      if (found) return found;
      ids = [];
    }
  }
  return ids.length > 0 ? await check() : null;
}

/** The token a plan matches (the first in index order), or `null`. */
export async function findByPlan(
  context: KvContext,
  plan: QueryPlan,
  scope: { kind: NaturalKey["kind"]; group: readonly string[] } | null,
  consistency: Deno.KvConsistencyLevel,
): Promise<Found | null> {
  if (plan.rule === "id" || scope === null) {
    return await findById(context, plan.conditions[0][1], consistency);
  }
  return await firstListed(
    context,
    context.keys.indexRange(scope.kind, scope.group),
    consistency,
    (token) => matchesPlan(token, plan),
  );
}

/** Whether some token has this natural key (checked on the token itself). */
async function holderExists(
  context: KvContext,
  key: NaturalKey,
): Promise<boolean> {
  const id = naturalKeyId(key);
  const found = await firstListed(
    context,
    context.keys.indexRange(key.kind, key.group),
    "strong",
    async (token) =>
      (await naturalKeys(token.toRecord())).some((k) => naturalKeyId(k) === id),
  );
  return found !== null;
}

function counter(entry: Deno.KvEntryMaybe<unknown>): number {
  const value = entry.value;
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0
    ? value
    : 0;
}

function minus(a: NaturalKey[], b: NaturalKey[]): NaturalKey[] {
  const ids = new Set(b.map(naturalKeyId));
  return a.filter((key) => !ids.has(naturalKeyId(key)));
}

/**
 * One attempt of `saveToken`.
 *
 * @param token A validated token.
 * @param plan `planSave(token)`.
 * @param scope The plan's index scope (`null` for `id` plans and inserts).
 */
export async function saveOnce(
  context: KvContext,
  token: OAuthToken,
  plan: QueryPlan | null,
  scope:
    | { kind: NaturalKey["kind"]; group: readonly string[]; own: NaturalKey }
    | null,
): Promise<OAuthToken | Retry> {
  const { kv, keys } = context;
  const existing = token.id !== undefined
    ? await findById(context, token.id, "strong")
    : plan
    ? await findByPlan(context, plan, scope, "strong")
    : null;
  const id = existing?.token.id ?? token.id ?? newTokenId();
  const stored = token.id === id ? token : token.with({ id });
  const [before, after] = await Promise.all([
    existing ? naturalKeys(existing.entry.value) : [],
    naturalKeys(stored.toRecord()),
  ]);
  const removed = minus(before, after);
  const added = minus(after, before);
  const touched = [...removed, ...added];
  const reads = await getMany(kv, [
    ...touched.map((key) => keys.uniq(key)),
    ...touched.map((key) => keys.index(key, id)),
  ], "strong");

  const op = kv.atomic()
    .check({
      key: keys.token(id),
      versionstamp: existing?.entry.versionstamp ?? null,
    })
    .set(keys.token(id), stored.toRecord());
  // Saved without an id, the token must be the only one with the plan's own
  // natural key: when it gains that key, its counter must be zero.
  const ownId = token.id === undefined && scope ? naturalKeyId(scope.own) : "";
  for (let i = 0; i < touched.length; i++) {
    const key = touched[i];
    const uniq = reads[i];
    const index = reads[touched.length + i];
    op.check(uniq).check(index);
    const count = counter(uniq);
    if (i < removed.length) {
      op.delete(keys.index(key, id));
      if (count > 1) op.set(keys.uniq(key), count - 1);
      else if (uniq.versionstamp !== null) op.delete(keys.uniq(key));
      continue;
    }
    op.set(keys.index(key, id), true);
    let next = count + 1;
    if (count > 0 && naturalKeyId(key) === ownId) {
      // Read after the lookup: a holder now means the lookup missed a token
      // written meanwhile. No holder means the counter is stale: repair it.
      if (await holderExists(context, key)) return RETRY;
      next = 1;
    }
    op.set(keys.uniq(key), next);
  }
  const result = await op.commit();
  return result.ok ? stored : RETRY;
}

/** One attempt of `deleteToken`. */
export async function deleteOnce(
  context: KvContext,
  id: string,
): Promise<boolean | Retry> {
  const { kv, keys } = context;
  const entry = await kv.get(keys.token(id));
  if (entry.versionstamp === null) return false;
  const owned = await naturalKeys(entry.value);
  const reads = await getMany(kv, [
    ...owned.map((key) => keys.uniq(key)),
    ...owned.map((key) => keys.index(key, id)),
  ], "strong");
  const op = kv.atomic().check(entry).delete(entry.key);
  for (let i = 0; i < owned.length; i++) {
    const uniq = reads[i];
    op.check(uniq).check(reads[owned.length + i]);
    op.delete(keys.index(owned[i], id));
    const count = counter(uniq);
    if (count > 1) op.set(uniq.key, count - 1);
    else if (uniq.versionstamp !== null) op.delete(uniq.key);
  }
  return (await op.commit()).ok ? true : RETRY;
}

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
  entries: Deno.KvEntry<unknown>[],
): Promise<string[]> {
  const { kv, keys } = context;
  const owned = await Promise.all(entries.map((e) => naturalKeys(e.value)));
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
    op.check(entry).delete(entry.key);
    for (const key of owned[i]) op.delete(keys.index(key, id));
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
  let batch: Deno.KvEntry<unknown>[] = [];
  // Per token: its key, 4 index entries and 4 counters at most.
  const perToken = keys.prefixBytes + 200;
  for await (
    const entry of kv.list({ prefix: keys.tokens() }, { batchSize: 500 })
  ) {
    if (!batcher.fits(5, 9, perToken * 9)) {
      left.push(...await deleteListed(context, batch));
      batch = [];
      batcher.reset();
      batcher.fits(5, 9, perToken * 9);
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
export async function sweepOrphans(context: KvContext): Promise<void> {
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
  const add = async (checks: Deno.AtomicCheck[], key: Deno.KvKey) => {
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
    if (space === "token" || space === "lock") continue;
    const parsed = keys.parseNatural(entry.key);
    if (parsed?.id !== undefined) {
      const token = await kv.get(keys.token(parsed.id));
      if (token.versionstamp === null) await add([token, entry], entry.key);
    } else if (parsed) {
      if (!(await holderExists(context, parsed.key))) {
        await add([entry], entry.key);
      }
    }
  }
  await flush();
}
