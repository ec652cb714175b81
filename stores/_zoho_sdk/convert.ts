/**
 * Between the SDK's `OAuthToken` (getters and setters, expiry as an
 * epoch-milliseconds string, the user in a `UserSignature`, empty strings
 * for missing values) and tokenstore's {@linkcode OAuthToken}; and the
 * queries that find an SDK token the way the SDK's own `FileStore` does.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import { OAuthToken, type OAuthTokenInit } from "../../core/token.ts";
import type { TokenQuery } from "../../core/token_store.ts";
import type { ZohoSdk, ZohoSdkOAuthToken } from "./sdk.ts";

/** A value the SDK holds, `undefined` when it has none (`null` or `""`). */
function value(raw: unknown): string | undefined {
  return typeof raw === "string" && raw !== "" ? raw : undefined;
}

/** The fields of an SDK token, as tokenstore names them. */
export function fieldsOf(sdkToken: ZohoSdkOAuthToken): OAuthTokenInit {
  const expiresIn = value(sdkToken.getExpiresIn());
  let expiresAt: number | undefined;
  if (expiresIn !== undefined) {
    expiresAt = Number(expiresIn);
    if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) {
      throw new TokenStoreError(
        "INVALID_TOKEN",
        `Cannot save token: its expiry "${expiresIn}" is not epoch milliseconds`,
      );
    }
  }
  return {
    id: value(sdkToken.getId()),
    userName: value(sdkToken.getUserSignature()?.getName()),
    clientId: value(sdkToken.getClientId()),
    clientSecret: value(sdkToken.getClientSecret()),
    redirectUrl: value(sdkToken.getRedirectURL()),
    grantToken: value(sdkToken.getGrantToken()),
    refreshToken: value(sdkToken.getRefreshToken()),
    accessToken: value(sdkToken.getAccessToken()),
    expiresAt,
    apiDomain: value(sdkToken.getAPIDomain()),
  };
}

/** The SDK token as a tokenstore token, to save. */
export function toToken(sdkToken: ZohoSdkOAuthToken): OAuthToken {
  const fields = fieldsOf(sdkToken);
  for (const key of Object.keys(fields) as (keyof OAuthTokenInit)[]) {
    if (fields[key] === undefined) delete fields[key];
  }
  return new OAuthToken(fields);
}

/**
 * A new SDK token holding `token`, with what it lacks taken from `asked`
 * (the SDK's token the lookup started from: its user signature, client and
 * redirect URL).
 */
export function toSdkToken<T extends ZohoSdkOAuthToken>(
  sdk: ZohoSdk<T>,
  token: OAuthToken,
  asked?: ZohoSdkOAuthToken,
): T {
  const out = Reflect.construct(sdk.OAuthToken, [
    null,
    null,
    null,
    null,
    null,
    null,
    null,
    null,
  ]) as T;
  const userName = token.userName;
  out.setId(token.id ?? null);
  out.setUserSignature(
    userName === undefined
      ? asked?.getUserSignature() ?? null
      : new sdk.UserSignature(userName),
  );
  out.setClientId(token.clientId ?? value(asked?.getClientId()) ?? null);
  out.setClientSecret(
    token.clientSecret ?? value(asked?.getClientSecret()) ?? null,
  );
  out.setRedirectURL(
    token.redirectUrl ?? value(asked?.getRedirectURL()) ?? null,
  );
  out.setGrantToken(token.grantToken ?? null);
  out.setRefreshToken(token.refreshToken ?? null);
  out.setAccessToken(token.accessToken ?? null);
  out.setExpiresIn(
    token.expiresAt === undefined ? null : String(token.expiresAt),
  );
  out.setAPIDomain(token.apiDomain ?? null);
  return out;
}

/**
 * The queries that find `sdkToken`, in the order the SDK's `FileStore`
 * tries them: by id, by user name, by access token (when no client is
 * named), then by grant token or refresh token. Empty when nothing usable.
 */
export function queriesOf(sdkToken: ZohoSdkOAuthToken): TokenQuery[] {
  const id = value(sdkToken.getId());
  if (id !== undefined) return [{ id }];
  const userName = value(sdkToken.getUserSignature()?.getName());
  if (userName !== undefined) return [{ userName }];
  const accessToken = value(sdkToken.getAccessToken());
  if (
    accessToken !== undefined && value(sdkToken.getClientId()) === undefined &&
    value(sdkToken.getClientSecret()) === undefined
  ) {
    return [{ accessToken }];
  }
  const queries: TokenQuery[] = [];
  const grantToken = value(sdkToken.getGrantToken());
  if (grantToken !== undefined) queries.push({ grantToken });
  const refreshToken = value(sdkToken.getRefreshToken());
  if (refreshToken !== undefined) queries.push({ refreshToken });
  return queries;
}
