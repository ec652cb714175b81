/**
 * The file store's options, checked (private).
 *
 * @module
 */

import type { FileFormat } from "./format.ts";

/** Default lock timeout (ms). */
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

/** The options as the store uses them. */
export interface CheckedOptions {
  readonly path: string;
  readonly format: FileFormat;
  readonly lockTimeoutMs: number;
}

/**
 * Checks the file store's options and fills in the defaults.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkOptions } from "./options.ts";
 *
 * assertEquals(checkOptions({ path: "./tokens.json" }), {
 *   path: "./tokens.json",
 *   format: "json",
 *   lockTimeoutMs: 10_000,
 * });
 * ```
 *
 * @throws {TypeError} naming the bad option.
 */
export function checkOptions(
  options: { path: string; format?: FileFormat; lockTimeoutMs?: number },
): CheckedOptions {
  const { path, format = "json", lockTimeoutMs = DEFAULT_LOCK_TIMEOUT_MS } =
    options ?? {};
  if (typeof path !== "string" || path === "") {
    throw new TypeError("Invalid file store path: expected a file path");
  }
  if (format !== "json" && format !== "zoho-csv") {
    throw new TypeError(
      `Invalid file store format ${
        JSON.stringify(String(format)).slice(0, 40)
      }: expected "json" or "zoho-csv"`,
    );
  }
  if (
    typeof lockTimeoutMs !== "number" || !Number.isFinite(lockTimeoutMs) ||
    lockTimeoutMs < 0
  ) {
    throw new TypeError(
      `Invalid lockTimeoutMs ${
        String(lockTimeoutMs)
      }: expected a non-negative number of milliseconds`,
    );
  }
  return { path, format, lockTimeoutMs };
}
