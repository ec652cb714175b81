/**
 * PKCE (RFC 7636) with the S256 method, and the random `state`: both 256
 * random bits in base64url.
 *
 * @module
 */

import { toBase64Url } from "../_crypto/aes.ts";

/** 32 random bytes in base64url (43 characters): a state or a code verifier. */
export function randomValue(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The S256 code challenge of `verifier`: base64url(SHA-256(verifier)). */
export async function codeChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(verifier),
  );
  return toBase64Url(new Uint8Array(digest));
}
