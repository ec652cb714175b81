/**
 * Random token ids.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { newTokenId } from "@tokenstore/tokenstore";
 *
 * assertEquals(newTokenId().length, 10);
 * ```
 *
 * @module
 */

const ALPHABET =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/**
 * A random id of 10 characters from a URL-safe alphabet (about 60 bits from
 * `crypto.getRandomValues`), starting with a letter or digit so that a
 * command line never takes it for an option. Fits Zoho's `varchar(10)` id
 * column.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { newTokenId } from "@tokenstore/tokenstore";
 *
 * const id = newTokenId(); // e.g. "Qx3_kP9a-Z"
 * assertEquals(/^[A-Za-z0-9]/.test(id), true);
 * ```
 *
 * @returns The id.
 */
export function newTokenId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  // the first character: one of the 62 letters and digits
  let id = ALPHABET[bytes[0] % 62];
  for (const byte of bytes.subarray(1)) id += ALPHABET[byte & 63];
  return id;
}
