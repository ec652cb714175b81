/**
 * The reads and atomic writes of the Deno KV token store (private). Every
 * function here makes one attempt and resolves {@linkcode RETRY} when a
 * versionstamp check failed; the store retries a bounded number of times.
 *
 * Invariants every write keeps, in the same atomic operation as the token:
 * - a token's index entries are exactly its natural keys;
 * - the `uniq` counter of a natural key is the number of tokens having it;
 * - a token's parts (fields stored apart, `_kv/spill.ts`) are exactly those
 *   its record lists, written with it;
 * - deleting a token deletes its status.
 *
 * @module
 */

import { newTokenId } from "../../core/id.ts";
import type { OAuthToken } from "../../core/token.ts";
import { matchesPlan, type QueryPlan } from "../../core/token_store.ts";
import {
  decodeToken,
  type KvKeys,
  type NaturalKey,
  naturalKeyId,
  naturalKeys,
} from "./keys.ts";
import { joinSpilled, spilledFields, splitRecord } from "./spill.ts";
import type {
  KvConsistencyLevel,
  KvEntry,
  KvEntryMaybe,
  KvKey,
  KvLike,
} from "./kv_like.ts";

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
  readonly kv: KvLike;
  readonly keys: KvKeys;
}

/** A stored token with the entry it was read from. */
export interface Found {
  readonly token: OAuthToken;
  readonly entry: KvEntry<unknown>;
}

const GET_MANY_LIMIT = 10;

/** `kv.getMany` without its limit of 10 keys per call. */
export async function getMany(
  kv: KvLike,
  keys: readonly KvKey[],
  consistency: KvConsistencyLevel,
): Promise<KvEntryMaybe<unknown>[]> {
  if (keys.length <= GET_MANY_LIMIT) {
    return await kv.getMany(keys as KvKey[], { consistency });
  }
  const chunks: Promise<KvEntryMaybe<unknown>[]>[] = [];
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
  consistency: KvConsistencyLevel,
): Promise<Found | null | Retry> {
  const entry = await kv.get(keys.token(id), { consistency });
  if (entry.versionstamp === null) return null;
  return await whole({ kv, keys }, id, entry, consistency);
}

/**
 * A listed or read entry with its parts joined; {@linkcode RETRY} when it
 * changed meanwhile. `decoded`: the entry's record, already decoded.
 */
async function whole(
  { kv, keys }: KvContext,
  id: string,
  entry: KvEntry<unknown>,
  consistency: KvConsistencyLevel,
  decoded?: OAuthToken,
): Promise<Found | Retry> {
  const token = await joinSpilled(kv, keys, id, entry, consistency, decoded);
  return token === undefined ? RETRY : { token, entry };
}

/** Every stored token (in id order); {@linkcode RETRY} when one changed while listed. */
export async function listTokens(
  { kv, keys }: KvContext,
  consistency: KvConsistencyLevel,
): Promise<OAuthToken[] | Retry> {
  const tokens: OAuthToken[] = [];
  const listed = kv.list({ prefix: keys.tokens() }, {
    consistency,
    batchSize: 500,
  });
  for await (const entry of listed) {
    const found = await whole(
      { kv, keys },
      String(entry.key[entry.key.length - 1]),
      entry,
      consistency,
    );
    if (found === RETRY) return RETRY;
    tokens.push(found.token);
  }
  return tokens;
}

/**
 * The first token (in key order) listed under an index range whose stored
 * record passes `accept`. Index entries are only hints: every candidate is
 * loaded and checked.
 */
async function firstListed(
  { kv, keys }: KvContext,
  range: KvKey,
  consistency: KvConsistencyLevel,
  accept: (token: OAuthToken) => boolean,
): Promise<Found | null | Retry> {
  let ids: string[] = [];
  // the fields `accept` reads are never stored apart (`_kv/spill.ts`)
  const check = async (): Promise<Found | null | Retry> => {
    const entries = await getMany(
      kv,
      ids.map((id) => keys.token(id)),
      consistency,
    );
    for (let i = 0; i < ids.length; i++) {
      const entry = entries[i];
      if (entry.versionstamp === null) continue;
      const token = decodeToken(ids[i], entry.value);
      if (accept(token)) {
        return await whole({ kv, keys }, ids[i], entry, consistency, token);
      }
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
  consistency: KvConsistencyLevel,
): Promise<Found | null | Retry> {
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
export async function holderExists(
  context: KvContext,
  key: NaturalKey,
): Promise<boolean | Retry> {
  const id = naturalKeyId(key);
  const found = await firstListed(
    context,
    context.keys.indexRange(key.kind, key.group),
    "strong",
    (token) =>
      naturalKeys(token.toRecord()).some((k) => naturalKeyId(k) === id),
  );
  return found === RETRY ? RETRY : found !== null;
}

/** The count a `uniq` counter entry holds (0 when missing or malformed). */
export function counter(entry: KvEntryMaybe<unknown>): number {
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
  if (existing === RETRY) return RETRY;
  const id = existing?.token.id ?? token.id ?? newTokenId();
  const stored = token.id === id ? token : token.with({ id });
  const before = existing ? naturalKeys(existing.entry.value) : [];
  const after = naturalKeys(stored.toRecord());
  const removed = minus(before, after);
  const added = minus(after, before);
  const touched = [...removed, ...added];
  const reads = await getMany(kv, [
    ...touched.map((key) => keys.uniq(key)),
    ...touched.map((key) => keys.index(key, id)),
  ], "strong");

  const { value, parts } = splitRecord(stored.toRecord());
  const op = kv.atomic()
    .check({
      key: keys.token(id),
      versionstamp: existing?.entry.versionstamp ?? null,
    })
    .set(keys.token(id), value);
  for (const [field, text] of parts) op.set(keys.part(id, field), text);
  for (const field of spilledFields(id, existing?.entry.value, false)) {
    if (!parts.some(([kept]) => kept === field)) {
      op.delete(keys.part(id, field));
    }
  }
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
      if (await holderExists(context, key) !== false) return RETRY;
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
  // the status is read with the token: no extra round trip
  const [entry, status] = await kv.getMany([keys.token(id), keys.status(id)]);
  if (entry.versionstamp === null) {
    // no token: a status left by a write that raced a delete goes too
    if (status.versionstamp !== null) {
      await kv.atomic().check(status).delete(status.key).commit();
    }
    return false;
  }
  const owned = naturalKeys(entry.value);
  const reads = await getMany(kv, [
    ...owned.map((key) => keys.uniq(key)),
    ...owned.map((key) => keys.index(key, id)),
  ], "strong");
  const op = kv.atomic().check(entry).delete(entry.key).delete(status.key);
  for (const field of spilledFields(id, entry.value, false)) {
    op.delete(keys.part(id, field));
  }
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
