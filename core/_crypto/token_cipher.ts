/**
 * Whole-token encryption for {@linkcode EncryptedTokenStore}: the key ring
 * (imported once, on first use), encrypting and decrypting the secret fields
 * of a token, and the errors a stored token that cannot be read gives.
 *
 * @module
 */

import { HeldLease } from "../_client/lease.ts";
import {
  decodeKeys,
  DecryptError,
  decryptField,
  deriveFieldKey,
  encryptedLength,
  encryptField,
  type FieldKey,
  isEncrypted,
  keyIdOf,
  PREFIX,
} from "./aes.ts";
import { type SecretField, SECRETS } from "../_fields.ts";
import { TokenStoreError } from "../errors.ts";
import { MAX_FIELD_LENGTH, OAuthToken, type OAuthTokenInit } from "../token.ts";
import type { TokenLock, TokenStore } from "../token_store.ts";

/** The configured keys, derived. */
export interface Keyring {
  /** The key that encrypts (the first). */
  readonly current: FieldKey;
  /** Every key, the first first. */
  readonly all: readonly FieldKey[];
  /** Keys by key id. */
  readonly byId: ReadonlyMap<string, FieldKey>;
}

/** What `EncryptedTokenStore.prototype.rekey` did. */
export interface RekeyResult {
  /** Id of the key every token is now encrypted with. */
  keyId: string;
  /** Tokens looked at. */
  scanned: number;
  /** Tokens re-encrypted with the first key. */
  rekeyed: number;
  /** Ids of tokens whose lease stayed taken: run `rekey` again. */
  skipped: string[];
  /** Ids of tokens that cannot be decrypted with any configured key, left as they are. */
  corrupt: string[];
}

const encoder = new TextEncoder();
const REKEY_LEASE = { ttlMs: 10_000, pollMs: 50 };

/** Longest value (UTF-8 bytes) whose encryption fits {@linkcode MAX_FIELD_LENGTH}. */
function maxPlainBytes(): number {
  let bytes = MAX_FIELD_LENGTH;
  while (encryptedLength(bytes) > MAX_FIELD_LENGTH) bytes--;
  return bytes;
}

/** Encrypts and decrypts the secret fields of tokens with a key ring. */
export class TokenCipher {
  #raw: Uint8Array<ArrayBuffer>[];
  #ring: Promise<Keyring> | undefined;
  /** Whether unencrypted values are read as plaintext. */
  readonly acceptPlaintext: boolean;

  /**
   * Checks the keys (synchronously); they are imported on first use.
   *
   * @throws {TypeError} naming the first bad key, never echoing it.
   */
  constructor(
    keys: string | readonly (string | Uint8Array)[] | undefined,
    acceptPlaintext: boolean,
  ) {
    this.#raw = decodeKeys(keys);
    this.acceptPlaintext = acceptPlaintext;
  }

  /** The key ring, derived once. */
  ring(): Promise<Keyring> {
    this.#ring ??= Promise.all(this.#raw.map(deriveFieldKey)).then((all) => {
      const byId = new Map<string, FieldKey>();
      all.forEach((key, index) => {
        const other = all.findIndex((k) => k.id === key.id);
        if (other !== index) {
          throw new TypeError(
            `Encryption keys ${other + 1} and ${
              index + 1
            } have the same key id: replace one with a new key`,
          );
        }
        byId.set(key.id, key);
      });
      return { current: all[0], all, byId };
    });
    return this.#ring;
  }

  /**
   * Encrypts `value` of `field` with `key`; `null` when the result would be
   * longer than any store accepts.
   */
  async encryptValue(
    key: FieldKey,
    field: SecretField,
    value: string,
  ): Promise<string | null> {
    const encrypted = await encryptField(key, field, value);
    return encrypted.length > MAX_FIELD_LENGTH ? null : encrypted;
  }

  /**
   * The token with every secret encrypted with `key`, and `id` set when
   * given.
   *
   * @throws {TokenStoreError} `INVALID_TOKEN` when a secret is too long to store encrypted.
   */
  async encrypt(
    token: OAuthToken,
    key: FieldKey,
    id: string | undefined,
  ): Promise<OAuthToken> {
    const record: OAuthTokenInit = token.toRecord();
    await Promise.all(SECRETS.map(async (field) => {
      const value = record[field];
      if (value === undefined) return;
      const encrypted = await this.encryptValue(key, field, value);
      if (encrypted === null) {
        throw new TokenStoreError(
          "INVALID_TOKEN",
          `Invalid token field "${field}": ${
            encoder.encode(value).length
          } bytes are too long to store encrypted (at most ${maxPlainBytes()})`,
        );
      }
      record[field] = encrypted;
    }));
    if (id !== undefined) record.id = id;
    return new OAuthToken(record);
  }

  /**
   * The stored token with every secret decrypted.
   *
   * @throws {TokenStoreError} `CORRUPT` naming the token and field (never a
   * value) when a value is malformed, tampered with, made with a key that is
   * not configured, or not encrypted (unless `acceptPlaintext`).
   */
  async decrypt(stored: OAuthToken, ring: Keyring): Promise<OAuthToken> {
    const record: OAuthTokenInit = stored.toRecord();
    const where = `Cannot read token "${stored.id}"`;
    await Promise.all(SECRETS.map(async (field) => {
      const value = record[field];
      if (value === undefined) return;
      if (!isEncrypted(value)) {
        if (this.acceptPlaintext) return;
        throw new TokenStoreError(
          "CORRUPT",
          `${where}: field "${field}" is not encrypted (open the store with acceptPlaintext to migrate it)`,
        );
      }
      let key: FieldKey | undefined;
      try {
        key = ring.byId.get(keyIdOf(value));
        if (key !== undefined) {
          record[field] = await decryptField(key, field, value);
        }
      } catch (error) {
        if (!(error instanceof DecryptError)) throw error;
        throw new TokenStoreError(
          "CORRUPT",
          `${where}: field "${field}" cannot be decrypted (${error.message})`,
          { cause: error },
        );
      }
      if (key === undefined) {
        throw new TokenStoreError(
          "CORRUPT",
          `${where}: field "${field}" was encrypted with key "${
            keyIdOf(value)
          }", which is not among the configured keys`,
        );
      }
    }));
    try {
      return new OAuthToken(record);
    } catch (cause) {
      throw new TokenStoreError(
        "CORRUPT",
        `${where}: a decrypted field is not a valid token field`,
        { cause },
      );
    }
  }

  /**
   * Re-encrypts every token of `inner` not yet on the first key, under its
   * `refresh:<id>` lease, re-reading it there; tokens on the first key are
   * checked to decrypt.
   */
  async rekey(inner: TokenStore, waitMs: number): Promise<RekeyResult> {
    const ring = await this.ring();
    const result: RekeyResult = {
      keyId: ring.current.id,
      scanned: 0,
      rekeyed: 0,
      skipped: [],
      corrupt: [],
    };
    for (const stored of await inner.getTokens()) {
      result.scanned++;
      const id = stored.id!;
      try {
        if (this.isOnKey(stored, ring.current)) {
          await this.decrypt(stored, ring);
          continue;
        }
        const done = await underLease(
          inner.lock,
          `refresh:${id}`,
          { waitMs, ...REKEY_LEASE },
          async () => {
            const again = await inner.findTokenById(id);
            if (again === null || this.isOnKey(again, ring.current)) {
              return false;
            }
            const plain = await this.decrypt(again, ring);
            await inner.saveToken(
              await this.encrypt(plain, ring.current, id),
            );
            return true;
          },
        );
        if (done === undefined) result.skipped.push(id);
        else if (done) result.rekeyed++;
      } catch (error) {
        if (!(error instanceof TokenStoreError) || error.code !== "CORRUPT") {
          throw error;
        }
        result.corrupt.push(id);
      }
    }
    return result;
  }

  /** Whether every secret of a stored token is encrypted with `key`. */
  isOnKey(stored: OAuthToken, key: FieldKey): boolean {
    const prefix = `${PREFIX}${key.id}:`;
    return SECRETS.every((field) => stored[field]?.startsWith(prefix) ?? true);
  }
}

/**
 * Runs `fn` under the lease `key` of `lock` (directly when there is no
 * lock), polling up to `waitMs` while another holder has it; `undefined` if
 * the lease stayed taken. The lease is renewed while `fn` runs.
 */
export async function underLease<T>(
  lock: TokenLock | undefined,
  key: string,
  options: { waitMs: number; ttlMs: number; pollMs: number },
  fn: () => Promise<T>,
): Promise<T | undefined> {
  if (lock === undefined) return await fn();
  const deadline = Date.now() + options.waitMs;
  for (;;) {
    // the lease helper the refresh coordinator uses: renewed while `fn`
    // runs, released with retries
    const lease = await HeldLease.take(lock, key, options.ttlMs);
    if (lease !== null) {
      const stop = lease.keepAlive();
      try {
        return await fn();
      } finally {
        stop();
        await lease.release();
      }
    }
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, options.pollMs));
  }
}
