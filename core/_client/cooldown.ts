/**
 * The cooldown of refreshes forced by 401 answers (design rule 8): at most
 * once per token per `minRefreshIntervalMs`, across every process sharing
 * the store through a lease `forced:<id>` that is never released (it
 * expires), or in this process for stores without a lock.
 *
 * @module
 */

import type { RefreshCoordinator } from "./coordinator.ts";
import type { TokenReader } from "./reader.ts";
import type { OAuthToken } from "../token.ts";
import type { TokenLock } from "../token_store.ts";

/** Settings of a {@linkcode RefreshCooldown}. */
export interface CooldownConfig {
  lock: TokenLock | undefined;
  /** Least time between two forced refreshes of one token; 0 turns it off. */
  intervalMs: number;
  now: () => number;
}

/** Which forced refreshes may happen now. */
export class RefreshCooldown {
  #config: CooldownConfig;
  #forcedAt = new Map<string, number>();

  constructor(config: CooldownConfig) {
    this.#config = config;
  }

  /** Whether a 401 may force a refresh of token `id` now (and, if so, starts its cooldown). */
  async mayForce(id: string): Promise<boolean> {
    const { lock, intervalMs, now } = this.#config;
    if (intervalMs === 0) return true;
    if (lock !== undefined) {
      return await lock.acquire(`forced:${id}`, { ttlMs: intervalMs }) !==
        null;
    }
    const at = now();
    const last = this.#forcedAt.get(id);
    if (last !== undefined && at - last < intervalMs) return false;
    this.#forcedAt.set(id, at);
    return true;
  }
}

/** What {@linkcode refreshRejected} works with. */
export interface RejectedDeps {
  cooldown: Pick<RefreshCooldown, "mayForce">;
  coordinator: Pick<RefreshCoordinator, "run">;
  reader: Pick<TokenReader, "read">;
}

/**
 * The token to use after the server refused `token`'s access token: a
 * refreshed one (shared with concurrent callers, and none sent when someone
 * already replaced that access token), or within the cooldown the token as
 * stored now, which another process may have refreshed (`null` if deleted).
 */
export async function refreshRejected(
  deps: RejectedDeps,
  token: OAuthToken,
): Promise<OAuthToken | null> {
  const id = token.id!;
  if (await deps.cooldown.mayForce(id)) {
    return await deps.coordinator.run(id, { accessToken: token.accessToken });
  }
  return await deps.reader.read(id);
}
