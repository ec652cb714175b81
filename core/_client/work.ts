/**
 * The refresh work of {@linkcode TokenClient}: a refresh-token or
 * authorization-code request, run by the refresh coordinator under its
 * lease, with the durability rules of the design: the lease covers each
 * request, a refresh token of unknown outcome is not presented again to a
 * rotating server, `invalid_grant` re-reads the store, and the issued tokens
 * go to the persister. Each exchange and refresh ends in one outcome,
 * reported to the pipeline's observer; revocation requests go out from here
 * too, every request to the endpoint the router chooses for its token.
 *
 * @module
 */

import { type HeldLease, LeaseLostError } from "./lease.ts";
import {
  type EndedReport,
  type Outcome,
  outcomeOf,
  type PipelineObserver,
} from "./observer.ts";
import type { Persister } from "./persist.ts";
import type { TokenReader } from "./reader.ts";
import type { RotationState } from "./rotation.ts";
import { storableApiDomain } from "./origins.ts";
import type { EndpointRouter } from "./routing.ts";
import {
  type EndpointConfig,
  isOutcomeUnknown,
  requestRevoke,
  requestToken,
  type TokenGrant,
} from "./endpoint.ts";
import {
  OAuthError,
  RateLimitError,
  TokenRevokedError,
  TokenStoreError,
} from "../errors.ts";
import { OAuthToken } from "../token.ts";
import type { TokenQuery } from "../token_store.ts";

/** What the work hands back: the token, and the save still running, if any. */
export interface WorkResult {
  token: OAuthToken;
  /**
   * Settles once the issued token is saved or the save gave up (the
   * coordinator keeps the lease until then).
   */
  persisted?: Promise<void>;
}

/** What the refresh work needs. */
export interface RefreshWorkConfig {
  endpoint: EndpointConfig;
  /** Chooses each token's endpoint. */
  router: EndpointRouter;
  clientId: string;
  clientSecret: string;
  redirectUrl?: string;
  now: () => number;
  /** What a holder's lease must outlast a request by. */
  marginMs: number;
  rotation: RotationState;
  persister: Persister;
  reader: TokenReader;
  observer: PipelineObserver;
}

/** Refreshes and exchanges tokens for one client. */
export class RefreshWork {
  #config: RefreshWorkConfig;

  constructor(config: RefreshWorkConfig) {
    this.#config = config;
  }

  /** The client credentials for `token`: its own, else the client's. */
  #credentials(token: OAuthToken) {
    return {
      clientId: token.clientId ?? this.#config.clientId,
      clientSecret: token.clientSecret ?? this.#config.clientSecret,
      redirectUrl: token.redirectUrl ?? this.#config.redirectUrl,
    };
  }

  /**
   * Starts what the refresh of `token` (as last seen) under `lease`, just
   * taken, will ask the store, while the holder re-reads the token: the
   * rotation mark check (one round trip fewer before the request).
   */
  prefetch(token: OAuthToken, lease: HeldLease): void {
    this.#config.rotation.prefetch(token, lease);
  }

  /**
   * Computes, before the lease is taken, what the refresh of `token` (as
   * just seen) will compute under it (the rotation mark's key).
   */
  prepare(token: OAuthToken): void {
    this.#config.rotation.prepare(token);
  }

  /**
   * Refreshes (or exchanges the grant of) a stored token and saves it;
   * `lease` is the held refresh lease, renewed before each request.
   */
  async run(
    token: OAuthToken,
    lease: HeldLease | undefined,
  ): Promise<WorkResult> {
    if (token.refreshToken !== undefined) {
      return await this.#refreshToken(token, lease);
    }
    if (token.grantToken !== undefined && token.accessToken === undefined) {
      return await this.exchange(token, lease);
    }
    if (!token.isExpired({ now: this.#config.now() })) return { token };
    throw new TokenStoreError(
      "INVALID_TOKEN",
      `Cannot refresh token "${token.id}": it has no refreshToken${
        token.grantToken === undefined ? " or grantToken" : ""
      }`,
    );
  }

  /**
   * Refreshes with the token's refresh token. On `invalid_grant` or an
   * unknown outcome, re-reads the store: a newer refresh token there (another
   * process refreshed) is used instead; otherwise the error stands, and
   * `"revoked"` is reported when the refused token is still the stored one.
   */
  async #refreshToken(
    token: OAuthToken,
    lease: HeldLease | undefined,
  ): Promise<WorkResult> {
    const started = Date.now();
    let current = token;
    for (let round = 1;; round++) {
      let failure: unknown;
      try {
        const { result, rotated, refreshTokenExpiresAt } = await this
          .#refreshOnce(current, lease);
        this.#ended("refresh", current.id, started, "ok", rotated, {
          refreshTokenExpiresAt,
        });
        return result;
      } catch (error) {
        if (error instanceof LeaseLostError) throw error;
        failure = error;
      }
      const unknown = isOutcomeUnknown(failure) || unknownAfter(failure);
      const refused = failure instanceof TokenRevokedError;
      let outcome: Outcome | undefined;
      if ((unknown && this.#config.rotation.mayRotate) || refused) {
        if (isOutcomeUnknown(failure)) {
          await this.#config.rotation.mark(current);
        }
        const latest = await this.#config.reader.read(current.id!).catch(() =>
          null
        );
        const newer = latest !== null && latest.refreshToken !== undefined &&
          latest.refreshToken !== current.refreshToken;
        if (newer && round < 3) {
          if (!this.#config.reader.isExpiring(latest)) {
            return { token: latest };
          }
          current = latest;
          continue;
        }
        if (refused && latest?.refreshToken === current.refreshToken) {
          this.#config.reader.evict(current.id!);
          outcome = "revoked";
        }
        if (isOutcomeUnknown(failure)) {
          failure = outcomeUnknown(current.id!, failure);
        }
      }
      outcome ??= outcomeOf(failure, unknownAfter(failure));
      this.#ended("refresh", current.id, started, outcome, false, {
        error: failure,
      });
      throw failure;
    }
  }

  async #refreshOnce(
    token: OAuthToken,
    lease: HeldLease | undefined,
  ): Promise<
    { result: WorkResult; rotated: boolean; refreshTokenExpiresAt?: number }
  > {
    const rotating = this.#config.rotation.mayRotate;
    if (rotating && await this.#config.rotation.isMarked(token, lease)) {
      throw outcomeUnknown(token.id!, undefined);
    }
    const presented = token.refreshToken!;
    const { clientId, clientSecret } = this.#credentials(token);
    const grant = await requestToken(this.#config.endpoint, {
      url: this.#config.router.for(token).tokenUrl,
      params: {
        grant_type: "refresh_token",
        refresh_token: presented,
        client_id: clientId,
        client_secret: clientSecret,
      },
      secrets: [presented, clientSecret, token.accessToken],
      resendUnknown: !rotating,
      beforeSend: this.#covering(lease),
      onError: (error) => this.#reportRateLimit(token.id, error),
    });
    const rotated = grant.refreshToken !== undefined &&
      grant.refreshToken !== presented;
    this.#config.rotation.learn(rotated);
    return {
      result: await this.#persist(token, grant),
      rotated,
      refreshTokenExpiresAt: grant.refreshTokenExpiresAt,
    };
  }

  /** The query of the stored token holding grant token `code`, if any. */
  codeQuery(code: string): TokenQuery {
    return { grantToken: code, clientId: this.#config.clientId };
  }

  /**
   * Exchanges `code`, a grant token no stored token holds yet, with the
   * client's credentials and saves the result under `options.userName`;
   * `lease` is the held exchange lease, renewed before the request. A PKCE
   * `codeVerifier` is sent with it; `apiDomain` (the data center the code
   * comes from) routes the request and is kept unless the answer names one.
   */
  async exchangeCode(
    code: string,
    options: {
      userName?: string;
      redirectUrl?: string;
      codeVerifier?: string;
      apiDomain?: string;
    },
    lease?: HeldLease,
  ): Promise<WorkResult> {
    const { clientId, clientSecret, redirectUrl } = this.#config;
    return await this.exchange(
      new OAuthToken({
        userName: options.userName,
        clientId,
        clientSecret,
        redirectUrl: options.redirectUrl ?? redirectUrl,
        grantToken: code,
        apiDomain: options.apiDomain,
      }),
      lease,
      options.codeVerifier,
    );
  }

  /**
   * Exchanges the token's grant token (a single-use code) and saves the
   * result; `codeVerifier` is sent as PKCE's `code_verifier` when given.
   */
  async exchange(
    token: OAuthToken,
    lease?: HeldLease,
    codeVerifier?: string,
  ): Promise<WorkResult> {
    const started = Date.now();
    const { clientId, clientSecret, redirectUrl } = this.#credentials(token);
    let grant: TokenGrant;
    try {
      grant = await requestToken(this.#config.endpoint, {
        url: this.#config.router.for(token).tokenUrl,
        params: {
          grant_type: "authorization_code",
          code: token.grantToken,
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uri: redirectUrl,
          code_verifier: codeVerifier,
        },
        secrets: [token.grantToken, clientSecret, codeVerifier],
        // a code is single-use: sent twice, the server may revoke its tokens
        resendUnknown: false,
        beforeSend: this.#covering(lease),
        onError: (error) => this.#reportRateLimit(token.id, error),
      });
    } catch (error) {
      if (!(error instanceof LeaseLostError)) {
        const outcome = outcomeOf(error, isOutcomeUnknown(error));
        this.#ended("exchange", token.id, started, outcome, false, { error });
      }
      throw error;
    }
    const result = await this.#persist(token, grant);
    this.#ended("exchange", result.token.id, started, "ok", false, {
      refreshTokenExpiresAt: grant.refreshTokenExpiresAt,
    });
    return result;
  }

  /**
   * Revokes `token`'s refresh token (or, without one, its access token) at
   * its endpoint. A token the server no longer knows counts as revoked.
   */
  async revoke(token: OAuthToken): Promise<void> {
    const secret = token.refreshToken ?? token.accessToken;
    if (secret === undefined) return;
    const { clientId, clientSecret } = this.#credentials(token);
    try {
      await requestRevoke(this.#config.endpoint, {
        url: this.#config.router.for(token).revokeUrl,
        params: {
          token: secret,
          client_id: clientId,
          client_secret: clientSecret,
        },
        secrets: [secret, clientSecret, token.accessToken],
      });
    } catch (error) {
      // Already revoked or unknown: the token is dead either way.
      const dead = error instanceof OAuthError &&
        ["invalid_token", "invalid_grant", "invalid_code"].includes(
          error.code,
        );
      if (!dead) throw error;
    }
  }

  /**
   * Reports how an exchange or refresh ended: `error` why it failed, or
   * `refreshTokenExpiresAt` when an answer said.
   */
  #ended(
    type: "exchange" | "refresh",
    id: string | undefined,
    started: number,
    outcome: Outcome,
    rotated: boolean,
    more: { error?: unknown; refreshTokenExpiresAt?: number } = {},
  ): void {
    const report: EndedReport = {
      type,
      id,
      outcome,
      rotated,
      durationMs: Date.now() - started,
      error: more.error,
    };
    if (more.refreshTokenExpiresAt !== undefined) {
      report.refreshTokenExpiresAt = more.refreshTokenExpiresAt;
    }
    this.#config.observer.observe(report);
  }

  /** Before each request: the lease must outlast its timeout plus the margin. */
  #covering(
    lease: HeldLease | undefined,
  ): ((timeoutMs: number) => Promise<void>) | undefined {
    if (lease === undefined) return undefined;
    return (timeoutMs) => lease.cover(timeoutMs + this.#config.marginMs);
  }

  #reportRateLimit(id: string | undefined, error: unknown): void {
    if (error instanceof RateLimitError) {
      this.#config.observer.observe({
        type: "ratelimited",
        id,
        retryAfterMs: error.retryAfterMs,
      });
    }
  }

  /**
   * Saves the grant into the stored token, keeping its id and other fields;
   * an `api_domain` that is not `https:` (or loopback `http:`) is not stored:
   * the token keeps its previous one.
   */
  async #persist(token: OAuthToken, grant: TokenGrant): Promise<WorkResult> {
    const fresh = token.with({
      accessToken: grant.accessToken,
      expiresAt: grant.expiresAt,
      refreshToken: grant.refreshToken ?? token.refreshToken,
      apiDomain: storableApiDomain(grant.apiDomain) ?? token.apiDomain,
    });
    const result = await this.#config.persister.save(fresh, token);
    this.#config.reader.issued(result.token, grant.lifetimeMs);
    return result;
  }
}
/** Whether `error` is the unknown-outcome error this module throws. */
function unknownAfter(error: unknown): boolean {
  return error instanceof OAuthError &&
    error.code === "refresh_outcome_unknown";
}

function outcomeUnknown(id: string, cause: unknown): OAuthError {
  return new OAuthError("refresh_outcome_unknown", {
    description:
      `The refresh of token "${id}" may have reached the server without an answer; its refresh token is not presented again because the server rotates refresh tokens (authorise again if no newer one is stored)`,
    cause,
  });
}
