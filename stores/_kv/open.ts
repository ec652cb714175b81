/**
 * Opening the Deno KV token store (private): its options checked, and the
 * database opened with a `BACKEND` error that says how to enable Deno KV
 * when the runtime lacks it.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import type { KvConsistencyLevel, KvLike } from "./kv_like.ts";

/**
 * Checks the database and the read consistency given to the store.
 *
 * @example Usage
 * ```ts ignore
 * checkStoreOptions(kv, "eventual"); // "eventual"
 * ```
 *
 * @returns The consistency.
 * @throws {TypeError} naming the bad option.
 */
export function checkStoreOptions(
  kv: unknown,
  consistency: unknown,
): KvConsistencyLevel {
  if (kv === null || typeof kv !== "object") {
    throw new TypeError("Invalid Deno KV store options: expected a Deno.Kv");
  }
  if (consistency !== "strong" && consistency !== "eventual") {
    throw new TypeError(
      `Invalid Deno KV consistency ${
        JSON.stringify(String(consistency))
      }: expected "strong" or "eventual"`,
    );
  }
  return consistency;
}

/**
 * Checks `path` and opens the database there (the default one without it).
 *
 * @example Usage
 * ```ts ignore
 * const kv = await openDatabase(":memory:");
 * ```
 *
 * @throws {TypeError} when `path` is not a string.
 * @throws {TokenStoreError} `BACKEND` when the database cannot be opened.
 */
export async function openDatabase(path: unknown): Promise<KvLike> {
  if (path !== undefined && typeof path !== "string") {
    throw new TypeError(
      `Invalid Deno KV path: expected a string, got ${typeof path}`,
    );
  }
  try {
    return await Deno.openKv(path);
  } catch (error) {
    const hint = typeof Deno.openKv === "function"
      ? ""
      : ' (run with --unstable-kv or add "unstable": ["kv"] to deno.json)';
    throw new TokenStoreError(
      "BACKEND",
      `Cannot open Deno KV${
        path === undefined ? "" : ` ${JSON.stringify(path)}`
      }${hint}`,
      { cause: error },
    );
  }
}
