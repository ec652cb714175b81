/**
 * Lease keys that name a secret without holding it: the first 96 bits of
 * its SHA-256, in hex. Lease keys are stored in plain text (lock tables,
 * KV keys), so a refresh token or a grant code never goes into one as it is.
 *
 * @module
 */

/** The hex digest that stands for `secret` in a lease key. */
export async function secretDigest(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(secret),
  );
  return Array.from(
    new Uint8Array(digest).slice(0, 12),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
