/**
 * Token statuses in Deno KV (private): `[...prefix, "status", id]` holds the
 * token's `TokenStatus`. A put is one atomic set, a delete one atomic
 * delete; deleting a token deletes its status in the token's own atomic
 * operation (`_kv/transactions.ts`).
 *
 * @module
 */

import { validateId } from "../../core/token.ts";
import type { TokenStatus, TokenStatusStore } from "../../core/token_status.ts";
import { statusRead, statusToWrite } from "../_status.ts";
import type { KvKeys } from "./keys.ts";
import type { KvConsistencyLevel, KvLike } from "./kv_like.ts";
import type { KvRunner } from "./runner.ts";

/** Statuses kept beside the tokens in the same database. */
export class KvStatuses implements TokenStatusStore {
  #kv: KvLike;
  #keys: KvKeys;
  #runner: KvRunner;
  #consistency: KvConsistencyLevel;

  /**
   * @param kv The database.
   * @param keys The store's key layout.
   * @param runner Runs each call: busy retries, errors wrapped.
   * @param consistency Consistency of reads.
   */
  constructor(
    kv: KvLike,
    keys: KvKeys,
    runner: KvRunner,
    consistency: KvConsistencyLevel,
  ) {
    this.#kv = kv;
    this.#keys = keys;
    this.#runner = runner;
    this.#consistency = consistency;
  }

  /** Token `id`'s status, or `null`. */
  get(id: string): Promise<TokenStatus | null> {
    return this.#runner.guard("read token status", () => {
      validateId(id);
      return this.#runner.retry("read token status", async () => {
        const entry = await this.#kv.get(this.#keys.status(id), {
          consistency: this.#consistency,
        });
        return entry.versionstamp === null
          ? null
          : statusRead(entry.value, id, "Deno KV");
      });
    });
  }

  /** Stores `status`, replacing the one of its id: one atomic set. */
  put(status: TokenStatus): Promise<void> {
    return this.#runner.guard("save token status", () => {
      const checked = statusToWrite(status);
      return this.#runner.retry("save token status", async () => {
        await this.#kv.atomic().set(this.#keys.status(checked.id), checked)
          .commit();
      });
    });
  }

  /** Every status, in id order. */
  list(): Promise<TokenStatus[]> {
    return this.#runner.run("list token statuses", async () => {
      const statuses: TokenStatus[] = [];
      const listed = this.#kv.list({ prefix: this.#keys.statuses() }, {
        consistency: this.#consistency,
        batchSize: 500,
      });
      for await (const entry of listed) {
        const id = entry.key[entry.key.length - 1];
        statuses.push(statusRead(entry.value, String(id), "Deno KV"));
      }
      return statuses;
    });
  }

  /** Removes token `id`'s status: one atomic delete. */
  delete(id: string): Promise<void> {
    return this.#runner.guard("delete token status", () => {
      validateId(id);
      return this.#runner.retry("delete token status", async () => {
        await this.#kv.atomic().delete(this.#keys.status(id)).commit();
      });
    });
  }
}
