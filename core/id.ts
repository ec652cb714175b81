/**
 * Random token ids.
 *
 * @example Usage
 * ```ts
 * import { newTokenId } from "@tokenstore/tokenstore";
 *
 * console.log(newTokenId().length); // 10
 * ```
 *
 * @module
 */

const ALPHABET =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/**
 * A random id of 10 characters from a URL-safe alphabet (60 bits from
 * `crypto.getRandomValues`). Fits Zoho's `varchar(10)` id column.
 *
 * @example Usage
 * ```ts
 * import { newTokenId } from "@tokenstore/tokenstore";
 *
 * const id = newTokenId(); // e.g. "Qx3_kP9a-Z"
 * ```
 *
 * @returns The id.
 */
export function newTokenId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  let id = "";
  for (const byte of bytes) id += ALPHABET[byte & 63];
  return id;
}
