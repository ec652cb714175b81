/**
 * The refresh skew a token gets (design rule 9): `refreshSkewMs`, but at most
 * half the token's lifetime, so that a token living shorter than the skew is
 * still refreshed once per expiry rather than on every call.
 *
 * The lifetime is known for tokens this process was issued. For a token read
 * from the store it is taken as the time left when this process saw its
 * access token replace another one (another process refreshed it just
 * before); a token first seen without such a change gets the full skew.
 *
 * @module
 */

import type { OAuthToken } from "../token.ts";

/** Access tokens remembered at most; the oldest is forgotten first. */
const MAX_REMEMBERED = 10_000;

/** Lifetimes of the access tokens a client has seen. */
export class SkewTracker {
  #skewMs: number;
  #now: () => number;
  #lifetimes = new Map<
    string,
    { accessToken: string | undefined; lifetimeMs: number | undefined }
  >();

  constructor(skewMs: number, now: () => number) {
    this.#skewMs = skewMs;
    this.#now = now;
  }

  /** Records the lifetime of a token just issued. */
  issued(token: OAuthToken, lifetimeMs: number): void {
    if (token.id === undefined || token.accessToken === undefined) return;
    this.#remember(token.id, token.accessToken, lifetimeMs);
  }

  /**
   * The skew to use for `token`: `wantMs` (default `refreshSkewMs`), at most
   * half its lifetime when that is known.
   */
  skewFor(token: OAuthToken, wantMs: number = this.#skewMs): number {
    const { id, accessToken, expiresAt } = token;
    if (id === undefined) return wantMs;
    let seen = this.#lifetimes.get(id);
    if (seen === undefined) {
      seen = this.#remember(id, accessToken, undefined);
    } else if (seen.accessToken !== accessToken) {
      // replaced since this process last looked: just refreshed elsewhere
      seen = this.#remember(
        id,
        accessToken,
        expiresAt === undefined ? undefined : expiresAt - this.#now(),
      );
    }
    if (seen.lifetimeMs === undefined) return wantMs;
    return Math.max(0, Math.min(wantMs, seen.lifetimeMs / 2));
  }

  /**
   * Whether `token` needs a refresh now: it has less than its skew to live,
   * or less than `marginMs` (at most half its lifetime) when given.
   */
  isExpiring(token: OAuthToken, marginMs?: number): boolean {
    return token.isExpired({
      now: this.#now(),
      skewMs: this.skewFor(token, marginMs),
    });
  }

  #remember(
    id: string,
    accessToken: string | undefined,
    lifetimeMs: number | undefined,
  ) {
    const entry = { accessToken, lifetimeMs };
    this.#lifetimes.delete(id);
    this.#lifetimes.set(id, entry);
    if (this.#lifetimes.size > MAX_REMEMBERED) {
      this.#lifetimes.delete(this.#lifetimes.keys().next().value!);
    }
    return entry;
  }
}
