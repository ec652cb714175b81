/**
 * Encryption at rest for any {@linkcode TokenStore}: {@linkcode EncryptedTokenStore}
 * encrypts `clientSecret`, `refreshToken`, `accessToken` and `grantToken`
 * with AES-256-GCM (Web Crypto only, so it runs on Deno Deploy) before they
 * reach the inner store, and decrypts them on the way out. The other fields
 * stay as they are, so lookups by user name and client id are unchanged.
 *
 * Lookups by token value keep working on every store: the IV of each value
 * is an HMAC-SHA-256 of the value (a blind index), which makes encryption
 * deterministic per key and field, so a queried value encrypts to exactly the
 * stored string and the inner store's equality match finds it. The trade-off:
 * someone reading the database can tell that two rows hold the same value in
 * the same field (as a blind index would tell), but learns nothing else.
 *
 * A stored value is `enc1:<key id>:<base64url(iv ‖ ciphertext ‖ tag)>`: 141
 * characters for a 70-character Zoho token, 181 for 100 characters; values of
 * up to 155 bytes fit the Zoho SDKs' `varchar(255)` columns.
 *
 * Keys are 32 random bytes in base64 (conventionally in the `TOKENSTORE_KEY`
 * environment variable, several separated by commas). The first key encrypts;
 * every key decrypts (each value names its key), so a new key can be put
 * first, {@linkcode EncryptedTokenStore.prototype.rekey} run, and the old key
 * dropped. A value that was tampered with, or made with a key that is not
 * configured, is a `TokenStoreError` with code `"CORRUPT"`, never garbage.
 *
 * @example Encrypt a memory store
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import {
 *   EncryptedTokenStore,
 *   generateEncryptionKey,
 *   OAuthToken,
 * } from "@tokenstore/tokenstore";
 * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
 *
 * const inner = new MemoryTokenStore();
 * const store = new EncryptedTokenStore(inner, {
 *   keys: [generateEncryptionKey()],
 * });
 * await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * const found = await store.findToken({ refreshToken: "1000.r" });
 * assertEquals(found?.userName, "ada@example.com");
 * // The inner store holds only ciphertext:
 * const [stored] = await inner.getTokens();
 * assertEquals(stored.refreshToken?.startsWith("enc1:"), true);
 * ```
 *
 * @module
 */

import { KEY_BYTES } from "./_crypto/aes.ts";
import { isSecretField, type SecretField } from "./_fields.ts";
import {
  type Keyring,
  type RekeyResult,
  TokenCipher,
} from "./_crypto/token_cipher.ts";
import type { TokenStatusStore } from "./token_status.ts";
import type { OAuthToken, OAuthTokenInit } from "./token.ts";
import {
  type Lease,
  mergeFound,
  planQuery,
  planSave,
  type QueryPlan,
  type TokenLock,
  type TokenQuery,
  type TokenStore,
  validateForSave,
} from "./token_store.ts";

export type {
  Lease,
  OAuthToken,
  OAuthTokenInit,
  RekeyResult,
  TokenLock,
  TokenQuery,
  TokenStore,
};

/** Options of {@linkcode EncryptedTokenStore}. */
export interface EncryptedTokenStoreOptions {
  /**
   * The keys, 32 bytes each: base64 strings (standard or URL-safe) or raw
   * bytes, or one string of base64 keys separated by commas or whitespace
   * (the `TOKENSTORE_KEY` format). The first encrypts; all decrypt.
   */
  keys: string | readonly (string | Uint8Array)[];
  /**
   * Read secret values that are not encrypted as plaintext, for migrating a
   * store that was written without encryption: they are encrypted on the
   * token's next save, or all at once by
   * {@linkcode EncryptedTokenStore.prototype.rekey}. Default `false`: such a
   * value is `CORRUPT`. Leave it off once the store is migrated, since with
   * it a value whose `enc1:` prefix was damaged reads as plaintext.
   */
  acceptPlaintext?: boolean;
}

/** Options of {@linkcode EncryptedTokenStore.fromEnv}. */
export interface EncryptedTokenStoreEnvOptions {
  /** Where to read the variable, e.g. `Deno.env`. */
  env: { get(name: string): string | undefined };
  /** The variable holding the keys; default `"TOKENSTORE_KEY"`. */
  variable?: string;
  /** See {@linkcode EncryptedTokenStoreOptions.acceptPlaintext}. */
  acceptPlaintext?: boolean;
}

/** Options of {@linkcode EncryptedTokenStore.prototype.rekey}. */
export interface RekeyOptions {
  /**
   * How long to wait for a token's `refresh:<id>` lease (held while another
   * process refreshes it) before skipping the token; default 30 000 ms.
   */
  waitMs?: number;
}

/**
 * Returns a new random key: 32 bytes from `crypto.getRandomValues`, in
 * base64, ready for `TOKENSTORE_KEY`.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { generateEncryptionKey } from "@tokenstore/tokenstore";
 *
 * const key = generateEncryptionKey(); // 32 random bytes, base64
 * assertEquals(key.length, 44);
 * ```
 *
 * @returns The key in standard base64.
 */
export function generateEncryptionKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(KEY_BYTES));
  return btoa(String.fromCharCode(...bytes));
}

/**
 * A {@linkcode TokenStore} that encrypts the secret fields of every token
 * before the inner store sees them. Matching, merging, leases and closing are
 * the inner store's.
 *
 * @example Rotate keys
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import {
 *   EncryptedTokenStore,
 *   generateEncryptionKey,
 *   OAuthToken,
 * } from "@tokenstore/tokenstore";
 * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
 *
 * const inner = new MemoryTokenStore();
 * const oldKey = generateEncryptionKey();
 * await new EncryptedTokenStore(inner, { keys: [oldKey] }).saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * // A new first key encrypts; the old one still decrypts until rekeyed.
 * const rotated = new EncryptedTokenStore(inner, {
 *   keys: [generateEncryptionKey(), oldKey],
 * });
 * assertEquals((await rotated.rekey()).rekeyed, 1);
 * ```
 */
export class EncryptedTokenStore implements TokenStore {
  #inner: TokenStore;
  #cipher: TokenCipher;

  /**
   * Wraps `inner`. Keys are checked here and imported on first use.
   *
   * @param inner The store that keeps the encrypted tokens.
   * @param options The keys, first one encrypting, and plaintext handling.
   * @throws {TypeError} when a key is not base64 or not 32 bytes (the key is never echoed).
   */
  constructor(inner: TokenStore, options: EncryptedTokenStoreOptions) {
    if (
      inner === null || typeof inner !== "object" ||
      typeof inner.findToken !== "function"
    ) {
      throw new TypeError("Invalid inner store: expected a TokenStore");
    }
    this.#cipher = new TokenCipher(
      options?.keys,
      options?.acceptPlaintext ?? false,
    );
    this.#inner = inner;
  }

  /**
   * Wraps `inner` with the keys in an environment variable (default
   * `TOKENSTORE_KEY`: base64 keys separated by commas, the first encrypting).
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import {
   *   EncryptedTokenStore,
   *   generateEncryptionKey,
   *   OAuthToken,
   * } from "@tokenstore/tokenstore";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * // In production: `{ env: Deno.env }` (or `process.env` wrapped in a `get`).
   * const env = new Map([["TOKENSTORE_KEY", generateEncryptionKey()]]);
   * const store = EncryptedTokenStore.fromEnv(new MemoryTokenStore(), { env });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * assertEquals((await store.findTokenById(saved.id!))?.refreshToken, "1000.r");
   * ```
   *
   * @param inner The store that keeps the encrypted tokens.
   * @param options Where to read the variable, its name, plaintext handling.
   * @returns The store.
   * @throws {TypeError} when the variable is unset or holds a bad key.
   */
  static fromEnv(
    inner: TokenStore,
    options: EncryptedTokenStoreEnvOptions,
  ): EncryptedTokenStore {
    const variable = options.variable ?? "TOKENSTORE_KEY";
    const keys = options.env.get(variable);
    if (keys === undefined || keys.trim() === "") {
      throw new TypeError(
        `Cannot encrypt tokens: environment variable "${variable}" is not set`,
      );
    }
    return new EncryptedTokenStore(inner, {
      keys,
      acceptPlaintext: options.acceptPlaintext,
    });
  }

  /** The inner store's leases (`undefined` when it has none). */
  get lock(): TokenLock | undefined {
    return this.#inner.lock;
  }

  /**
   * The inner store's token statuses, as they are (`undefined` when it has
   * none): a status holds no secret, so nothing is encrypted.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import {
   *   EncryptedTokenStore,
   *   generateEncryptionKey,
   *   OAuthToken,
   * } from "@tokenstore/tokenstore";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * const inner = new MemoryTokenStore();
   * const store = new EncryptedTokenStore(inner, { keys: [generateEncryptionKey()] });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * await store.status?.put({ id: saved.id!, state: "ok", failures: 0 });
   * assertEquals((await inner.status.get(saved.id!))?.state, "ok");
   * ```
   */
  get status(): TokenStatusStore | undefined {
    return this.#inner.status;
  }

  /** The stored (encrypted) token matching `plan`, trying every key. */
  async #findStored(
    plan: QueryPlan,
    ring: Keyring,
  ): Promise<OAuthToken | null> {
    const secret = plan.conditions.find(([field]) => isSecretField(field));
    const plain = Object.fromEntries(plan.conditions) as TokenQuery;
    if (secret === undefined) return await this.#inner.findToken(plain);
    const [field, value] = secret as [SecretField, string];
    for (const key of ring.all) {
      const encrypted = await this.#cipher.encryptValue(key, field, value);
      // Too long to have been stored: nothing can match.
      if (encrypted === null) return null;
      const found = await this.#inner.findToken({
        ...plain,
        [field]: encrypted,
      });
      if (found !== null) return found;
    }
    return this.#cipher.acceptPlaintext
      ? await this.#inner.findToken(plain)
      : null;
  }

  /**
   * Finds a token by the matching rules; secret values in the query are
   * encrypted with each key in turn.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import {
   *   EncryptedTokenStore,
   *   generateEncryptionKey,
   *   OAuthToken,
   * } from "@tokenstore/tokenstore";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * const store = new EncryptedTokenStore(new MemoryTokenStore(), {
   *   keys: [generateEncryptionKey()],
   * });
   * await store.saveToken(new OAuthToken({ accessToken: "1000.a" }));
   * assertEquals((await store.findToken({ accessToken: "1000.a" }))?.accessToken, "1000.a");
   * assertEquals(await store.findToken({ accessToken: "1000.unknown" }), null);
   * ```
   *
   * @param query A query or a token (merge semantics).
   * @returns The decrypted token, or `null`.
   * @throws {TokenStoreError} `CORRUPT` when the stored token cannot be decrypted.
   */
  async findToken(query: TokenQuery | OAuthToken): Promise<OAuthToken | null> {
    const plan = planQuery(query);
    const ring = await this.#cipher.ring();
    const stored = await this.#findStored(plan, ring);
    return mergeFound(
      query,
      stored && await this.#cipher.decrypt(stored, ring),
    );
  }

  /**
   * Encrypts the token's secrets with the first key and saves it in the
   * inner store (insert or update by the matching rules). A token stored
   * under an older key, or in plaintext, is updated in place.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import {
   *   EncryptedTokenStore,
   *   generateEncryptionKey,
   *   OAuthToken,
   * } from "@tokenstore/tokenstore";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * const store = new EncryptedTokenStore(new MemoryTokenStore(), {
   *   keys: [generateEncryptionKey()],
   * });
   * const saved = await store.saveToken(
   *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
   * );
   * assertEquals(saved.refreshToken, "1000.r"); // the caller gets plaintext back
   * ```
   *
   * @param token The token, secrets in plaintext.
   * @returns The saved token (plaintext), id set.
   * @throws {TokenStoreError} `INVALID_TOKEN` for a token the inner store rejects.
   */
  async saveToken(token: OAuthToken): Promise<OAuthToken> {
    const checked = validateForSave(token);
    const ring = await this.#cipher.ring();
    let id = checked.id;
    if (
      id === undefined && (ring.all.length > 1 || this.#cipher.acceptPlaintext)
    ) {
      // The inner store matches by the first key's ciphertext only.
      const plan = planSave(checked);
      if (plan?.conditions.some(([field]) => isSecretField(field))) {
        id = (await this.#findStored(plan, ring))?.id;
      }
    }
    const stored = await this.#inner.saveToken(
      await this.#cipher.encrypt(checked, ring.current, id),
    );
    return stored.id === checked.id ? checked : checked.with({ id: stored.id });
  }

  /**
   * Deletes the token with this id from the inner store.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import {
   *   EncryptedTokenStore,
   *   generateEncryptionKey,
   * } from "@tokenstore/tokenstore";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * const store = new EncryptedTokenStore(new MemoryTokenStore(), {
   *   keys: [generateEncryptionKey()],
   * });
   * assertEquals(await store.deleteToken("a1"), false);
   * ```
   *
   * @param id The id.
   * @returns `true` if a token was deleted.
   */
  deleteToken(id: string): Promise<boolean> {
    return this.#inner.deleteToken(id);
  }

  /**
   * Every stored token, decrypted.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import {
   *   EncryptedTokenStore,
   *   generateEncryptionKey,
   * } from "@tokenstore/tokenstore";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * const store = new EncryptedTokenStore(new MemoryTokenStore(), {
   *   keys: [generateEncryptionKey()],
   * });
   * assertEquals(await store.getTokens(), []);
   * ```
   *
   * @returns The tokens.
   * @throws {TokenStoreError} `CORRUPT` naming the first token that cannot be decrypted.
   */
  async getTokens(): Promise<OAuthToken[]> {
    const ring = await this.#cipher.ring();
    const stored = await this.#inner.getTokens();
    return await Promise.all(stored.map((t) => this.#cipher.decrypt(t, ring)));
  }

  /**
   * Deletes every token in the inner store.
   *
   * @example Usage
   * ```ts
   * import { EncryptedTokenStore, generateEncryptionKey } from "@tokenstore/tokenstore";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * await new EncryptedTokenStore(new MemoryTokenStore(), { keys: [generateEncryptionKey()] }).deleteTokens();
   * ```
   */
  deleteTokens(): Promise<void> {
    return this.#inner.deleteTokens();
  }

  /**
   * The token with this id, decrypted.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import {
   *   EncryptedTokenStore,
   *   generateEncryptionKey,
   * } from "@tokenstore/tokenstore";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * const store = new EncryptedTokenStore(new MemoryTokenStore(), {
   *   keys: [generateEncryptionKey()],
   * });
   * assertEquals(await store.findTokenById("a1"), null);
   * ```
   *
   * @param id The id.
   * @returns The token, or `null`.
   * @throws {TokenStoreError} `CORRUPT` when it cannot be decrypted.
   */
  async findTokenById(id: string): Promise<OAuthToken | null> {
    const ring = await this.#cipher.ring();
    const stored = await this.#inner.findTokenById(id);
    return stored && await this.#cipher.decrypt(stored, ring);
  }

  /**
   * Re-encrypts every token that is not yet encrypted with the first key
   * (older keys, or plaintext with `acceptPlaintext`), each under its
   * `refresh:<id>` lease when the inner store has leases, re-reading it
   * there so a concurrent refresh is not undone. Tokens already on the first
   * key are checked to decrypt. Afterwards the older keys can be dropped.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import {
   *   EncryptedTokenStore,
   *   generateEncryptionKey,
   * } from "@tokenstore/tokenstore";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * const store = new EncryptedTokenStore(new MemoryTokenStore(), {
   *   keys: [generateEncryptionKey()],
   * });
   * assertEquals((await store.rekey()).scanned, 0);
   * ```
   *
   * @param options How long to wait for a busy lease.
   * @returns What was done; ids of tokens skipped or undecryptable.
   */
  async rekey(options: RekeyOptions = {}): Promise<RekeyResult> {
    return await this.#cipher.rekey(this.#inner, options.waitMs ?? 30_000);
  }

  /**
   * Closes the inner store.
   *
   * @example Usage
   * ```ts
   * import { EncryptedTokenStore, generateEncryptionKey } from "@tokenstore/tokenstore";
   * import { MemoryTokenStore } from "@tokenstore/tokenstore/memory";
   *
   * await new EncryptedTokenStore(new MemoryTokenStore(), { keys: [generateEncryptionKey()] }).close();
   * ```
   */
  async close(): Promise<void> {
    await this.#inner.close?.();
  }
}
