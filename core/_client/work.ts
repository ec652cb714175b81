/**
 * The refresh work of {@linkcode TokenClient}: a refresh-token or
 * authorization-code request, run by the refresh coordinator under its
 * lease, with the durability rules of the design: the lease covers each
 * request, a refresh token of unknown outcome is not presented again to a
 * rotating server, `invalid_grant` re-reads the store, and the issued tokens
 * go to the persister. Events are dispatched on the client.
 *
 * @module
 */

import { emit } from "./events.ts";
import { type HeldLease, LeaseLostError } from "./lease.ts";
import type { Persister } from "./persist.ts";
import type { Work, WorkResult } from "./coordinator.ts";
import type { RotationState } from "./rotation.ts";
import type { SkewTracker } from "./skew.ts";
import type { TokenCache } from "./cache.ts";
import {
  type EndpointConfig,
  isOutcomeUnknown,
  requestToken,
  type TokenGrant,
} from "./endpoint.ts";
import {
  OAuthError,
  RateLimitError,
  TokenRevokedError,
  TokenStoreError,
} from "../errors.ts";
import type { OAuthToken } from "../token.ts";

/** What the refresh work needs from its client. */
export interface RefreshWorkConfig {
  endpoint: EndpointConfig;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  redirectUrl?: string;
  now: () => number;
  /** What a holder's lease must outlast a request by. */
  marginMs: number;
  rotation: RotationState;
  skew: SkewTracker;
  persister: Persister;
  cache: TokenCache;
  /** Where events are dispatched (the client). */
  events: EventTarget;
  /** Token `id` as stored, or issued and not saved yet. */
  readById: (id: string) => Promise<OAuthToken | null>;
}

/** Refreshes and exchanges tokens for one client. */
export class RefreshWork {
  #config: RefreshWorkConfig;

  constructor(config: RefreshWorkConfig) {
    this.#config = config;
  }

  /** The client credentials for `token`: its own, else the client's. */
  credentials(token: OAuthToken) {
    return {
      clientId: token.clientId ?? this.#config.clientId,
      clientSecret: token.clientSecret ?? this.#config.clientSecret,
      redirectUrl: token.redirectUrl ?? this.#config.redirectUrl,
    };
  }

  /** Refreshes (or exchanges the grant of) a stored token and saves it. */
  work: Work = async (token, lease) => {
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
  };

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
        const { result, rotated } = await this.#refreshOnce(current, lease);
        emit(this.#config.events, "refresh", {
          id: current.id,
          rotated,
          durationMs: Date.now() - started,
        });
        return result;
      } catch (error) {
        if (error instanceof LeaseLostError) throw error;
        failure = error;
      }
      const unknown = isOutcomeUnknown(failure) ||
        (failure instanceof OAuthError &&
          failure.code === "refresh_outcome_unknown");
      const refused = failure instanceof TokenRevokedError;
      if ((unknown && this.#config.rotation.mayRotate) || refused) {
        if (isOutcomeUnknown(failure)) {
          await this.#config.rotation.mark(current);
        }
        const latest = await this.#config.readById(current.id!).catch(() =>
          null
        );
        const newer = latest !== null && latest.refreshToken !== undefined &&
          latest.refreshToken !== current.refreshToken;
        if (newer && round < 3) {
          if (!this.#config.skew.isExpiring(latest)) return { token: latest };
          current = latest;
          continue;
        }
        if (refused && latest?.refreshToken === current.refreshToken) {
          this.#config.cache.delete(current.id!);
          emit(this.#config.events, "revoked", { id: current.id! });
        }
        if (isOutcomeUnknown(failure)) {
          failure = outcomeUnknown(current.id!, failure);
        }
      }
      emit(this.#config.events, "refresherror", {
        id: current.id,
        error: failure,
      });
      throw failure;
    }
  }

  async #refreshOnce(
    token: OAuthToken,
    lease: HeldLease | undefined,
  ): Promise<{ result: WorkResult; rotated: boolean }> {
    const rotating = this.#config.rotation.mayRotate;
    if (rotating && await this.#config.rotation.isMarked(token)) {
      throw outcomeUnknown(token.id!, undefined);
    }
    const presented = token.refreshToken!;
    const { clientId, clientSecret } = this.credentials(token);
    const grant = await requestToken(this.#config.endpoint, {
      url: this.#config.tokenUrl,
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
    return { result: await this.#persist(token, grant, lease), rotated };
  }

  /** Exchanges the token's grant token (a single-use code) and saves the result. */
  async exchange(
    token: OAuthToken,
    lease: HeldLease | undefined,
  ): Promise<WorkResult> {
    const started = Date.now();
    const { clientId, clientSecret, redirectUrl } = this.credentials(token);
    let grant: TokenGrant;
    try {
      grant = await requestToken(this.#config.endpoint, {
        url: this.#config.tokenUrl,
        params: {
          grant_type: "authorization_code",
          code: token.grantToken,
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uri: redirectUrl,
        },
        secrets: [token.grantToken, clientSecret],
        // a code is single-use: sent twice, the server may revoke its tokens
        resendUnknown: false,
        beforeSend: this.#covering(lease),
        onError: (error) => this.#reportRateLimit(token.id, error),
      });
    } catch (error) {
      if (!(error instanceof LeaseLostError)) {
        emit(this.#config.events, "refresherror", { id: token.id, error });
      }
      throw error;
    }
    const result = await this.#persist(token, grant, lease);
    emit(this.#config.events, "refresh", {
      id: result.token.id,
      rotated: false,
      durationMs: Date.now() - started,
    });
    return result;
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
      emit(this.#config.events, "ratelimited", {
        id,
        retryAfterMs: error.retryAfterMs,
      });
    }
  }

  /** Saves the grant into the stored token, keeping its id and other fields. */
  async #persist(
    token: OAuthToken,
    grant: TokenGrant,
    lease: HeldLease | undefined,
  ): Promise<WorkResult> {
    const fresh = token.with({
      accessToken: grant.accessToken,
      expiresAt: grant.expiresAt,
      refreshToken: grant.refreshToken ?? token.refreshToken,
      apiDomain: grant.apiDomain ?? token.apiDomain,
    });
    const result = await this.#config.persister.save(fresh, token, lease);
    this.#config.skew.issued(result.token, grant.lifetimeMs);
    this.#config.cache.put(result.token);
    return result;
  }
}
function outcomeUnknown(id: string, cause: unknown): OAuthError {
  return new OAuthError("refresh_outcome_unknown", {
    description:
      `The refresh of token "${id}" may have reached the server without an answer; its refresh token is not presented again because the server rotates refresh tokens (authorise again if no newer one is stored)`,
    cause,
  });
}
