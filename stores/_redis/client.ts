/**
 * The two clients the Redis store runs on (private): a connected
 * node-redis client (`npm:redis`, over TCP, with pub/sub) and an Upstash
 * REST client (`npm:@upstash/redis`, over HTTPS, no pub/sub). Both run the
 * store's Lua scripts by `EVALSHA`, falling back to `EVAL` once when the
 * server does not have a script yet. Errors become `TokenStoreError`
 * `BACKEND` with the password and any secret scrubbed from the message.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import { scrub } from "../../core/_redact.ts";
import type { RedisScript } from "./scripts.ts";

/**
 * The part of a node-redis client (`createClient()` of `npm:redis`, 4 or
 * later) the store uses.
 */
export interface NodeRedisClientLike {
  /** Sends one command; resolves with its reply. */
  sendCommand(args: string[]): Promise<unknown>;
  /** A new client with the same options, not yet connected (for pub/sub). */
  duplicate(): NodeRedisClientLike;
  /** Connects. */
  connect(): Promise<unknown>;
  /** Subscribes `listener` to a channel (on a client used only for that). */
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  /** Adds an event listener (`"error"`). */
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Closes the connection after pending replies (node-redis 4 and 5). */
  quit?(): Promise<unknown>;
  /** Closes the connection at once. */
  disconnect?(): Promise<unknown>;
  /** Closes the connection (node-redis 5 and later). */
  close?(): Promise<unknown>;
  /** Whether the connection is open. */
  readonly isOpen?: boolean;
}

/** The part of an Upstash REST client (`new Redis()` of `npm:@upstash/redis`) the store uses. */
export interface UpstashClientLike {
  /** `EVALSHA sha numkeys keys… args…`. */
  evalsha(sha: string, keys: string[], args: string[]): Promise<unknown>;
  /** `EVAL script numkeys keys… args…`. */
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
}

/** A Redis client the store accepts. */
export type RedisClientLike = NodeRedisClientLike | UpstashClientLike;

/** Whether a client is node-redis (it sends raw commands). */
export function isNodeRedis(
  client: RedisClientLike,
): client is NodeRedisClientLike {
  return typeof (client as Partial<NodeRedisClientLike>).sendCommand ===
    "function";
}

/**
 * Checks an injected client.
 *
 * @throws {TypeError} when it is neither client.
 */
export function checkClient(client: unknown): RedisClientLike {
  const c = client as Partial<NodeRedisClientLike & UpstashClientLike> | null;
  if (
    c === null || typeof c !== "object" ||
    (typeof c.sendCommand !== "function" &&
      (typeof c.evalsha !== "function" || typeof c.eval !== "function"))
  ) {
    throw new TypeError(
      "Invalid Redis client: expected a connected node-redis client (npm:redis) or an Upstash REST client (npm:@upstash/redis)",
    );
  }
  return c as RedisClientLike;
}

const SHAS = new Map<string, Promise<string>>();

/** The SHA-1 of a script's source, hex, as `EVALSHA` wants it. */
export function scriptSha(script: RedisScript): Promise<string> {
  let sha = SHAS.get(script.source);
  if (sha === undefined) {
    sha = crypto.subtle.digest(
      "SHA-1",
      new TextEncoder().encode(script.source),
    ).then((digest) =>
      [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
        .join("")
    );
    SHAS.set(script.source, sha);
  }
  return sha;
}

function isNoScript(error: unknown): boolean {
  return /noscript/i.test(String((error as Error | null)?.message ?? error));
}

/**
 * A TokenStoreError `BACKEND` for a failed command: the message scrubbed of
 * the password and secrets, and no driver error as `cause` (a script
 * error can echo arguments).
 */
export function backendError(
  what: string,
  error: unknown,
  secrets: Iterable<string | undefined>,
): TokenStoreError {
  if (error instanceof TokenStoreError) return error;
  const raw = error instanceof Error
    ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}`
    : String(error);
  const message = scrub(raw || "unknown error", secrets).slice(0, 500);
  return new TokenStoreError(
    "BACKEND",
    `Cannot ${what} in Redis: ${message}`,
    { cause: new Error(message) },
  );
}

/** Runs the store's scripts on either client. */
export class ScriptRunner {
  #client: RedisClientLike;
  #node: boolean;
  #secrets: () => Iterable<string | undefined>;
  #shas = new Map<RedisScript, string>();

  /**
   * @param client The client.
   * @param secrets Values to scrub from error messages (the password).
   */
  constructor(
    client: RedisClientLike,
    secrets: () => Iterable<string | undefined>,
  ) {
    this.#client = client;
    this.#node = isNodeRedis(client);
    this.#secrets = secrets;
  }

  /** Whether the client is node-redis. */
  get node(): boolean {
    return this.#node;
  }

  /**
   * Runs a script with `key` as its one declared key (which routes it in a
   * cluster) and `args`; resolves with the JSON it returned.
   *
   * @param extra More values to scrub from an error (the token's secrets).
   */
  async run(
    script: RedisScript,
    key: string,
    args: string[],
    extra: Iterable<string | undefined> = [],
  ): Promise<unknown> {
    let reply: unknown;
    try {
      const sha = this.#shas.get(script) ?? await this.#sha(script);
      try {
        reply = await this.#eval(sha, undefined, key, args);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        reply = await this.#eval(undefined, script.source, key, args);
      }
    } catch (error) {
      throw backendError(script.name, error, [...this.#secrets(), ...extra]);
    }
    if (typeof reply !== "string" || reply[0] !== "~") {
      if (reply === "!collision") return COLLISION;
      throw new TokenStoreError(
        "BACKEND",
        `Cannot ${script.name} in Redis: unexpected reply from the script`,
      );
    }
    return JSON.parse(reply.slice(1));
  }

  async #sha(script: RedisScript): Promise<string> {
    const sha = await scriptSha(script);
    this.#shas.set(script, sha);
    return sha;
  }

  #eval(
    sha: string | undefined,
    source: string | undefined,
    key: string,
    args: string[],
  ): Promise<unknown> {
    const client = this.#client;
    if (isNodeRedis(client)) {
      return client.sendCommand(
        sha !== undefined
          ? ["EVALSHA", sha, "1", key, ...args]
          : ["EVAL", source!, "1", key, ...args],
      );
    }
    return sha !== undefined
      ? client.evalsha(sha, [key], args)
      : client.eval(source!, [key], args);
  }
}

/** What the save script returns when the fresh id is taken. */
export const COLLISION: unique symbol = Symbol("collision");
