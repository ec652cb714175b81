/**
 * Saving tokens the endpoint just issued (design rule 4): they exist nowhere
 * else, and with rotation the old refresh token is already spent. The first
 * save is awaited; if it fails transiently (`BACKEND`, `CONFLICT`) the caller
 * is served the issued token at once and the save goes on in the background,
 * with backoff, for up to `persistTimeoutMs` (the refresh coordinator keeps
 * renewing its lease meanwhile).
 * Until it lands, the issued token is served from memory to this process
 * (see {@linkcode Persister.prototype.pendingFor}); a save that gives up
 * reports `"persistfailed"` and keeps serving it while the process lives.
 *
 * @module
 */

import { retry } from "../_retry.ts";
import type { PipelineObserver } from "./observer.ts";
import { TokenStoreError } from "../errors.ts";
import type { OAuthToken } from "../token.ts";
import {
  matchesPlan,
  type QueryPlan,
  type TokenStore,
} from "../token_store.ts";

/** Settings of a {@linkcode Persister}. */
export interface PersistConfig {
  store: TokenStore;
  persistTimeoutMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Told of a save that gave up (`"persistfailed"`). */
  observer: PipelineObserver;
}

/** A token issued but not saved yet, and the refresh token it replaced. */
interface Pending {
  token: OAuthToken;
  replaced: OAuthToken;
}

/** Whether a store error may go away by itself (outage, contention). */
export function isTransient(error: unknown): boolean {
  return error instanceof TokenStoreError &&
    (error.code === "BACKEND" || error.code === "CONFLICT");
}

/** Saves issued tokens and remembers those not saved yet. */
export class Persister {
  #config: PersistConfig;
  #pending = new Map<string, Pending>();

  constructor(config: PersistConfig) {
    this.#config = config;
  }

  /**
   * Saves `fresh` (which replaces `replaced`). Resolves with the stored token
   * when the first save works; otherwise with `fresh` and the background
   * save in `persisted` (the caller keeps its refresh lease until that
   * settles). A token without an id (a first grant exchange) has nowhere to
   * be served from: its save is awaited in full.
   */
  async save(
    fresh: OAuthToken,
    replaced: OAuthToken,
  ): Promise<{ token: OAuthToken; persisted?: Promise<void> }> {
    const { store } = this.#config;
    const started = Date.now();
    try {
      const saved = await store.saveToken(fresh);
      this.#forget(saved.id);
      return { token: saved };
    } catch (error) {
      if (fresh.id === undefined) {
        if (!isTransient(error)) throw this.#failed(undefined, error);
        return { token: await this.#retry(fresh, started) };
      }
      this.#pending.set(fresh.id, { token: fresh, replaced });
      if (!isTransient(error)) {
        this.#failed(fresh.id, error);
        return { token: fresh };
      }
      const persisted = this.#retry(fresh, started).then(
        (saved) => this.#forget(saved.id, fresh),
        () => {},
      );
      return { token: fresh, persisted };
    }
  }

  async #retry(fresh: OAuthToken, started: number): Promise<OAuthToken> {
    const { store, persistTimeoutMs, baseDelayMs, maxDelayMs, sleep } =
      this.#config;
    try {
      return await retry(() => {
        const id = fresh.id;
        if (id !== undefined && this.#pending.get(id)?.token !== fresh) {
          // dropped (revoked or deleted) or replaced by a newer token
          throw new TokenStoreError(
            "CONFLICT",
            `Cannot save token "${id}": it was deleted or replaced meanwhile`,
          );
        }
        return store.saveToken(fresh);
      }, {
        maxAttempts: Infinity,
        baseDelayMs,
        maxDelayMs,
        budgetMs: Math.max(0, persistTimeoutMs - (Date.now() - started)),
        sleep,
        isRetriable: (error) =>
          isTransient(error) &&
          (fresh.id === undefined ||
            this.#pending.get(fresh.id)?.token === fresh),
      });
    } catch (error) {
      throw this.#failed(fresh.id, error);
    }
  }

  #failed(id: string | undefined, error: unknown): unknown {
    this.#config.observer.observe({ type: "persistfailed", id, error });
    return error;
  }

  #forget(id: string | undefined, only?: OAuthToken): void {
    if (id === undefined) return;
    const pending = this.#pending.get(id);
    if (
      pending !== undefined && (only === undefined || pending.token === only)
    ) {
      this.#pending.delete(id);
    }
  }

  /** Forgets token `id` (deleted): a background save of it stops. */
  drop(id: string): void {
    this.#pending.delete(id);
  }

  /** Forgets every pending token (all deleted): their background saves stop. */
  dropAll(): void {
    this.#pending.clear();
  }

  /**
   * The issued token to use instead of `stored` (what the store holds for
   * the same id; `undefined` when it cannot be read), or `undefined`: while
   * the store still holds the token it replaced, or cannot be read at all.
   * A token deleted meanwhile is not served.
   */
  pendingFor(
    id: string,
    stored: OAuthToken | null | undefined,
  ): OAuthToken | undefined {
    const pending = this.#pending.get(id);
    if (pending === undefined) return undefined;
    if (stored === undefined) return pending.token;
    if (stored === null) {
      this.#pending.delete(id);
      return undefined;
    }
    const { replaced, token } = pending;
    const same = stored.refreshToken === replaced.refreshToken &&
      stored.accessToken === replaced.accessToken &&
      stored.grantToken === replaced.grantToken;
    if (same) return pending.token;
    if (stored.accessToken === token.accessToken) this.#pending.delete(id);
    return undefined;
  }

  /** The pending token matching `plan`, if any (for lookups during an outage). */
  matching(plan: QueryPlan): OAuthToken | undefined {
    for (const { token } of this.#pending.values()) {
      if (matchesPlan(token, plan)) return token;
    }
    return undefined;
  }
}
