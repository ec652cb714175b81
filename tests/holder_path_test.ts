/**
 * The refreshing caller's path before its token request (issue 20): how
 * many store round trips it waits for in a row, and which of them write.
 * Every call to a real memory store is recorded with its depth: one more
 * than the deepest call that had ended when it started. The token request's
 * depth is then the number of round trips the holder waited for in a row
 * before sending. On a server that may rotate refresh tokens: the refresh
 * lease (a write), then the re-read and the rotation mark check side by side
 * (reads: the lock's `isHeld`); a lock without `isHeld` costs a probe lease
 * instead, still beside the re-read.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenLock, TokenStore } from "../core/token_store.ts";
import { MemoryTokenStore } from "../stores/memory.ts";

interface Call {
  name: string;
  depth: number;
}

/** Records every store and lock call with its depth, and the token requests. */
class Recorder {
  calls: Call[] = [];
  #ended: number[] = [];

  #depth(): number {
    return 1 + Math.max(0, ...this.#ended);
  }

  async record<T>(name: string, call: () => Promise<T>): Promise<T> {
    const depth = this.#depth();
    this.calls.push({ name, depth });
    // a round trip: the answer comes in a later macrotask
    await new Promise((resolve) => setTimeout(resolve, 5));
    try {
      return await call();
    } finally {
      this.#ended.push(depth);
    }
  }

  request(): number {
    const depth = this.#depth();
    this.calls.push({ name: "request", depth });
    return depth;
  }

  /** Forgets every call so far. */
  reset(): void {
    this.calls = [];
    this.#ended = [];
  }

  /** The calls up to the token request, each as `depth:name`. */
  holderPath(): string[] {
    const to = this.calls.findIndex((c) => c.name === "request");
    return this.calls.slice(0, to + 1).map((c) => `${c.depth}:${c.name}`);
  }
}

function recorded(
  store: MemoryTokenStore,
  recorder: Recorder,
  withIsHeld: boolean,
): TokenStore {
  const lock = store.lock;
  const recordedLock: TokenLock = {
    acquire: (key, options) =>
      recorder.record("acquire", () => lock.acquire(key, options)),
  };
  if (withIsHeld) {
    recordedLock.isHeld = (key) =>
      recorder.record("isHeld", () => lock.isHeld!(key));
  }
  return {
    findToken: (query) =>
      recorder.record("findToken", () => store.findToken(query)),
    findTokenById: (id) =>
      recorder.record("findTokenById", () => store.findTokenById(id)),
    saveToken: (token) =>
      recorder.record("saveToken", () => store.saveToken(token)),
    deleteToken: (id) => store.deleteToken(id),
    getTokens: () => store.getTokens(),
    deleteTokens: () => store.deleteTokens(),
    lock: recordedLock,
  };
}

async function holderPath(withIsHeld: boolean): Promise<string[]> {
  const memory = new MemoryTokenStore();
  await memory.saveToken(
    new OAuthToken({
      userName: "ada",
      refreshToken: "1000.refresh",
      accessToken: "1000.old",
      expiresAt: Date.now() + 3_600_000,
    }),
  );
  const recorder = new Recorder();
  let offsetMs = 0;
  const client = new TokenClient({
    store: recorded(memory, recorder, withIsHeld),
    clientId: "1000.C",
    clientSecret: "s",
    // an endpoint the client knows nothing of: it may rotate
    tokenUrl: "https://accounts.example.com/oauth/v2/token",
    now: () => Date.now() + offsetMs,
    fetch: () => {
      recorder.request();
      return Promise.resolve(
        Response.json({ access_token: "1000.new", expires_in: 3600 }),
      );
    },
  });
  // cached, then expired: the caller goes straight to the lease
  await client.getAccessToken({ userName: "ada" });
  offsetMs = 2 * 3_600_000;
  recorder.reset();
  assertEquals(await client.getAccessToken({ userName: "ada" }), "1000.new");
  await client.flush();
  return recorder.holderPath();
}

Deno.test("the holder sends after 2 store round trips: the lease, then the re-read beside the mark check, which only reads", async () => {
  assertEquals(await holderPath(true), [
    "1:acquire",
    "2:findTokenById",
    "2:isHeld",
    "3:request",
  ]);
});

Deno.test("a lock without isHeld: the mark is probed with a lease, still beside the re-read", async () => {
  assertEquals(await holderPath(false), [
    "1:acquire",
    "2:findTokenById",
    "2:acquire",
    "3:request",
  ]);
});
