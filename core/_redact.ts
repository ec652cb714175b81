/**
 * Redaction of secret values for display.
 *
 * @module
 */

import { type SecretField, SECRETS } from "./_fields.ts";

/**
 * Returns a short, redacted form of a secret that is safe to print: at most
 * the first few characters (never more than a quarter of the value) followed
 * by `…(redacted)`.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { redact } from "./_redact.ts";
 *
 * assertEquals(redact("1000.abcdef0123456789"), "1000.…(redacted)");
 * assertEquals(redact("short"), "s…(redacted)"); // never more than a quarter
 * ```
 */
export function redact(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const keep = Math.min(5, Math.floor(value.length / 4));
  return `${value.slice(0, keep)}…(redacted)`;
}

/**
 * The secret values a token or query holds (client secret, grant, refresh
 * and access token), for {@linkcode scrub}bing messages.
 */
export function secretsOf(
  token: Partial<Record<SecretField, unknown>>,
): (string | undefined)[] {
  return SECRETS.map((field) => {
    const value = token[field];
    return typeof value === "string" ? value : undefined;
  });
}

/**
 * Removes every occurrence of the given secrets from `text`, replacing each
 * with its redacted form. Used on messages that come from outside (a token
 * endpoint's error description, a driver's error) before they are shown.
 */
export function scrub(
  text: string,
  secrets: Iterable<string | undefined>,
): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) {
      out = out.split(secret).join(redact(secret)!);
    }
  }
  return out;
}
