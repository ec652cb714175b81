/**
 * `KvTokenStore` against raw `Deno.Kv` calls on the same key layout, in a
 * `:memory:` database and in a file.
 *
 * The raw driver reads and writes exactly the records the store keeps (the
 * token, its index entries and `uniq` counters) with the fewest calls: a
 * lookup is one `list` of the index (limit 1) and one `get`; an insert one
 * atomic operation whose checks assert the keys are new; an update one `get`
 * (for the versionstamp) and one atomic operation. Its keys, SHA-256 hashes
 * included, are computed outside the timing.
 *
 * Run: `deno bench -A bench/kv_bench.ts` (scaling: `bench/kv_scaling_bench.ts`)
 *
 * @module
 */

import type { OAuthToken, OAuthTokenInit } from "../core/token.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { h } from "../tests/_kv_layout.ts";
import { collectGarbage, makeTokens, tempDir } from "./_data.ts";
import { type Addressed, type RawDriver, registerOperations } from "./_ops.ts";
import { kvEntries, openKv, OPERATION_TOKENS, seedKv } from "./_seed.ts";

const PREFIX: Deno.KvKey = ["tokenstore"];

interface KvKeys extends Addressed {
  id: string;
  record: OAuthTokenInit;
  tokenKey: Deno.KvKey;
  user: Deno.KvKey;
  refresh: Deno.KvKey;
  access: Deno.KvKey;
  uniqUser: Deno.KvKey;
  uniqRefresh: Deno.KvKey;
  uniqAccess: Deno.KvKey;
  /** The index range a lookup by user lists. */
  userRange: Deno.KvKey;
  /** The index range a lookup by refresh token lists. */
  refreshRange: Deno.KvKey;
}

class RawKv implements RawDriver<KvKeys> {
  #kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  async keys(token: OAuthToken): Promise<KvKeys> {
    const id = token.id!;
    const [user, client, refresh, access] = await Promise.all([
      h(token.userName!),
      h(token.clientId!),
      h(token.refreshToken!),
      h(token.accessToken!),
    ]);
    return {
      token,
      id,
      record: token.toRecord(),
      tokenKey: [...PREFIX, "token", id],
      user: [...PREFIX, "by_user", user, client, id],
      refresh: [...PREFIX, "by_refresh", refresh, client, id],
      access: [...PREFIX, "by_access", access, id],
      uniqUser: [...PREFIX, "uniq", "user", user, client],
      uniqRefresh: [...PREFIX, "uniq", "refresh", refresh, client],
      uniqAccess: [...PREFIX, "uniq", "access", access],
      userRange: [...PREFIX, "by_user", user],
      refreshRange: [...PREFIX, "by_refresh", refresh],
    };
  }

  async #viaIndex(range: Deno.KvKey): Promise<string | null> {
    for await (
      const { key } of this.#kv.list({ prefix: range }, { limit: 1 })
    ) {
      const entry = await this.#kv.get<OAuthTokenInit>([
        ...PREFIX,
        "token",
        key[key.length - 1],
      ]);
      return entry.value?.id ?? null;
    }
    return null;
  }

  findByUser(keys: KvKeys): Promise<string | null> {
    return this.#viaIndex(keys.userRange);
  }
  findByRefresh(keys: KvKeys): Promise<string | null> {
    return this.#viaIndex(keys.refreshRange);
  }
  async findById(keys: KvKeys): Promise<string | null> {
    return (await this.#kv.get<OAuthTokenInit>(keys.tokenKey)).value?.id ??
      null;
  }

  async insert(k: KvKeys): Promise<void> {
    const result = await this.#kv.atomic()
      .check({ key: k.tokenKey, versionstamp: null })
      .check({ key: k.uniqUser, versionstamp: null })
      .check({ key: k.uniqRefresh, versionstamp: null })
      .check({ key: k.uniqAccess, versionstamp: null })
      .set(k.tokenKey, k.record)
      .set(k.user, true)
      .set(k.refresh, true)
      .set(k.access, true)
      .set(k.uniqUser, 1)
      .set(k.uniqRefresh, 1)
      .set(k.uniqAccess, 1)
      .commit();
    if (!result.ok) throw new Error("raw KV insert failed");
  }

  async remove(k: KvKeys): Promise<void> {
    await this.#kv.atomic()
      .delete(k.tokenKey).delete(k.user).delete(k.refresh).delete(k.access)
      .delete(k.uniqUser).delete(k.uniqRefresh).delete(k.uniqAccess)
      .commit();
  }

  async update(before: KvKeys, after: KvKeys): Promise<void> {
    const entry = await this.#kv.get(after.tokenKey);
    const result = await this.#kv.atomic()
      .check(entry)
      .check({ key: after.uniqAccess, versionstamp: null })
      .set(after.tokenKey, after.record)
      .delete(before.access)
      .delete(before.uniqAccess)
      .set(after.access, true)
      .set(after.uniqAccess, 1)
      .commit();
    if (!result.ok) throw new Error("raw KV update failed");
  }

  async getAll(): Promise<number> {
    const records: unknown[] = [];
    const listed = this.#kv.list({ prefix: [...PREFIX, "token"] }, {
      batchSize: 500,
    });
    for await (const entry of listed) records.push(entry.value);
    return records.length;
  }
}

const VARIANTS = ["kv-memory", "kv-file"] as const;
const dir = await tempDir("kv");
for (const variant of VARIANTS) {
  const kv = await openKv(
    variant === "kv-memory" ? ":memory:" : `${dir}/operations.kv`,
  );
  const tokens = makeTokens(OPERATION_TOKENS, variant);
  await seedKv(kv, await kvEntries(PREFIX, tokens));
  await registerOperations(
    variant,
    new KvTokenStore({ kv, prefix: PREFIX }),
    new RawKv(kv),
    tokens,
    { read: 3000, write: 1000, list: 200 },
  );
}
collectGarbage();
