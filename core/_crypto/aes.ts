/**
 * Field encryption for {@linkcode EncryptedTokenStore}: key decoding, key
 * derivation and a deterministic AEAD (AES-256-GCM with a synthetic IV) over
 * Web Crypto only, so it runs on Deno Deploy.
 *
 * An encrypted value is `enc1:<key id>:<base64url(iv ‖ ciphertext ‖ tag)>`:
 * - each configured key (32 bytes) is expanded with HKDF-SHA-256 into an
 *   AES-256-GCM key, an HMAC-SHA-256 key and a 4-character key id;
 * - `iv` = the first 12 bytes of HMAC(macKey, field ‖ 0x00 ‖ value): equal
 *   values of the same field encrypt to the same string under the same key,
 *   which is what lets the inner store look a value up by plain equality
 *   (the HMAC is the blind index, carried as the IV);
 * - the additional data binds the key id and the field name, so a value
 *   moved to another field does not decrypt;
 * - after decryption the IV is recomputed from the plaintext and compared
 *   (the SIV check), so only values this scheme made are accepted.
 *
 * Overhead: 10 + ⌈4·(n + 28)/3⌉ characters for an n-byte value, e.g. 141 for
 * a 70-byte Zoho token, 181 for 100 bytes; at most 155 bytes fit a Zoho
 * `varchar(255)` column.
 *
 * @module
 */

/** What every encrypted value starts with. */
export const PREFIX = "enc1:";

/** Length of the key id (base64url of 3 HKDF bytes). */
const KEY_ID_LENGTH = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes of a raw key (AES-256). */
export const KEY_BYTES = 32;

const ENCODED = /^enc1:([A-Za-z0-9_-]{4}):([A-Za-z0-9_-]+)$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const SALT = encoder.encode("tokenstore");

/** The keys derived from one configured key. */
export interface FieldKey {
  /** Key id written into every value this key encrypts. */
  readonly id: string;
  /** AES-256-GCM key. */
  readonly aes: CryptoKey;
  /** HMAC-SHA-256 key for the synthetic IV. */
  readonly mac: CryptoKey;
}

/** A value that cannot be decrypted; the message holds no secret. */
export class DecryptError extends Error {
  /**
   * @param message Why, in a few words.
   * @param options The underlying cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DecryptError";
  }
}

/** Encodes bytes as base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/**
 * Decodes standard or URL-safe base64, padded or not; `null` when `text` is
 * not base64.
 */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!BASE64.test(text)) return null;
  let normal = text.replace(/=+$/, "").replaceAll("-", "+").replaceAll(
    "_",
    "/",
  );
  if (normal.length % 4 === 1) return null;
  while (normal.length % 4 !== 0) normal += "=";
  let binary: string;
  try {
    binary = atob(normal);
  } catch {
    return null;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Checks and decodes the configured keys: a comma- or whitespace-separated
 * string, or a list of base64 strings / raw bytes, 32 bytes each. Duplicates
 * are dropped. Messages name the key's position, never its value.
 *
 * @throws {TypeError} naming the first bad key.
 */
export function decodeKeys(
  keys: string | readonly (string | Uint8Array)[] | undefined,
): Uint8Array<ArrayBuffer>[] {
  const list: unknown[] = typeof keys === "string"
    ? keys.split(/[\s,]+/).filter((part) => part !== "")
    : Array.isArray(keys)
    ? keys
    : [];
  if (keys !== undefined && typeof keys !== "string" && !Array.isArray(keys)) {
    throw new TypeError(
      `Invalid encryption keys: expected a base64 string or a list of keys, got ${
        keys === null ? "null" : typeof keys
      }`,
    );
  }
  if (list.length === 0) {
    throw new TypeError(
      "No encryption key given: pass at least one base64 key of 32 bytes (e.g. from generateEncryptionKey())",
    );
  }
  const decoded: Uint8Array<ArrayBuffer>[] = [];
  list.forEach((key, index) => {
    const where = `Invalid encryption key ${index + 1} of ${list.length}`;
    let bytes: Uint8Array<ArrayBuffer> | null;
    if (typeof key === "string") {
      bytes = fromBase64(key.trim());
      if (bytes === null) throw new TypeError(`${where}: not base64`);
    } else if (key instanceof Uint8Array) {
      bytes = new Uint8Array(key);
    } else {
      throw new TypeError(
        `${where}: expected a base64 string or a Uint8Array, got ${
          key === null ? "null" : typeof key
        }`,
      );
    }
    if (bytes.length !== KEY_BYTES) {
      throw new TypeError(
        `${where}: ${bytes.length} bytes, expected ${KEY_BYTES} (AES-256); generate one with generateEncryptionKey() or "openssl rand -base64 32"`,
      );
    }
    if (!decoded.some((other) => sameBytes(other, bytes))) decoded.push(bytes);
  });
  return decoded;
}

/** Derives the AES key, the HMAC key and the key id from a raw key. */
export async function deriveFieldKey(raw: Uint8Array<ArrayBuffer>): Promise<
  FieldKey
> {
  const base = await crypto.subtle.importKey("raw", raw, "HKDF", false, [
    "deriveKey",
    "deriveBits",
  ]);
  const hkdf = (info: string): HkdfParams => ({
    name: "HKDF",
    hash: "SHA-256",
    salt: SALT,
    info: encoder.encode(`tokenstore enc1 ${info}`),
  });
  const [aes, mac, idBits] = await Promise.all([
    crypto.subtle.deriveKey(
      hkdf("aes-256-gcm"),
      base,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"],
    ),
    crypto.subtle.deriveKey(
      hkdf("hmac-sha-256"),
      base,
      { name: "HMAC", hash: "SHA-256", length: 256 },
      false,
      ["sign"],
    ),
    crypto.subtle.deriveBits(hkdf("key id"), base, 24),
  ]);
  return { id: toBase64Url(new Uint8Array(idBits)), aes, mac };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

async function syntheticIv(
  key: FieldKey,
  field: string,
  data: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const name = encoder.encode(field);
  const input = new Uint8Array(name.length + 1 + data.length);
  input.set(name);
  input.set(data, name.length + 1);
  const mac = await crypto.subtle.sign("HMAC", key.mac, input);
  return new Uint8Array(mac, 0, IV_BYTES);
}

function gcm(key: FieldKey, field: string, iv: Uint8Array<ArrayBuffer>) {
  return {
    name: "AES-GCM",
    iv,
    additionalData: encoder.encode(`${PREFIX}${key.id}:${field}`),
    tagLength: TAG_BYTES * 8,
  };
}

/**
 * Encrypts `value` of token field `field` with `key`, deterministically:
 * the same key, field and value always give the same string.
 */
export async function encryptField(
  key: FieldKey,
  field: string,
  value: string,
): Promise<string> {
  const data = encoder.encode(value);
  const iv = await syntheticIv(key, field, data);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(gcm(key, field, iv), key.aes, data),
  );
  const payload = new Uint8Array(IV_BYTES + sealed.length);
  payload.set(iv);
  payload.set(sealed, IV_BYTES);
  return `${PREFIX}${key.id}:${toBase64Url(payload)}`;
}

/** Length of {@linkcode encryptField}'s output for a value of `bytes` bytes. */
export function encryptedLength(bytes: number): number {
  const total = IV_BYTES + bytes + TAG_BYTES;
  return PREFIX.length + KEY_ID_LENGTH + 1 + Math.ceil(total * 4 / 3);
}

/** Whether `value` claims to be encrypted (starts with {@linkcode PREFIX}). */
export function isEncrypted(value: string): boolean {
  return value.startsWith(PREFIX);
}

/**
 * The key id of an encrypted value.
 *
 * @throws {DecryptError} when the value is not in the `enc1:` format.
 */
export function keyIdOf(value: string): string {
  const match = ENCODED.exec(value);
  if (match === null) throw new DecryptError('not in the "enc1" format');
  return match[1];
}

/**
 * Decrypts a value made by {@linkcode encryptField} for the same field with
 * `key` (whose id the value carries).
 *
 * @throws {DecryptError} when the value is malformed, was tampered with, was
 * made for another field, or was made with another key.
 */
export async function decryptField(
  key: FieldKey,
  field: string,
  value: string,
): Promise<string> {
  const match = ENCODED.exec(value);
  if (match === null) throw new DecryptError('not in the "enc1" format');
  if (match[1] !== key.id) throw new DecryptError("made with another key");
  const payload = fromBase64(match[2]);
  // Only the one encoding this scheme writes: no other spelling of the bytes.
  if (payload === null || toBase64Url(payload) !== match[2]) {
    throw new DecryptError("not canonical base64url");
  }
  if (payload.length <= IV_BYTES + TAG_BYTES) {
    throw new DecryptError("truncated");
  }
  const iv = payload.slice(0, IV_BYTES);
  let data: Uint8Array<ArrayBuffer>;
  try {
    data = new Uint8Array(
      await crypto.subtle.decrypt(
        gcm(key, field, iv),
        key.aes,
        payload.subarray(IV_BYTES),
      ),
    );
  } catch (cause) {
    throw new DecryptError("authentication failed", { cause });
  }
  if (!sameBytes(iv, await syntheticIv(key, field, data))) {
    throw new DecryptError("synthetic IV mismatch");
  }
  try {
    return decoder.decode(data);
  } catch (cause) {
    throw new DecryptError("not UTF-8", { cause });
  }
}
