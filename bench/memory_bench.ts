/**
 * `MemoryTokenStore` against plain `Map`s (by id, with maps from user name,
 * refresh and access token to id) holding the same records.
 *
 * Run: `deno bench -A bench/memory_bench.ts` (scaling:
 * `bench/memory_scaling_bench.ts`)
 *
 * @module
 */

import type { OAuthToken, OAuthTokenInit } from "../core/token.ts";
import { collectGarbage, makeTokens } from "./_data.ts";
import { type Addressed, type RawDriver, registerOperations } from "./_ops.ts";
import { OPERATION_TOKENS, seededMemoryStore } from "./_seed.ts";

interface MapKeys extends Addressed {
  id: string;
  record: OAuthTokenInit;
}

/** What an application would keep without the store: indexed maps. */
class RawMaps implements RawDriver<MapKeys> {
  #byId = new Map<string, OAuthTokenInit>();
  #byUser = new Map<string, string>();
  #byRefresh = new Map<string, string>();
  #byAccess = new Map<string, string>();

  constructor(tokens: readonly OAuthToken[]) {
    for (const token of tokens) this.#put(token.toRecord());
  }

  #put(record: OAuthTokenInit): void {
    const id = record.id!;
    this.#byId.set(id, record);
    this.#byUser.set(record.userName!, id);
    this.#byRefresh.set(record.refreshToken!, id);
    this.#byAccess.set(record.accessToken!, id);
  }

  keys(token: OAuthToken): Promise<MapKeys> {
    return Promise.resolve({ token, id: token.id!, record: token.toRecord() });
  }
  findByUser(keys: MapKeys): Promise<string | null> {
    const id = this.#byUser.get(keys.record.userName!);
    return Promise.resolve(
      id === undefined ? null : this.#byId.get(id)?.id ?? null,
    );
  }
  findByRefresh(keys: MapKeys): Promise<string | null> {
    const id = this.#byRefresh.get(keys.record.refreshToken!);
    return Promise.resolve(
      id === undefined ? null : this.#byId.get(id)?.id ?? null,
    );
  }
  findById(keys: MapKeys): Promise<string | null> {
    return Promise.resolve(this.#byId.get(keys.id)?.id ?? null);
  }
  insert(keys: MapKeys): Promise<void> {
    this.#put(keys.record);
    return Promise.resolve();
  }
  remove(keys: MapKeys): Promise<void> {
    this.#byId.delete(keys.id);
    this.#byUser.delete(keys.record.userName!);
    this.#byRefresh.delete(keys.record.refreshToken!);
    this.#byAccess.delete(keys.record.accessToken!);
    return Promise.resolve();
  }
  update(before: MapKeys, after: MapKeys): Promise<void> {
    this.#byAccess.delete(before.record.accessToken!);
    this.#put(after.record);
    return Promise.resolve();
  }
  getAll(): Promise<number> {
    return Promise.resolve([...this.#byId.values()].length);
  }
}

const tokens = makeTokens(OPERATION_TOKENS, "memory");
await registerOperations(
  "memory",
  await seededMemoryStore(tokens),
  new RawMaps(tokens),
  tokens,
  { batch: 64 },
);

collectGarbage();
