/**
 * The refresh work with its telemetry (design "Telemetry"): each grant
 * exchange, refresh and revocation runs inside its span
 * (`tokenstore.exchange`, `tokenstore.refresh`, `tokenstore.revoke`), active
 * while it runs so that the requests it sends are the span's children, and
 * each request to the token endpoint is counted. The work itself is
 * unchanged: {@linkcode TracedWork} only wraps {@linkcode RefreshWork}'s
 * entry points, and the outcome of a refresh comes from the work's own
 * report (see `observer.ts`).
 *
 * @module
 */

import type { HeldLease } from "../_client/lease.ts";
import type { EndpointRouter } from "../_client/routing.ts";
import {
  RefreshWork,
  type RefreshWorkConfig,
  type WorkResult,
} from "../_client/work.ts";
import { countingFetch } from "./metrics.ts";
import type { TelemetryObserver } from "./observer.ts";
import { ATTR } from "./otel.ts";
import { serverAddress, withSpan } from "./spans.ts";
import type { OAuthToken } from "../token.ts";

/** {@linkcode RefreshWork} inside spans, counting its token requests. */
export class TracedWork extends RefreshWork {
  #router: EndpointRouter;
  #telemetry: TelemetryObserver;

  /**
   * @param config The work's settings; its `fetch` is wrapped to count requests.
   * @param telemetry The pipeline's telemetry observer (it completes refresh spans).
   */
  constructor(config: RefreshWorkConfig, telemetry: TelemetryObserver) {
    super({
      ...config,
      endpoint: {
        ...config.endpoint,
        fetch: countingFetch(config.endpoint.fetch),
      },
    });
    this.#router = config.router;
    this.#telemetry = telemetry;
  }

  /** Refreshes in a `tokenstore.refresh` span (an exchange has its own). */
  override async run(
    token: OAuthToken,
    lease: HeldLease | undefined,
  ): Promise<WorkResult> {
    const id = token.id;
    if (token.refreshToken === undefined || id === undefined) {
      return await super.run(token, lease);
    }
    return await withSpan(
      "tokenstore.refresh",
      {
        [ATTR.tokenId]: id,
        [ATTR.serverAddress]: serverAddress(this.#router.for(token).tokenUrl),
      },
      (span) =>
        this.#telemetry.refreshing(id, span, () => super.run(token, lease)),
    );
  }

  /** Exchanges in a `tokenstore.exchange` span. */
  override async exchange(
    token: OAuthToken,
    lease?: HeldLease,
    codeVerifier?: string,
  ): Promise<WorkResult> {
    return await withSpan(
      "tokenstore.exchange",
      {
        [ATTR.tokenId]: token.id,
        [ATTR.serverAddress]: serverAddress(this.#router.for(token).tokenUrl),
      },
      async (span) => {
        const result = await super.exchange(token, lease, codeVerifier);
        span.set({ [ATTR.tokenId]: result.token.id });
        return result;
      },
    );
  }

  /** Revokes in a `tokenstore.revoke` span. */
  override async revoke(token: OAuthToken): Promise<void> {
    await withSpan(
      "tokenstore.revoke",
      {
        [ATTR.tokenId]: token.id,
        [ATTR.serverAddress]: serverAddress(this.#router.for(token).revokeUrl),
      },
      () => super.revoke(token),
    );
  }
}
