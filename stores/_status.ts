/**
 * The checks every store applies to token statuses (private): what a store
 * writes goes through {@linkcode statusToWrite}, what it reads back through
 * {@linkcode statusRead}.
 *
 * @module
 */

import { TokenStoreError } from "../core/errors.ts";
import { validateId } from "../core/token.ts";
import { checkTokenStatus, type TokenStatus } from "../core/token_status.ts";

/**
 * A status to store, checked: a clean copy, whose id is a token id.
 *
 * @example Usage
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { statusToWrite } from "./_status.ts";
 *
 * assertEquals(statusToWrite({ id: "a1", state: "ok", failures: 0, extra: 1 }), {
 *   id: "a1",
 *   state: "ok",
 *   failures: 0,
 * });
 * assertThrows(() => statusToWrite({ id: "a1", state: "fine", failures: 0 }));
 * ```
 *
 * @param status What the caller gave.
 * @returns The status to store.
 * @throws {TokenStoreError} `INVALID_TOKEN`, before anything is written.
 */
export function statusToWrite(status: unknown): TokenStatus {
  const checked = checkTokenStatus(status);
  validateId(checked.id, "INVALID_TOKEN");
  return checked;
}

/**
 * A stored status, checked: a clean copy stored under its own id.
 *
 * @example Usage
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { statusRead } from "./_status.ts";
 *
 * const value = { id: "a1", state: "failing", failures: 2 };
 * assertEquals(statusRead(value, "a1", "Deno KV"), value);
 * assertThrows(() => statusRead(value, "b2", "Deno KV")); // stored under another id
 * ```
 *
 * @param value What the store holds.
 * @param id The id it is stored under.
 * @param where The store, named in errors (e.g. `Deno KV`, a quoted path).
 * @returns The status.
 * @throws {TokenStoreError} `CORRUPT` naming the id and where.
 */
export function statusRead(
  value: unknown,
  id: string,
  where: string,
): TokenStatus {
  let status: TokenStatus;
  try {
    status = checkTokenStatus(value, "CORRUPT");
  } catch (error) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot read the status of token "${id}" from ${where}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  if (status.id !== id) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot read the status of token "${id}" from ${where}: it holds the status of token "${status.id}"`,
    );
  }
  return status;
}
