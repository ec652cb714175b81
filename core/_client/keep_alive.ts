/**
 * `client.keepAlive` (design "Health"): refreshes every stored token that
 * has a refresh token and is due — not refreshed for `idleMs` (or never
 * recorded), or whose refresh token expires within `refreshTokenMarginMs` —
 * and is not `revoked`, at most `concurrency` at a time, through the
 * refresh coordinator: the same single flight and leases as any refresh.
 *
 * Two runs at once, in any processes, refresh each token once: tokens are
 * read before statuses, each refresh runs only while the token still
 * carries the access token the run saw, and, under the lease, only while
 * its status (which the previous holder wrote before releasing the lease)
 * still says it is due.
 *
 * @module
 */

import { withSpan } from "../_telemetry/spans.ts";
import { TokenStoreError } from "../errors.ts";
import type { OAuthToken } from "../token.ts";
import type { TokenStatus, TokenStatusStore } from "../token_status.ts";
import type { TokenStore } from "../token_store.ts";
import type { RefreshCoordinator } from "./coordinator.ts";
import type {
  EndedReport,
  PipelineObserver,
  PipelineReport,
} from "./observer.ts";

/** Options of `client.keepAlive`. */
export interface KeepAliveOptions {
  /**
   * Refresh a token not refreshed for this long (by its status; a token
   * without a status is refreshed), in ms. Default 86 400 000 (one day).
   */
  idleMs?: number;
  /**
   * Refresh a token whose refresh token expires within this long (when its
   * status knows, from `refresh_token_expires_in`), in ms. Default
   * 604 800 000 (seven days).
   */
  refreshTokenMarginMs?: number;
  /** How many refreshes run at once, at most. Default 4. */
  concurrency?: number;
}

/** What `client.keepAlive` did, in tokens. */
export interface KeepAliveReport {
  /** Stored tokens looked at: every one. */
  checked: number;
  /** Refreshed by this run. */
  refreshed: number;
  /** Whose refresh failed (not refused: still worth retrying later). */
  failed: number;
  /** Whose refresh token the server refused in this run: the user must authorise again. */
  revoked: number;
  /**
   * Not refreshed: not due, no refresh token, status `revoked` already, or
   * refreshed (or tried) by another caller meanwhile.
   */
  skipped: number;
}

/** What keep-alive needs of a client's pipeline. */
export interface KeepAliveDeps {
  store: TokenStore;
  coordinator: RefreshCoordinator;
  /** The client's clock (epoch ms). */
  now: () => number;
  /** Tells of every exchange and refresh that ended in this pipeline. */
  ended: EndedTap;
  /** The status record of token `id` still being written, if any. */
  pending(id: string): Promise<void> | undefined;
}

/**
 * The pipeline observer keep-alive listens to: which of its refreshes were
 * sent by this process, and how they ended.
 */
export class EndedTap implements PipelineObserver {
  #listeners = new Set<(report: EndedReport) => void>();

  observe(report: PipelineReport): void {
    if (report.type !== "refresh" && report.type !== "exchange") return;
    for (const listener of this.#listeners) listener(report);
  }

  /** Calls `listener` with every ended report until the returned function is called. */
  listen(listener: (report: EndedReport) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** The options, checked, with their defaults. */
function resolve(options: KeepAliveOptions): Required<KeepAliveOptions> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      "Cannot keep tokens alive: expected options to be an object",
    );
  }
  const ms = (name: "idleMs" | "refreshTokenMarginMs", fallback: number) => {
    const value = options[name] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new TypeError(
        `Cannot keep tokens alive: "${name}" must be a finite number >= 0, got "${value}"`,
      );
    }
    return value;
  };
  const concurrency = options.concurrency ?? 4;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new TypeError(
      `Cannot keep tokens alive: "concurrency" must be a whole number >= 1, got "${concurrency}"`,
    );
  }
  return {
    idleMs: ms("idleMs", 86_400_000),
    refreshTokenMarginMs: ms("refreshTokenMarginMs", 7 * 86_400_000),
    concurrency,
  };
}

/**
 * Refreshes every due token (see the module), and resolves what it did once
 * the status of every token it refreshed is written.
 *
 * @throws {TypeError} When an option is invalid.
 * @throws {TokenStoreError} When the tokens cannot be listed; a refresh's failure is counted, not thrown.
 */
export async function keepAlive(
  deps: KeepAliveDeps,
  options: KeepAliveOptions = {},
): Promise<KeepAliveReport> {
  const resolved = resolve(options);
  return await withSpan("tokenstore.keep_alive", {}, async (span) => {
    const report = await run(deps, resolved);
    span.set({
      "tokenstore.keep_alive.checked": report.checked,
      "tokenstore.keep_alive.refreshed": report.refreshed,
      "tokenstore.keep_alive.failed": report.failed,
      "tokenstore.keep_alive.revoked": report.revoked,
      "tokenstore.keep_alive.skipped": report.skipped,
    });
    return report;
  });
}

async function run(
  deps: KeepAliveDeps,
  options: ReturnType<typeof resolve>,
): Promise<KeepAliveReport> {
  const { idleMs, refreshTokenMarginMs, concurrency } = options;
  const { store, coordinator, now } = deps;
  const status: TokenStatusStore | undefined = store.status;
  const started = now();
  const isDue = (token: OAuthToken, current: TokenStatus | null) => {
    if (token.refreshToken === undefined) return false;
    if (current === null) return true;
    if (current.state === "revoked") return false;
    if (
      current.refreshTokenExpiresAt !== undefined &&
      current.refreshTokenExpiresAt <= started + refreshTokenMarginMs
    ) {
      return true;
    }
    return current.lastRefreshAt === undefined ||
      current.lastRefreshAt <= started - idleMs;
  };
  // Tokens first: a token refreshed after this read no longer carries the
  // access token seen here; one refreshed before it has its status written
  // by the time its lease is free (checked again under the lease).
  const tokens = await store.getTokens();
  const statuses = new Map(
    (await status?.list() ?? []).map((s) => [s.id, s]),
  );
  const report: KeepAliveReport = {
    checked: tokens.length,
    refreshed: 0,
    failed: 0,
    revoked: 0,
    skipped: 0,
  };
  const due = tokens.filter((t) => isDue(t, statuses.get(t.id!) ?? null));
  report.skipped = tokens.length - due.length;
  const ended = new Map<string, EndedReport>();
  const stop = deps.ended.listen((r) => {
    if (r.type === "refresh" && r.id !== undefined) ended.set(r.id, r);
  });
  // Under the lease: still due by the status as stored now, and not tried
  // by anyone since this run began. A status that cannot be read: refreshed.
  const still = (token: OAuthToken) => async (current: OAuthToken) => {
    if (status === undefined) return true;
    let now: TokenStatus | null;
    try {
      now = await status.get(token.id!);
    } catch {
      return true;
    }
    if (now?.lastFailureAt !== undefined && now.lastFailureAt >= started) {
      return false;
    }
    return isDue(current, now);
  };
  const one = async (token: OAuthToken) => {
    const id = token.id!;
    let failed = false;
    try {
      await coordinator.run(id, {
        accessToken: token.accessToken,
        still: still(token),
      });
    } catch (error) {
      // deleted meanwhile: nothing to keep alive
      failed = !(error instanceof TokenStoreError &&
        error.code === "INVALID_QUERY");
    }
    await deps.pending(id);
    const outcome = ended.get(id)?.outcome;
    if (outcome === "ok") report.refreshed++;
    else if (outcome === "revoked") report.revoked++;
    else if (outcome !== undefined || failed) report.failed++;
    else report.skipped++;
  };
  try {
    let next = 0;
    const worker = async () => {
      while (next < due.length) await one(due[next++]);
    };
    await Promise.all(
      Array.from({ length: Math.min(concurrency, due.length) }, worker),
    );
  } finally {
    stop();
  }
  return report;
}
