/**
 * The OAuth token model: an immutable {@linkcode OAuthToken} whose secrets are
 * never printed.
 *
 * @example Create, update and print a token
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const token = new OAuthToken({
 *   userName: "ada@example.com",
 *   clientId: "1000.CLIENT",
 *   refreshToken: "1000.refresh-token-value",
 * });
 * const fresh = token.with({
 *   accessToken: "1000.access",
 *   expiresAt: Date.now() + 3_600_000,
 * });
 * assertEquals(fresh.isExpired(), false);
 * assertEquals(token.accessToken, undefined); // tokens are immutable
 * // Secrets are redacted in JSON, String() and console.log:
 * assertEquals(JSON.stringify(fresh).includes("refresh-token-value"), false);
 * ```
 *
 * @module
 */

import { type Field, FIELDS, SECRETS } from "./_fields.ts";
import { readField } from "./_read_field.ts";
import { redact } from "./_redact.ts";
import { expiresAtProblem, stringProblem } from "./_field_check.ts";
import { TokenStoreError } from "./errors.ts";

/** The fields of an {@linkcode OAuthToken}. */
export interface OAuthTokenInit {
  /** Store-assigned id, at most 10 characters (fits Zoho's `varchar(10)`). */
  id?: string;
  /** Zoho "user signature" name, usually the user's e-mail. */
  userName?: string;
  /** OAuth client id. */
  clientId?: string;
  /** OAuth client secret (secret). */
  clientSecret?: string;
  /** Redirect URL registered for the client. */
  redirectUrl?: string;
  /** Authorization code, Zoho's "grant token" (secret). */
  grantToken?: string;
  /** Refresh token (secret). */
  refreshToken?: string;
  /** Access token (secret). */
  accessToken?: string;
  /** Epoch milliseconds when `accessToken` expires (Zoho: `expiry_time`). */
  expiresAt?: number;
  /** API domain of the user's data center, e.g. `https://www.zohoapis.com`. */
  apiDomain?: string;
}

/**
 * Every field of {@linkcode OAuthTokenInit}, in the order of the interface:
 * the one list of token fields that stores, formats and tests go by.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TOKEN_FIELDS } from "@tokenstore/tokenstore";
 *
 * assertEquals(TOKEN_FIELDS.length, 10);
 * assertEquals(TOKEN_FIELDS.includes("expiresAt"), true);
 * ```
 */
export const TOKEN_FIELDS: readonly (keyof OAuthTokenInit)[] = FIELDS;

// `FIELDS` names exactly the keys of `OAuthTokenInit` (a compile error otherwise).
const _fieldsAreTheKeys: [keyof OAuthTokenInit] extends [Field]
  ? [Field] extends [keyof OAuthTokenInit] ? true : never
  : never = true;

/** Names of the string fields of {@linkcode OAuthTokenInit}. */
type StringField = Exclude<keyof OAuthTokenInit, "expiresAt">;

const STRING_FIELDS = TOKEN_FIELDS.filter((field): field is StringField =>
  field !== "expiresAt"
);

/**
 * The fields that are secret and never printed.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SECRET_FIELDS } from "@tokenstore/tokenstore";
 *
 * assertEquals(SECRET_FIELDS.includes("refreshToken"), true);
 * assertEquals(SECRET_FIELDS.includes("userName"), false);
 * ```
 */
export const SECRET_FIELDS: readonly (keyof OAuthTokenInit)[] = SECRETS;

/**
 * Longest value accepted for any string field (characters).
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MAX_FIELD_LENGTH } from "@tokenstore/tokenstore";
 *
 * assertEquals(MAX_FIELD_LENGTH, 4096);
 * ```
 */
export const MAX_FIELD_LENGTH = 4096;

/**
 * Largest `expiresAt` accepted: 8.64e15 epoch milliseconds, the last instant
 * a JavaScript `Date` can represent (year 275760). Any finite number from 0
 * to it is accepted, fractions too, and every store holds it exactly: as
 * text (SQL `expiry_time`, Zoho CSV) an integer takes at most 16 characters
 * and a fraction at most 24, which the tables the SQL stores create hold
 * (Zoho's own `varchar(20)` holds every integer and refuses longer text with
 * `INVALID_TOKEN`). A token endpoint's longer lifetime is to be clamped to it.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MAX_EXPIRES_AT } from "@tokenstore/tokenstore";
 *
 * assertEquals(
 *   new Date(MAX_EXPIRES_AT).toISOString(),
 *   "+275760-09-13T00:00:00.000Z",
 * );
 * ```
 */
export const MAX_EXPIRES_AT = 8_640_000_000_000_000;

const ID_PATTERN = /^[A-Za-z0-9_-]{1,10}$/;

/**
 * Checks that `id` is a valid token id (1–10 characters of `A-Z a-z 0-9 _ -`)
 * and returns it.
 *
 * @example Usage
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { TokenStoreError, validateId } from "@tokenstore/tokenstore";
 *
 * assertEquals(validateId("a1B2c3"), "a1B2c3");
 * assertThrows(() => validateId(""), TokenStoreError);
 * ```
 *
 * @param id The value to check.
 * @param code The error code to raise when it is invalid.
 * @returns The id.
 */
export function validateId(
  id: unknown,
  code: "INVALID_QUERY" | "INVALID_TOKEN" = "INVALID_QUERY",
): string {
  if (typeof id !== "string") {
    throw new TokenStoreError(
      code,
      `Invalid token field "id": expected a string, got ${typeof id}`,
    );
  }
  if (!ID_PATTERN.test(id)) {
    const shown = id.length > 40 ? `${id.slice(0, 40)}…` : id;
    throw new TokenStoreError(
      code,
      `Invalid token field "id" ${
        JSON.stringify(shown)
      }: expected 1 to 10 characters of A-Z, a-z, 0-9, "_" or "-"`,
    );
  }
  return id;
}

/**
 * Checks one field of a token or query: strings non-empty, at most
 * {@linkcode MAX_FIELD_LENGTH} characters, well-formed Unicode (no lone
 * surrogate) and without NUL (U+0000), since a driver would truncate or
 * replace such a value; `id` by {@linkcode validateId}; `expiresAt` a finite
 * number from 0 to {@linkcode MAX_EXPIRES_AT}. Values are never echoed (they
 * may be secrets).
 *
 * @example Usage
 * ```ts
 * import { validateField } from "@tokenstore/tokenstore";
 *
 * validateField("userName", "ada@example.com", "INVALID_QUERY"); // passes
 * ```
 *
 * @example A value no store could hold as it is
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TokenStoreError, validateField } from "@tokenstore/tokenstore";
 *
 * let code: string | undefined;
 * try {
 *   validateField("userName", "ada\u0000@example.com", "INVALID_TOKEN");
 * } catch (error) {
 *   code = (error as TokenStoreError).code;
 * }
 * assertEquals(code, "INVALID_TOKEN");
 * ```
 *
 * @param field The field's name.
 * @param value The value to check.
 * @param code The error code to raise.
 * @throws {TokenStoreError} naming the field.
 */
export function validateField(
  field: keyof OAuthTokenInit,
  value: unknown,
  code: "INVALID_QUERY" | "INVALID_TOKEN",
): void {
  if (field === "id") {
    validateId(value, code);
    return;
  }
  const problem = field === "expiresAt"
    ? expiresAtProblem(value, MAX_EXPIRES_AT)
    : stringProblem(value, MAX_FIELD_LENGTH);
  if (problem !== undefined) {
    throw new TokenStoreError(
      code,
      `Invalid token field "${field}": ${problem}`,
    );
  }
}

/**
 * An OAuth token as stored by a {@linkcode TokenStore}. Immutable: use
 * {@linkcode OAuthToken.prototype.with} to derive an updated copy. Secrets
 * (`clientSecret`, `grantToken`, `refreshToken`, `accessToken`) are redacted in
 * `toJSON()`, `String()` and `Deno.inspect()`/`console.log`.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const token = new OAuthToken({
 *   userName: "ada@example.com",
 *   refreshToken: "1000.secret-refresh",
 * });
 * assertEquals(token.userName, "ada@example.com");
 * assertEquals(token.refreshToken, "1000.secret-refresh"); // readable in code
 * assertEquals(String(token).includes("secret-refresh"), false); // not printed
 * ```
 */
export class OAuthToken implements Readonly<OAuthTokenInit> {
  #record: OAuthTokenInit;

  /**
   * Creates a token. Every given field is checked by
   * {@linkcode validateField}; `undefined` fields are left out.
   *
   * @param init The token's fields.
   * @throws {TokenStoreError} `INVALID_TOKEN` naming the first bad field.
   */
  constructor(init: OAuthTokenInit) {
    if (init === null || typeof init !== "object") {
      throw new TokenStoreError(
        "INVALID_TOKEN",
        `Invalid token: expected an object, got ${
          init === null ? "null" : typeof init
        }`,
      );
    }
    if (init instanceof OAuthToken && !(#record in init)) {
      throw new TokenStoreError(
        "INVALID_TOKEN",
        "Invalid token: an object inheriting from OAuthToken that its constructor did not make",
      );
    }
    const record: OAuthTokenInit = {};
    for (const field of STRING_FIELDS) {
      const value = readField(init, field, "INVALID_TOKEN");
      if (value === undefined) continue;
      validateField(field, value, "INVALID_TOKEN");
      record[field] = value as string;
    }
    const expiresAt = readField(init, "expiresAt", "INVALID_TOKEN");
    if (expiresAt !== undefined) {
      validateField("expiresAt", expiresAt, "INVALID_TOKEN");
      record.expiresAt = expiresAt as number;
    }
    this.#record = record;
    Object.freeze(this);
  }

  /** Store-assigned id. */
  get id(): string | undefined {
    return this.#record.id;
  }
  /** Zoho "user signature" name, usually the user's e-mail. */
  get userName(): string | undefined {
    return this.#record.userName;
  }
  /** OAuth client id. */
  get clientId(): string | undefined {
    return this.#record.clientId;
  }
  /** OAuth client secret. */
  get clientSecret(): string | undefined {
    return this.#record.clientSecret;
  }
  /** Redirect URL registered for the client. */
  get redirectUrl(): string | undefined {
    return this.#record.redirectUrl;
  }
  /** Authorization code (Zoho "grant token"). */
  get grantToken(): string | undefined {
    return this.#record.grantToken;
  }
  /** Refresh token. */
  get refreshToken(): string | undefined {
    return this.#record.refreshToken;
  }
  /** Access token. */
  get accessToken(): string | undefined {
    return this.#record.accessToken;
  }
  /** Epoch milliseconds when the access token expires. */
  get expiresAt(): number | undefined {
    return this.#record.expiresAt;
  }
  /** API domain of the user's data center. */
  get apiDomain(): string | undefined {
    return this.#record.apiDomain;
  }

  /**
   * Returns a new token with `patch` applied. A field set to `undefined` in
   * the patch is removed.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const token = new OAuthToken({
   *   userName: "ada@example.com",
   *   refreshToken: "1000.r",
   * });
   * const updated = token.with({
   *   accessToken: "1000.a",
   *   expiresAt: Date.now() + 3_600_000,
   * });
   * assertEquals(updated.accessToken, "1000.a");
   * assertEquals(updated.refreshToken, "1000.r");
   * assertEquals(token.accessToken, undefined);
   * ```
   *
   * @param patch The fields to change.
   * @returns The updated copy.
   */
  with(patch: Partial<OAuthTokenInit>): OAuthToken {
    // a token's fields are getters, which spreading would drop
    const fields = patch instanceof OAuthToken ? patch.toRecord() : patch;
    return new OAuthToken({ ...this.#record, ...fields });
  }

  /**
   * Whether the access token is missing or expires within `skewMs` of `now`.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const token = new OAuthToken({ accessToken: "1000.a", expiresAt: 10_000 });
   * assertEquals(token.isExpired({ now: 5_000 }), false);
   * assertEquals(token.isExpired({ now: 5_000, skewMs: 6_000 }), true);
   * ```
   *
   * @param options `now` (epoch ms, default `Date.now()`) and `skewMs` (default 0).
   * @returns `true` when the token must be refreshed.
   */
  isExpired(options: { now?: number; skewMs?: number } = {}): boolean {
    const { accessToken, expiresAt } = this.#record;
    if (accessToken === undefined || expiresAt === undefined) return true;
    const now = options.now ?? Date.now();
    return expiresAt - (options.skewMs ?? 0) <= now;
  }

  /**
   * Every field, secrets included, for stores to persist. Do not log it.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const record = new OAuthToken({
   *   userName: "ada@example.com",
   *   refreshToken: "1000.r",
   * }).toRecord();
   * assertEquals(record, { userName: "ada@example.com", refreshToken: "1000.r" });
   * ```
   *
   * @returns A plain object with the defined fields.
   */
  toRecord(): OAuthTokenInit {
    return { ...this.#record };
  }

  /**
   * A printable form with every secret redacted.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const token = new OAuthToken({
   *   userName: "ada@example.com",
   *   refreshToken: "1000.refresh-token",
   * });
   * assertEquals(token.toJSON().refreshToken, "1000…(redacted)");
   * assertEquals(token.toJSON().userName, "ada@example.com");
   * ```
   *
   * @returns The fields, secrets redacted.
   */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...this.#record };
    for (const field of SECRET_FIELDS) {
      if (field in out) out[field] = redact(out[field] as string);
    }
    return out;
  }

  /**
   * A one-line description with every secret redacted.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const token = new OAuthToken({
   *   userName: "ada@example.com",
   *   accessToken: "1000.a-token",
   * });
   * assertEquals(
   *   String(token),
   *   'OAuthToken {"userName":"ada@example.com","accessToken":"100…(redacted)"}',
   * );
   * ```
   *
   * @returns `OAuthToken {...}` with secrets redacted.
   */
  toString(): string {
    return `OAuthToken ${JSON.stringify(this.toJSON())}`;
  }

  /** Deno's `console.log` / `Deno.inspect` hook: secrets redacted. */
  [Symbol.for("Deno.customInspect")](
    inspect: (value: unknown, options?: unknown) => string,
    options?: unknown,
  ): string {
    return `OAuthToken ${inspect(this.toJSON(), options)}`;
  }

  /** Node's `util.inspect` hook: secrets redacted. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}
