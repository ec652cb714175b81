/**
 * The authorization code flow with PKCE (design "Connect" rules 1–6):
 * `authorize` builds the URL to send a user to and the state cookie that
 * binds the flow to their browser; `handleCallback` checks everything the
 * callback brings — the provider's error, the state against the cookie, the
 * cookie's seal and age, single use across every process sharing the store,
 * the accounts server — before it sends anything, then exchanges the code
 * at the user's data center and saves the token.
 *
 * @module
 */

import type { RefreshWork } from "../_client/work.ts";
import { secretDigest } from "../_client/secret_key.ts";
import {
  DATA_CENTERS,
  type DataCenter,
  type DataCenterInfo,
} from "../data_centers.ts";
import { OAuthError } from "../errors.ts";
import type { OAuthToken } from "../token.ts";
import type { TokenLock } from "../token_store.ts";
import { codeChallenge, randomValue } from "./pkce.ts";
import {
  readCookie,
  setCookie,
  STATE_TTL_MS,
  StateSealer,
} from "./state_cookie.ts";

/** Options of `client.authorize`. */
export interface AuthorizeOptions {
  /** The scopes to ask for: Zoho's are joined with `,`, others' with a space. */
  scope: string | string[];
  /** Where the provider sends the user back. Default: the client's `redirectUrl`. */
  redirectUrl?: string;
  /** The user to store the token under (saved with it). */
  userName?: string;
  /** More query parameters for the authorization URL (e.g. `login_hint`). */
  params?: Record<string, string>;
}

/** What `client.authorize` resolves. */
export interface Authorization {
  /** The provider's authorization URL: answer the request with a 302 to it. */
  url: URL;
  /** The `Set-Cookie` value to send with that 302. */
  cookie: string;
}

/** What `client.handleCallback` resolves. */
export interface CallbackResult {
  /** The stored token. */
  token: OAuthToken;
  /** The `Set-Cookie` value that clears the state cookie. */
  cookie: string;
}

/** What a {@linkcode Connector} needs of its client. */
export interface ConnectConfig {
  clientId: string;
  clientSecret: string;
  redirectUrl?: string;
  authorizeUrl: string | undefined;
  tokenUrl: string;
  /** The client's data center, when it uses one (no `tokenUrl`). */
  dataCenter: DataCenter | undefined;
  now: () => number;
  lock: TokenLock | undefined;
  work: RefreshWork;
}

/** Parameters a caller's `params` may not replace. */
const FIXED = new Set([
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
]);

const ZOHO_ACCOUNTS = new Map<string, DataCenterInfo>(
  Object.values(DATA_CENTERS).map((dc) => [new URL(dc.accountsUrl).origin, dc]),
);

/** Zoho's `location` values of its data centers. */
const LOCATIONS: Readonly<Record<string, DataCenter>> = {
  us: "US",
  eu: "EU",
  in: "IN",
  cn: "CN",
  jp: "JP",
  au: "AU",
  ca: "CA",
  sa: "SA",
};

/** Single use of states without a lock (this process only). */
const MAX_USED = 10_000;

/** The authorization code flow of one client. */
export class Connector {
  #config: ConnectConfig;
  #sealer: StateSealer;
  #used = new Set<string>();

  constructor(config: ConnectConfig) {
    this.#config = config;
    this.#sealer = new StateSealer(config.clientSecret, config.clientId);
  }

  /** Whether the client talks to Zoho: a data center, or a Zoho authorization URL. */
  get #zoho(): boolean {
    const { dataCenter, authorizeUrl } = this.#config;
    return dataCenter !== undefined ||
      (authorizeUrl !== undefined &&
        ZOHO_ACCOUNTS.has(new URL(authorizeUrl).origin));
  }

  async authorize(options: AuthorizeOptions): Promise<Authorization> {
    if (options === null || typeof options !== "object") {
      throw new TypeError(
        "Cannot authorize: expected options { scope, redirectUrl?, userName?, params? }",
      );
    }
    const { authorizeUrl } = this.#config;
    if (authorizeUrl === undefined) {
      throw new TypeError(
        'Cannot authorize: the client has a "tokenUrl" and no "authorizeUrl"',
      );
    }
    const redirectUrl = redirectOf(
      options.redirectUrl ?? this.#config.redirectUrl,
    );
    const scope = scopeOf(options.scope, this.#zoho ? "," : " ");
    const userName = options.userName;
    if (
      userName !== undefined &&
      (typeof userName !== "string" || userName === "")
    ) {
      throw new TypeError(
        'Cannot authorize: "userName" must be a non-empty string',
      );
    }
    const state = randomValue();
    const verifier = randomValue();
    const url = new URL(authorizeUrl);
    const query = url.searchParams;
    query.set("response_type", "code");
    query.set("client_id", this.#config.clientId);
    query.set("redirect_uri", redirectUrl.href);
    query.set("scope", scope);
    query.set("state", state);
    query.set("code_challenge", await codeChallenge(verifier));
    query.set("code_challenge_method", "S256");
    if (this.#zoho) {
      query.set("access_type", "offline");
      query.set("prompt", "consent");
    }
    for (const [name, value] of Object.entries(options.params ?? {})) {
      if (FIXED.has(name) || typeof value !== "string") {
        throw new TypeError(
          `Cannot authorize: parameter "${name}" cannot be set through "params"`,
        );
      }
      query.set(name, value);
    }
    const cookie = setCookie(
      redirectUrl,
      await this.#sealer.seal({
        state,
        verifier,
        redirectUrl: redirectUrl.href,
        userName,
        createdAt: this.#config.now(),
      }),
    );
    return { url, cookie };
  }

  async handleCallback(request: Request): Promise<CallbackResult> {
    if (!(request instanceof Request)) {
      throw new TypeError("Cannot handle callback: expected a Request");
    }
    const params = new URL(request.url).searchParams;
    const error = params.get("error");
    if (error !== null) {
      const description = params.get("error_description") ?? undefined;
      throw new OAuthError(error, {
        description,
        message: `Authorization server answered "${error}"${
          description === undefined ? "" : `: ${description}`
        }`,
      });
    }
    const state = params.get("state");
    if (state === null || state === "") {
      throw invalidState("the callback has no state");
    }
    const value = readCookie(request);
    if (value === undefined) throw invalidState("no state cookie came with it");
    const sealed = await this.#sealer.open(value);
    if (sealed === null) {
      throw invalidState("the state cookie was not made by this client");
    }
    if (!await sameText(sealed.state, state)) {
      throw invalidState("it differs from the state cookie's");
    }
    const age = this.#config.now() - sealed.createdAt;
    if (age > STATE_TTL_MS || age < -STATE_TTL_MS) {
      throw invalidState("it is older than 10 minutes");
    }
    const code = params.get("code");
    if (code === null || code === "") {
      throw refused("invalid_request", "the callback has no code");
    }
    const dataCenter = this.#dataCenterOf(params);
    await this.#useOnce(state);
    const { token } = await this.#config.work.exchangeCode(code, {
      userName: sealed.userName,
      redirectUrl: sealed.redirectUrl,
      codeVerifier: sealed.verifier,
      apiDomain: dataCenter?.apiDomain,
    });
    return { token, cookie: setCookie(new URL(sealed.redirectUrl), "") };
  }

  /**
   * The data center the callback names (`accounts-server`, else
   * `location`), or the client's own; refused unless it is one of Zoho's
   * accounts servers or the origin of the client's token URL.
   */
  #dataCenterOf(params: URLSearchParams): DataCenterInfo | undefined {
    const { dataCenter, tokenUrl } = this.#config;
    const own = dataCenter === undefined ? undefined : DATA_CENTERS[dataCenter];
    const server = params.get("accounts-server");
    if (server !== null) {
      let origin: string | undefined;
      try {
        origin = new URL(server).origin;
      } catch {
        origin = undefined;
      }
      const zoho = origin === undefined ? undefined : ZOHO_ACCOUNTS.get(origin);
      if (zoho !== undefined) {
        return dataCenter === undefined ? undefined : zoho;
      }
      if (origin !== undefined && origin === new URL(tokenUrl).origin) {
        return own;
      }
      throw refused(
        "invalid_request",
        `accounts server "${
          origin ?? "(not a URL)"
        }" is neither a Zoho data center's nor the token URL's`,
      );
    }
    const location = params.get("location")?.toLowerCase();
    const named = location === undefined ? undefined : LOCATIONS[location];
    if (named !== undefined && dataCenter !== undefined) {
      return DATA_CENTERS[named];
    }
    return own;
  }

  /** Marks `state` used, across processes through the store's lock. */
  async #useOnce(state: string): Promise<void> {
    const key = `state:${await secretDigest(state)}`;
    const { lock } = this.#config;
    if (lock !== undefined) {
      // never released: it expires after the state could have
      const lease = await lock.acquire(key, { ttlMs: 2 * STATE_TTL_MS });
      if (lease === null) throw invalidState("it was used before");
      return;
    }
    if (this.#used.has(key)) throw invalidState("it was used before");
    this.#used.add(key);
    if (this.#used.size > MAX_USED) {
      this.#used.delete(this.#used.values().next().value!);
    }
  }
}

function invalidState(why: string): OAuthError {
  return refused("invalid_state", `invalid state: ${why}`);
}

function refused(code: string, why: string): OAuthError {
  return new OAuthError(code, {
    description: why,
    message:
      `Cannot complete authorization (${code}): ${why}; nothing was sent`,
  });
}

function redirectOf(value: string | undefined): URL {
  if (value === undefined) {
    throw new TypeError(
      'Cannot authorize: no "redirectUrl" (give one, or set the client\'s)',
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError('Cannot authorize: "redirectUrl" is not a URL');
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TypeError(
      `Cannot authorize: "redirectUrl" must be http(s), got "${url.protocol}"`,
    );
  }
  return url;
}

function scopeOf(scope: string | string[], separator: string): string {
  const list = typeof scope === "string" ? [scope] : scope;
  if (
    !Array.isArray(list) || list.length === 0 ||
    list.some((s) => typeof s !== "string" || s === "")
  ) {
    throw new TypeError(
      'Cannot authorize: "scope" must be a non-empty string or array of strings',
    );
  }
  return list.join(separator);
}

/** Compares two strings in time independent of where they differ. */
async function sameText(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([secretDigest(a), secretDigest(b)]);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    diff |= x.charCodeAt(i) ^ y.charCodeAt(i);
  }
  return diff === 0;
}
