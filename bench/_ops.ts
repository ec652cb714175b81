/**
 * Registers the benchmark groups every store gets: each store operation next
 * to its raw driver doing the same work as the group's baseline, and
 * `findToken` at growing token counts.
 *
 * Work a real caller does before the call (building the token, and for the
 * raw driver the keys it addresses, e.g. the SHA-256 hashes of the Deno KV
 * layout) is left out of the timing on both sides, so the store's own
 * hashing, validation and extra reads count against it. Inserted tokens are
 * deleted again outside the timing, so every group works on the same number
 * of stored tokens throughout.
 *
 * @module
 */

import { newTokenId } from "../core/id.ts";
import type { OAuthToken } from "../core/token.ts";
import type { TokenStore } from "../core/token_store.ts";
import { assertSeeded, cycle, newToken, refreshed } from "./_data.ts";

/** What a raw driver's addressing of a token holds at least. */
export interface Addressed {
  /** The token addressed. */
  readonly token: OAuthToken;
}

/**
 * The raw driver doing what a store operation does, on the same records.
 * `K` is what it needs to address one token, computed outside the timing.
 */
export interface RawDriver<K extends Addressed> {
  /** Addresses a token (untimed): its id, record, hashed keys, row… */
  keys(token: OAuthToken): Promise<K>;
  /** Finds the token by user name; resolves the id found. */
  findByUser(keys: K): Promise<string | null>;
  /** Finds the token by refresh token; resolves the id found. */
  findByRefresh(keys: K): Promise<string | null>;
  /** Reads the token by id; resolves the id found. */
  findById(keys: K): Promise<string | null>;
  /** Writes a new token (it has an id). */
  insert(keys: K): Promise<void>;
  /** Deletes a token `insert` wrote (untimed clean-up). */
  remove(keys: K): Promise<void>;
  /** Replaces a stored token (`before`) with its refreshed form (`after`). */
  update(before: K, after: K): Promise<void>;
  /** Reads every stored token; resolves how many. */
  getAll(): Promise<number>;
}

/** Iteration counts for slow operations (Deno picks them when unset). */
export interface Iterations {
  /** `findToken`. */
  read?: number;
  /** `getTokens`. */
  list?: number;
  /** `saveToken`. */
  write?: number;
  /**
   * Operations per iteration (default 1): more for stores so fast that one
   * call takes well under 10 µs, where Deno times the whole iteration
   * (untimed clean-up included) and timer jitter would dominate.
   */
  batch?: number;
}

/**
 * Registers the six operation groups of one store:
 * `<name> findToken by user|by refresh token|by id`,
 * `<name> saveToken insert|update` and `<name> getTokens`.
 *
 * The store and the raw driver share the seeded tokens: lookups read the
 * same records; updates touch disjoint halves; inserts add new tokens that
 * are deleted again (untimed).
 *
 * @param name Store label, e.g. `kv-file`.
 * @param store The store, holding `seeded`.
 * @param raw The raw driver over the same data.
 * @param seeded The tokens the store holds.
 * @param iterations Iteration counts for slow stores.
 */
export async function registerOperations<K extends Addressed>(
  name: string,
  store: TokenStore,
  raw: RawDriver<K>,
  seeded: readonly OAuthToken[],
  iterations: Iterations = {},
): Promise<void> {
  const keyed: K[] = await Promise.all(
    seeded.map((token) => raw.keys(token)),
  );
  const byIndex = new Map(seeded.map((token, i) => [token, keyed[i]]));
  const sample = seeded[0];
  const sampleKeys = byIndex.get(sample)!;
  // Both sides must find what was seeded, or the figures mean nothing.
  for (
    const query of [
      { userName: sample.userName },
      { refreshToken: sample.refreshToken },
      { id: sample.id },
    ]
  ) {
    assertSeeded(name, await store.findToken(query), sample);
  }
  for (
    const [what, found] of [
      ["by user", await raw.findByUser(sampleKeys)],
      ["by refresh token", await raw.findByRefresh(sampleKeys)],
      ["by id", await raw.findById(sampleKeys)],
    ] as const
  ) {
    if (found !== sample.id) {
      throw new Error(`Raw ${name} ${what} did not find the seeded token`);
    }
  }
  const [stored, rawCount] = [
    (await store.getTokens()).length,
    await raw.getAll(),
  ];
  if (stored !== seeded.length || rawCount !== seeded.length) {
    throw new Error(
      `${name}: ${stored} tokens through the store, ${rawCount} raw, ${seeded.length} seeded`,
    );
  }

  const batch = iterations.batch ?? 1;
  const per = batch === 1 ? "" : ` (${batch} per iteration)`;
  const read = counts(iterations.read);
  const write = counts(iterations.write);
  const list = counts(iterations.list);
  const lookups: [
    string,
    (token: OAuthToken) => Promise<OAuthToken | null>,
    (keys: K) => Promise<string | null>,
  ][] = [
    [
      "by user",
      (t) => store.findToken({ userName: t.userName }),
      (k) => raw.findByUser(k),
    ],
    [
      "by refresh token",
      (t) => store.findToken({ refreshToken: t.refreshToken }),
      (k) => raw.findByRefresh(k),
    ],
    ["by id", (t) => store.findToken({ id: t.id }), (k) => raw.findById(k)],
  ];
  for (const [what, viaStore, viaRaw] of lookups) {
    const group = `${name} findToken ${what}`;
    const nextRaw = cycle(keyed);
    const nextToken = cycle(seeded);
    Deno.bench({
      name: `raw driver${per}`,
      group,
      baseline: true,
      ...read,
      async fn() {
        for (let i = 0; i < batch; i++) await viaRaw(nextRaw());
      },
    });
    Deno.bench({
      name: `tokenstore${per}`,
      group,
      ...read,
      async fn() {
        for (let i = 0; i < batch; i++) await viaStore(nextToken());
      },
    });
  }

  // Inserts: a pool of new tokens (built untimed), each inserted (timed)
  // and deleted again (untimed), `batch` per iteration.
  const pool = Array.from({ length: Math.max(batch, 64) }, () => newToken());
  const rawPool = await Promise.all(
    pool.map((token) => raw.keys(token.with({ id: newTokenId() }))),
  );
  const nextRawNew = cycle(rawPool);
  const nextNew = cycle(pool);
  const insertGroup = `${name} saveToken insert`;
  Deno.bench({
    name: `raw driver${per}`,
    group: insertGroup,
    baseline: true,
    ...write,
    async fn(b) {
      const items = Array.from({ length: batch }, nextRawNew);
      b.start();
      for (const keys of items) await raw.insert(keys);
      b.end();
      for (const keys of items) await raw.remove(keys);
    },
  });
  Deno.bench({
    name: `tokenstore${per}`,
    group: insertGroup,
    ...write,
    async fn(b) {
      const items = Array.from({ length: batch }, nextNew);
      const ids: string[] = [];
      b.start();
      for (const token of items) ids.push((await store.saveToken(token)).id!);
      b.end();
      for (const id of ids) await store.deleteToken(id);
    },
  });

  // Updates, as a refresh saves them: a new access token and expiry, same
  // id. The store refreshes the first half of the tokens, the raw driver the
  // second; each token flips between two states built untimed.
  const half = Math.floor(seeded.length / 2);
  const storeStates = seeded.slice(0, half).map((token) => ({
    states: [token, refreshed(token)],
    at: 0,
  }));
  const rawStates = await Promise.all(
    seeded.slice(half).map(async (token) => ({
      states: [byIndex.get(token)!, await raw.keys(refreshed(token))],
      at: 0,
    })),
  );
  const nextStoreUpdate = cycle(storeStates);
  const nextRawUpdate = cycle(rawStates);
  const updateGroup = `${name} saveToken update`;
  Deno.bench({
    name: `raw driver${per}`,
    group: updateGroup,
    baseline: true,
    ...write,
    async fn() {
      for (let i = 0; i < batch; i++) {
        const item = nextRawUpdate();
        await raw.update(item.states[item.at], item.states[1 - item.at]);
        item.at = 1 - item.at;
      }
    },
  });
  Deno.bench({
    name: `tokenstore${per}`,
    group: updateGroup,
    ...write,
    async fn() {
      for (let i = 0; i < batch; i++) {
        const item = nextStoreUpdate();
        await store.saveToken(item.states[1 - item.at]);
        item.at = 1 - item.at;
      }
    },
  });

  const listGroup = `${name} getTokens`;
  Deno.bench({
    name: `raw driver (${seeded.length} tokens)${per}`,
    group: listGroup,
    baseline: true,
    ...list,
    async fn() {
      for (let i = 0; i < batch; i++) await raw.getAll();
    },
  });
  Deno.bench({
    name: `tokenstore (${seeded.length} tokens)${per}`,
    group: listGroup,
    ...list,
    async fn() {
      for (let i = 0; i < batch; i++) await store.getTokens();
    },
  });
}

/** Deno.bench's `n` and `warmup` (a tenth of `n`), or Deno's own choice. */
function counts(n: number | undefined): { n?: number; warmup?: number } {
  return n === undefined ? {} : { n, warmup: Math.max(5, Math.ceil(n / 10)) };
}

/** One level of a scaling group: a store holding `n` tokens. */
export interface ScalingLevel {
  /** How many tokens the store holds. */
  n: number;
  /** The store. */
  store: TokenStore;
  /** The user names it holds, to look up. */
  userNames: readonly string[];
  /** One token it holds, to check the seeding. */
  sample: OAuthToken;
}

/**
 * A scaling level for `tokens` seeded into `store`, keeping only what the
 * lookups need (so the tokens themselves can be collected).
 */
export function level(
  store: TokenStore,
  tokens: readonly OAuthToken[],
): ScalingLevel {
  return {
    n: tokens.length,
    store,
    userNames: tokens.map((token) => token.userName!),
    sample: tokens[tokens.length - 1],
  };
}

/**
 * Registers `<name> findToken scaling`: `findToken` by user name against
 * stores holding each level's token count, the smallest as the baseline, so
 * the ratios show whether lookups stay flat.
 *
 * @param name Store label.
 * @param levels Stores by token count, smallest first.
 * @param iterations Iterations per level (Deno picks them when unset).
 * @param batch Lookups per iteration (for very fast stores).
 */
export async function registerScaling(
  name: string,
  levels: readonly ScalingLevel[],
  iterations?: number,
  batch = 1,
): Promise<void> {
  const group = `${name} findToken scaling`;
  for (const [i, { n, store, userNames, sample }] of levels.entries()) {
    assertSeeded(
      `${name} n=${n}`,
      await store.findToken({ userName: sample.userName }),
      sample,
    );
    const next = cycle(userNames);
    Deno.bench({
      name: `n=${n}${batch === 1 ? "" : ` (${batch} per iteration)`}`,
      group,
      baseline: i === 0,
      ...counts(iterations),
      async fn() {
        for (let j = 0; j < batch; j++) {
          await store.findToken({ userName: next() });
        }
      },
    });
  }
}
