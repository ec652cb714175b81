/**
 * SHA-256 computed synchronously (FIPS 180-4), for the Deno KV store's
 * index keys. `crypto.subtle.digest` gives the same bytes but is a round
 * trip to Deno's thread pool (~50 µs here) for a value of a few dozen bytes
 * that this hashes in about a microsecond; a lookup by user name hashes
 * one or two such values before its first read.
 *
 * @module
 */

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

const INITIAL = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

const encoder = new TextEncoder();
const W = new Int32Array(64);
const H = new Int32Array(8);
/** Reused for messages of up to 4 KiB (every index key's value): no allocation per digest. */
const SCRATCH = new Uint8Array(4096 + 72);

/**
 * The SHA-256 digest of `bytes`.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sha256 } from "./sha256.ts";
 *
 * assertEquals(sha256(new TextEncoder().encode("abc")).length, 32);
 * ```
 *
 * @param bytes The message.
 * @returns The 32-byte digest.
 */
export function sha256(bytes: Uint8Array): Uint8Array {
  const length = bytes.length;
  const size = Math.ceil((length + 9) / 64) * 64;
  const padded = size <= SCRATCH.length ? SCRATCH : new Uint8Array(size);
  padded.set(bytes);
  return digestPadded(padded, length, size);
}

/** Pads `length` message bytes at the start of `padded` to `size` and digests them. */
function digestPadded(
  padded: Uint8Array,
  length: number,
  size: number,
): Uint8Array {
  padded.fill(0, length, size);
  padded[length] = 0x80;
  const high = Math.floor(length / 0x2000_0000); // bits above 2^32
  const low = (length * 8) >>> 0;
  padded[size - 8] = high >>> 24;
  padded[size - 7] = high >>> 16;
  padded[size - 6] = high >>> 8;
  padded[size - 5] = high;
  padded[size - 4] = low >>> 24;
  padded[size - 3] = low >>> 16;
  padded[size - 2] = low >>> 8;
  padded[size - 1] = low;
  H.set(INITIAL);
  for (let offset = 0; offset < size; offset += 64) {
    for (let t = 0; t < 16; t++) {
      const i = offset + t * 4;
      W[t] = (padded[i] << 24) | (padded[i + 1] << 16) | (padded[i + 2] << 8) |
        padded[i + 3];
    }
    for (let t = 16; t < 64; t++) {
      const w15 = W[t - 15];
      const w2 = W[t - 2];
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^
        (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^
        (w2 >>> 10);
      W[t] = (W[t - 16] + s0 + W[t - 7] + s1) | 0;
    }
    let a = H[0], b = H[1], c = H[2], d = H[3];
    let e = H[4], f = H[5], g = H[6], h = H[7];
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^
        ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[t] + W[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^
        ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    H[0] += a;
    H[1] += b;
    H[2] += c;
    H[3] += d;
    H[4] += e;
    H[5] += f;
    H[6] += g;
    H[7] += h;
  }
  const digest = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    digest[i * 4] = H[i] >>> 24;
    digest[i * 4 + 1] = H[i] >>> 16;
    digest[i * 4 + 2] = H[i] >>> 8;
    digest[i * 4 + 3] = H[i];
  }
  return digest;
}

const ALPHABET =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Bytes in base64url without padding.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { base64Url } from "./sha256.ts";
 *
 * assertEquals(base64Url(new Uint8Array([255, 255])), "__8");
 * ```
 */
export function base64Url(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >>> 18] + ALPHABET[(n >>> 12) & 63] +
      ALPHABET[(n >>> 6) & 63] + ALPHABET[n & 63];
  }
  if (i + 1 === bytes.length) {
    const n = bytes[i] << 16;
    out += ALPHABET[n >>> 18] + ALPHABET[(n >>> 12) & 63];
  } else if (i + 2 === bytes.length) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET[n >>> 18] + ALPHABET[(n >>> 12) & 63] +
      ALPHABET[(n >>> 6) & 63];
  }
  return out;
}

/**
 * SHA-256 of a string's UTF-8 bytes, base64url without padding (43
 * characters), as `crypto.subtle.digest` would give it.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sha256Base64Url } from "./sha256.ts";
 *
 * assertEquals(
 *   sha256Base64Url("abc"),
 *   "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0",
 * );
 * ```
 */
export function sha256Base64Url(value: string): string {
  // at most 3 UTF-8 bytes per UTF-16 unit: encode straight into the scratch
  if (value.length * 3 + 72 <= SCRATCH.length) {
    const { written } = encoder.encodeInto(value, SCRATCH);
    return base64Url(
      digestPadded(SCRATCH, written, Math.ceil((written + 9) / 64) * 64),
    );
  }
  return base64Url(sha256(encoder.encode(value)));
}
