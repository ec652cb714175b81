/**
 * Zoho data centers: the accounts server's authorization and token
 * endpoints and the API domain of each.
 *
 * @example Look up a data center
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DATA_CENTERS } from "@tokenstore/tokenstore";
 *
 * assertEquals(DATA_CENTERS.EU.tokenUrl, "https://accounts.zoho.eu/oauth/v2/token");
 * assertEquals(DATA_CENTERS.EU.authorizeUrl, "https://accounts.zoho.eu/oauth/v2/auth");
 * assertEquals(DATA_CENTERS.EU.apiDomain, "https://www.zohoapis.eu");
 * ```
 *
 * @module
 */

/** A Zoho data center. */
export type DataCenter = "US" | "EU" | "IN" | "CN" | "JP" | "AU" | "CA" | "SA";

/** The endpoints of one Zoho data center. */
export interface DataCenterInfo {
  /** The accounts server, e.g. `https://accounts.zoho.com`. */
  readonly accountsUrl: string;
  /** The OAuth authorization endpoint, e.g. `https://accounts.zoho.com/oauth/v2/auth`. */
  readonly authorizeUrl: string;
  /** The OAuth token endpoint, e.g. `https://accounts.zoho.com/oauth/v2/token`. */
  readonly tokenUrl: string;
  /** The token revocation endpoint: the token endpoint + `/revoke`. */
  readonly revokeUrl: string;
  /** The API domain, e.g. `https://www.zohoapis.com`. */
  readonly apiDomain: string;
}

function dataCenter(accountsUrl: string, apiDomain: string): DataCenterInfo {
  const tokenUrl = `${accountsUrl}/oauth/v2/token`;
  return Object.freeze({
    accountsUrl,
    authorizeUrl: `${accountsUrl}/oauth/v2/auth`,
    tokenUrl,
    revokeUrl: `${tokenUrl}/revoke`,
    apiDomain,
  });
}

/**
 * Every Zoho data center's accounts token URL and API domain.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DATA_CENTERS } from "@tokenstore/tokenstore";
 *
 * assertEquals(
 *   DATA_CENTERS.CA.tokenUrl,
 *   "https://accounts.zohocloud.ca/oauth/v2/token",
 * );
 * ```
 */
export const DATA_CENTERS: Readonly<Record<DataCenter, DataCenterInfo>> = Object
  .freeze({
    US: dataCenter("https://accounts.zoho.com", "https://www.zohoapis.com"),
    EU: dataCenter("https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    IN: dataCenter("https://accounts.zoho.in", "https://www.zohoapis.in"),
    CN: dataCenter(
      "https://accounts.zoho.com.cn",
      "https://www.zohoapis.com.cn",
    ),
    JP: dataCenter("https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    AU: dataCenter(
      "https://accounts.zoho.com.au",
      "https://www.zohoapis.com.au",
    ),
    CA: dataCenter("https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
    SA: dataCenter("https://accounts.zoho.sa", "https://www.zohoapis.sa"),
  });

/**
 * Whether `value` names a Zoho data center.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isDataCenter } from "@tokenstore/tokenstore";
 *
 * assertEquals(isDataCenter("EU"), true);
 * assertEquals(isDataCenter("XX"), false);
 * ```
 *
 * @param value The value to check.
 * @returns `true` for one of `"US"`, `"EU"`, `"IN"`, `"CN"`, `"JP"`, `"AU"`, `"CA"`, `"SA"`.
 */
export function isDataCenter(value: unknown): value is DataCenter {
  return typeof value === "string" && Object.hasOwn(DATA_CENTERS, value);
}
