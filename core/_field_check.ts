/**
 * What is wrong with a value of a token field (private; `validateField` in
 * `core/token.ts` turns it into an error naming the field). Strings must be
 * well-formed Unicode without NUL: drivers truncate a value at a NUL
 * (libSQL) or replace a lone surrogate with U+FFFD (MySQL), and the stored
 * value would then differ from the saved one.
 *
 * @module
 */

const LONE_SURROGATE =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

type WellFormed = { isWellFormed?: (this: string) => boolean };
const nativeWellFormed = (String.prototype as WellFormed).isWellFormed;

/** Whether a string has no lone surrogate (`isWellFormed` where the runtime has it). */
function isWellFormed(value: string): boolean {
  return nativeWellFormed !== undefined
    ? nativeWellFormed.call(value)
    : !LONE_SURROGATE.test(value);
}

/**
 * The problem with a string field's value, never quoting it (it may be a
 * secret), or `undefined` when it is fine.
 *
 * @param value The value given.
 * @param maxLength Most UTF-16 code units allowed.
 * @returns The problem, e.g. `"contains a NUL character (U+0000)"`.
 */
export function stringProblem(
  value: unknown,
  maxLength: number,
): string | undefined {
  if (typeof value !== "string") {
    return `expected a string, got ${typeof value}`;
  }
  if (value.length === 0) return "empty string";
  if (value.length > maxLength) {
    return `${value.length} characters, at most ${maxLength} allowed`;
  }
  if (value.includes("\u0000")) return "contains a NUL character (U+0000)";
  if (!isWellFormed(value)) {
    return `contains a lone surrogate at index ${
      value.search(LONE_SURROGATE)
    } (not well-formed Unicode)`;
  }
  return undefined;
}

/**
 * The problem with an `expiresAt` value, or `undefined` when it is a finite
 * number from 0 to `max`.
 *
 * @param value The value given.
 * @param max Largest value allowed.
 * @returns The problem.
 */
export function expiresAtProblem(
  value: unknown,
  max: number,
): string | undefined {
  if (typeof value === "number" && value >= 0 && value <= max) return undefined;
  return `expected epoch milliseconds from 0 to ${max}, got ${
    typeof value === "number" ? String(value) : typeof value
  }`;
}
