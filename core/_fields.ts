/**
 * The token model's field lists, written once (private). `core/token.ts`
 * exports them as `TOKEN_FIELDS` and `SECRET_FIELDS`; the modules it imports
 * itself (`_redact.ts`) take them from here, so that no import cycle closes
 * through the model. `token.ts` checks at compile time that
 * {@linkcode FIELDS} names exactly the keys of `OAuthTokenInit`.
 *
 * @module
 */

/**
 * Every field of a token, in the order of `OAuthTokenInit`.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FIELDS } from "./_fields.ts";
 *
 * assertEquals(FIELDS.length, 10);
 * assertEquals(FIELDS.includes("expiresAt"), true);
 * ```
 */
export const FIELDS = Object.freeze(
  [
    "id",
    "userName",
    "clientId",
    "clientSecret",
    "redirectUrl",
    "grantToken",
    "refreshToken",
    "accessToken",
    "expiresAt",
    "apiDomain",
  ] as const,
);

/** A field of a token. */
export type Field = typeof FIELDS[number];

/**
 * The secret fields: never printed, scrubbed from messages, encrypted by
 * `EncryptedTokenStore`.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SECRETS } from "./_fields.ts";
 *
 * assertEquals(SECRETS, ["clientSecret", "grantToken", "refreshToken", "accessToken"]);
 * ```
 */
export const SECRETS = Object.freeze(
  [
    "clientSecret",
    "grantToken",
    "refreshToken",
    "accessToken",
  ] as const satisfies readonly Field[],
);

/** A secret field. */
export type SecretField = typeof SECRETS[number];

const SECRET_SET: ReadonlySet<string> = new Set(SECRETS);

/**
 * Whether `field` is a secret field.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isSecretField } from "./_fields.ts";
 *
 * assertEquals(isSecretField("accessToken"), true);
 * assertEquals(isSecretField("userName"), false);
 * ```
 */
export function isSecretField(field: string): field is SecretField {
  return SECRET_SET.has(field);
}
