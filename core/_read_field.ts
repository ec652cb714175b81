/**
 * Reading the fields of a token or query a caller gave (private).
 *
 * @module
 */

import { TokenStoreError } from "./errors.ts";

/**
 * Reads one field of a caller's token or query: a getter that throws (or an
 * object that only inherits the token's getters) is a bad field, not a
 * crash.
 *
 * @throws {TokenStoreError} with `code`, naming the field.
 */
export function readField(
  source: object,
  field: string,
  code: "INVALID_QUERY" | "INVALID_TOKEN",
): unknown {
  try {
    return (source as Record<string, unknown>)[field];
  } catch (error) {
    throw new TokenStoreError(
      code,
      `Invalid token field "${field}": reading it failed`,
      { cause: error },
    );
  }
}
