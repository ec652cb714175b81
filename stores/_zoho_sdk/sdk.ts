/**
 * The parts of the official Zoho CRM SDKs (`@zohocrm/typescript-sdk-8.0`,
 * `@zohocrm/nodejs-sdk-8.0`) the bridge uses, as structural types: the
 * package never imports an SDK, the caller passes its classes. Also the
 * check of what was passed, and the base class a store must extend (the
 * Node.js SDK refuses a store that is not an instance of its `TokenStore`).
 *
 * @module
 */

/** The SDK's `UserSignature`: the user's name, usually an e-mail address. */
export interface ZohoSdkUserSignature {
  /** The user's name. */
  getName(): string | null;
}

/**
 * The SDK's `OAuthToken`, by the getters and setters its own stores use.
 * Expiry is an epoch-milliseconds string (`expiresIn`), as the SDK keeps it.
 */
export interface ZohoSdkOAuthToken {
  /** The store-assigned id. */
  getId(): string | null;
  /** Sets the id. */
  setId(id: string | null): void;
  /** The user's signature. */
  getUserSignature(): ZohoSdkUserSignature | null;
  /** Sets the user's signature. */
  setUserSignature(userSignature: ZohoSdkUserSignature | null): void;
  /** The OAuth client id. */
  getClientId(): string | null;
  /** Sets the OAuth client id. */
  setClientId(clientId: string | null): void;
  /** The OAuth client secret. */
  getClientSecret(): string | null;
  /** Sets the OAuth client secret. */
  setClientSecret(clientSecret: string | null): void;
  /** The redirect URL. */
  getRedirectURL(): string | null;
  /** Sets the redirect URL. */
  setRedirectURL(redirectUrl: string | null): void;
  /** The grant token (authorization code). */
  getGrantToken(): string | null;
  /** Sets the grant token. */
  setGrantToken(grantToken: string | null): void;
  /** The refresh token. */
  getRefreshToken(): string | null;
  /** Sets the refresh token. */
  setRefreshToken(refreshToken: string | null): void;
  /** The access token. */
  getAccessToken(): string | null;
  /** Sets the access token. */
  setAccessToken(accessToken: string | null): void;
  /** When the access token expires: epoch milliseconds as a string. */
  getExpiresIn(): string | null;
  /** Sets the expiry (epoch milliseconds as a string). */
  setExpiresIn(expiresIn: string | null): void;
  /** The API domain, e.g. `https://www.zohoapis.com`. */
  getAPIDomain(): string | null;
  /** Sets the API domain. */
  setAPIDomain(apiDomain: string | null): void;
}

/**
 * What the bridge needs of an SDK: its `OAuthToken` and `UserSignature`
 * classes, and for the Node.js SDK its `TokenStore` class (or the module
 * namespace holding it), which the bridge's store then extends. The
 * TypeScript SDK's module (`import * as ZOHOCRMSDK`) is such an object.
 */
export interface ZohoSdk<T extends ZohoSdkOAuthToken = ZohoSdkOAuthToken> {
  /** The SDK's `OAuthToken` class: the SDK checks `instanceof` it. */
  // deno-lint-ignore no-explicit-any
  OAuthToken: abstract new (...args: any[]) => T;
  /** The SDK's `UserSignature` class. */
  UserSignature: new (name: string) => ZohoSdkUserSignature;
  /**
   * The Node.js SDK's `TokenStore` class, or a module namespace exporting
   * it as `TokenStore`; the TypeScript SDK's is an interface only.
   */
  TokenStore?: unknown;
}

const TOKEN_METHODS = [
  "getId",
  "setId",
  "getUserSignature",
  "setUserSignature",
  "getClientId",
  "setClientId",
  "getClientSecret",
  "setClientSecret",
  "getRedirectURL",
  "setRedirectURL",
  "getGrantToken",
  "setGrantToken",
  "getRefreshToken",
  "setRefreshToken",
  "getAccessToken",
  "setAccessToken",
  "getExpiresIn",
  "setExpiresIn",
  "getAPIDomain",
  "setAPIDomain",
] as const;

/**
 * Checks `sdk` and resolves the class the bridge's store extends (the
 * Node.js SDK's `TokenStore`, or `Object`).
 *
 * @throws {TypeError} Naming what is missing.
 */
export function checkSdk(
  sdk: ZohoSdk,
): abstract new () => object {
  if (sdk === null || typeof sdk !== "object" && typeof sdk !== "function") {
    throw new TypeError(
      'Invalid Zoho SDK bridge option "sdk": expected the SDK module or { OAuthToken, UserSignature, TokenStore }',
    );
  }
  for (const name of ["OAuthToken", "UserSignature"] as const) {
    if (typeof sdk[name] !== "function") {
      throw new TypeError(
        `Invalid Zoho SDK bridge option "sdk": "${name}" is missing or not a class`,
      );
    }
  }
  const prototype = sdk.OAuthToken.prototype as Record<string, unknown>;
  const missing = TOKEN_METHODS.filter((name) =>
    typeof prototype[name] !== "function"
  );
  if (missing.length > 0) {
    throw new TypeError(
      `Invalid Zoho SDK bridge option "sdk": "OAuthToken" has no method ${
        missing.map((name) => `"${name}"`).join(", ")
      }`,
    );
  }
  const store = sdk.TokenStore;
  if (typeof store === "function") return store as abstract new () => object;
  const nested = (store as { TokenStore?: unknown } | undefined)?.TokenStore;
  if (typeof nested === "function") return nested as abstract new () => object;
  if (store !== undefined && (store === null || typeof store !== "object")) {
    throw new TypeError(
      'Invalid Zoho SDK bridge option "sdk": "TokenStore" must be the SDK\'s TokenStore class',
    );
  }
  return Object;
}
