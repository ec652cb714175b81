/**
 * A {@linkcode TokenStore} in Redis (any Redis 6.2 or later, Valkey, a
 * managed Redis) over `npm:redis` (node-redis), or in Upstash over its REST
 * client (`npm:@upstash/redis`) on edge runtimes: Cloudflare Workers,
 * Vercel, Deno Deploy.
 *
 * Every key is under `{<prefix>}:` (default prefix `tokenstore`; the braces
 * keep every key in one Redis Cluster hash slot): the token as a hash at
 * `{p}:token:<id>` with Zoho's field names (`user_name`, `client_id`,
 * `refresh_token`, `expiry_time`, …), index sets by user and by SHA-256 of
 * the access, refresh and grant token, statuses at `{p}:status:<id>`.
 * Every save and delete is one Lua script (atomic across processes:
 * concurrent saves of one user never create two tokens), leases are
 * `SET {p}:lock:<key> <owner> NX PX <ttl>`, renewed and released only by
 * their owner, and every save is published on `{p}:refreshed` so that a
 * `TokenClient` waiting in another process wakes at once (node-redis; the
 * Upstash REST client has no pub/sub, so its waiters poll).
 *
 * Importing this module loads no driver: {@linkcode RedisTokenStore.open}
 * loads `npm:redis`, or pass your own client. `open` refuses a Redis that
 * keeps nothing on disk (it would lose every token at its next restart)
 * unless `allowVolatile: true`.
 *
 * @example Open a server
 * ```ts ignore
 * import { assertEquals } from "@std/assert";
 * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const store = await RedisTokenStore.open({ url: "redis://127.0.0.1:6379/0" });
 * await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * const found = await store.findToken({ userName: "ada@example.com" });
 * assertEquals(found?.refreshToken, "1000.r");
 * await store.close();
 * ```
 *
 * @module
 */

import { TokenStoreError } from "../core/errors.ts";
import { secretsOf } from "../core/_redact.ts";
import { newTokenId } from "../core/id.ts";
import { type OAuthToken, validateId } from "../core/token.ts";
import {
  type Lease,
  mergeFound,
  planQuery,
  planSave,
  type TokenLock,
  type TokenQuery,
  type TokenStore,
  validateForSave,
  validateLeaseKey,
  validateLeaseRequest,
} from "../core/token_store.ts";
import type { TokenStatus, TokenStatusStore } from "../core/token_status.ts";
import { statusRead, statusToWrite } from "./_status.ts";
import { displayStoreUrl } from "./_store_url.ts";
import {
  checkClient,
  COLLISION,
  isNodeRedis,
  type NodeRedisClientLike,
  type RedisClientLike,
  ScriptRunner,
} from "./_redis/client.ts";
import {
  DEFAULT_PREFIX,
  fieldsToToken,
  keyStart,
  lookupArgs,
  recordArgs,
  validatePrefix,
} from "./_redis/layout.ts";
import {
  checkPersistence,
  checkRedisUrl,
  connectRedis,
} from "./_redis/open.ts";
import {
  DELETE_ALL_SCRIPT,
  DELETE_SCRIPT,
  FIND_SCRIPT,
  LEASE_SCRIPT,
  READ_SCRIPT,
  SAVE_SCRIPT,
  STATUS_SCRIPT,
} from "./_redis/scripts.ts";
import { closeClient, RedisWatcher } from "./_redis/watch.ts";

export type {
  NodeRedisClientLike,
  RedisClientLike,
  UpstashClientLike,
} from "./_redis/client.ts";

/**
 * Options of the {@linkcode RedisTokenStore} constructor.
 *
 * @example Usage
 * ```ts ignore
 * import { createClient } from "redis";
 * import {
 *   RedisTokenStore,
 *   type RedisTokenStoreOptions,
 * } from "@tokenstore/tokenstore/redis";
 *
 * const client = await createClient({ url: "redis://127.0.0.1:6379/0", disableOfflineQueue: true }).connect();
 * const options: RedisTokenStoreOptions = { client, prefix: "crm" };
 * const store = new RedisTokenStore(options);
 * await client.quit(); // the store never closes a client it was given
 * ```
 */
export interface RedisTokenStoreOptions {
  /**
   * A connected node-redis client (`npm:redis`; create it with
   * `disableOfflineQueue: true` so that commands fail at once during an
   * outage) or an Upstash REST client (`npm:@upstash/redis`). The store
   * never closes it.
   */
  client: RedisClientLike;
  /** Key prefix: every key is under `{<prefix>}:`; default `tokenstore`. */
  prefix?: string;
}

/**
 * Options of {@linkcode RedisTokenStore.open}.
 *
 * @example Usage
 * ```ts ignore
 * import {
 *   RedisTokenStore,
 *   type RedisTokenStoreOpenOptions,
 * } from "@tokenstore/tokenstore/redis";
 *
 * const options: RedisTokenStoreOpenOptions = { url: "rediss://:secret@redis.internal:6380/0" };
 * const store = await RedisTokenStore.open(options);
 * await store.close();
 * ```
 */
export interface RedisTokenStoreOpenOptions {
  /** `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` or `rediss://…` (TLS). */
  url: string;
  /** Key prefix: every key is under `{<prefix>}:`; default `tokenstore`. */
  prefix?: string;
  /**
   * Accept a Redis that keeps nothing on disk (AOF off and no `save`
   * schedule), which loses every token at its next restart; default
   * `false`.
   */
  allowVolatile?: boolean;
}

/**
 * A {@linkcode TokenStore} in Redis or Upstash, shared safely by every
 * process and isolate using the same server and prefix.
 *
 * @example Usage with an injected client
 * ```ts ignore
 * import { assertEquals } from "@std/assert";
 * import { createClient } from "redis";
 * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const client = await createClient({ url: "redis://127.0.0.1:6379/0", disableOfflineQueue: true }).connect();
 * const store = new RedisTokenStore({ client });
 * const saved = await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
 * assertEquals((await store.findTokenById(saved.id!))?.userName, "ada@example.com");
 * await store.close();
 * await client.quit();
 * ```
 */
export class RedisTokenStore implements TokenStore {
  #client: RedisClientLike;
  #runner: ScriptRunner;
  #p: string;
  #key: string;
  #watcher: RedisWatcher;
  #owned = false;
  #closed = false;
  #password: string | undefined;
  /** The key prefix (every key is under `{<prefix>}:`). */
  readonly prefix: string;
  /**
   * Leases `SET {p}:lock:<key> <owner> NX PX <ttl>`, exclusive across every
   * process using the server; renewed and released only by their owner.
   */
  readonly lock: TokenLock;
  /**
   * Token statuses at `{p}:status:<id>` (JSON); deleting a token deletes
   * its status in the same script.
   *
   * @example Usage
   * ```ts ignore
   * import { assertEquals } from "@std/assert";
   * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
   *
   * const store = await RedisTokenStore.open({ url: "redis://127.0.0.1:6379/0" });
   * await store.status.put({ id: "a1", state: "failing", failures: 1 });
   * assertEquals((await store.status.get("a1"))?.failures, 1);
   * await store.close();
   * ```
   */
  readonly status: TokenStatusStore;

  /**
   * Creates a store over a client.
   *
   * @param options The client and the key prefix.
   * @throws {TypeError} when the client is neither node-redis nor Upstash,
   * or the prefix is invalid.
   */
  constructor(options: RedisTokenStoreOptions) {
    this.#client = checkClient(options?.client);
    this.prefix = validatePrefix(options?.prefix ?? DEFAULT_PREFIX);
    this.#p = keyStart(this.prefix);
    this.#key = `${this.#p}tokens`;
    this.#runner = new ScriptRunner(this.#client, () => [this.#password]);
    this.#watcher = new RedisWatcher(
      isNodeRedis(this.#client) ? this.#client : undefined,
      `${this.#p}refreshed`,
    );
    this.lock = new RedisLeases((op, key, owner, ttl) =>
      this.#lease(op, key, owner, ttl)
    );
    this.status = new RedisStatuses((op, id, value) =>
      this.#status(op, id, value)
    );
  }

  /**
   * Loads `npm:redis`, connects, checks that the server keeps its data on
   * disk, and returns a store that {@linkcode RedisTokenStore.close} closes
   * with its connections.
   *
   * @example Usage
   * ```ts ignore
   * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
   *
   * const store = await RedisTokenStore.open({
   *   url: "redis://127.0.0.1:6379/0",
   *   prefix: "crm",
   *   allowVolatile: true, // a test server without persistence
   * });
   * await store.close();
   * ```
   *
   * @param options URL, prefix, whether a volatile server is accepted.
   * @returns The store.
   * @throws {TypeError} for a malformed URL or prefix.
   * @throws {TokenStoreError} `BACKEND` when the driver cannot be loaded,
   * the server cannot be reached, or it keeps nothing on disk.
   */
  static async open(
    options: RedisTokenStoreOpenOptions,
  ): Promise<RedisTokenStore> {
    const { url, prefix, allowVolatile = false } = options ?? {};
    const password = checkRedisUrl(url);
    validatePrefix(prefix ?? DEFAULT_PREFIX);
    const client = await connectRedis(url, password);
    try {
      if (!allowVolatile) {
        await checkPersistence(client, displayStoreUrl(url), password);
      }
      const store = new RedisTokenStore({ client, prefix });
      store.#owned = true;
      store.#password = password;
      return store;
    } catch (error) {
      await closeClient(client).catch(() => {});
      throw error;
    }
  }

  #check(what: string): void {
    if (this.#closed) {
      throw new TokenStoreError(
        "BACKEND",
        `Cannot ${what}: the Redis store is closed`,
      );
    }
  }

  async #guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.#check(what);
    return await fn();
  }

  /**
   * Finds a token by the matching rules: one script (index set, then the
   * candidates' fields compared).
   *
   * @example Usage
   * ```ts ignore
   * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
   *
   * const store = await RedisTokenStore.open({ url: "redis://127.0.0.1:6379/0" });
   * const found = await store.findToken({ userName: "ada@example.com" });
   * console.log(found?.id);
   * await store.close();
   * ```
   *
   * @param query A query or a token (merge semantics).
   * @returns The token, or `null`.
   */
  findToken(query: TokenQuery | OAuthToken): Promise<OAuthToken | null> {
    return this.#guard("find token", async () => {
      const plan = planQuery(query);
      const fields = await this.#runner.run(FIND_SCRIPT, this.#key, [
        this.#p,
        ...lookupArgs(plan),
      ], secretsOf(query as Record<string, unknown>));
      return mergeFound(query, fields === null ? null : fieldsToToken(fields));
    });
  }

  /**
   * Inserts or updates a token (found by the matching rules, id first) in
   * one Lua script with its index entries, and publishes its id.
   *
   * @example Usage
   * ```ts ignore
   * import { OAuthToken } from "@tokenstore/tokenstore";
   * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
   *
   * const store = await RedisTokenStore.open({ url: "redis://127.0.0.1:6379/0" });
   * const saved = await store.saveToken(new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }));
   * console.log(saved.id);
   * await store.close();
   * ```
   *
   * @param token The token.
   * @returns The stored token, id set.
   * @throws {TokenStoreError} `INVALID_TOKEN`, `BACKEND`.
   */
  saveToken(token: OAuthToken): Promise<OAuthToken> {
    return this.#guard("save token", async () => {
      const checked = validateForSave(token);
      const plan = planSave(checked);
      const record = recordArgs(checked);
      for (let attempt = 0; attempt < 5; attempt++) {
        const fresh = checked.id ?? newTokenId();
        const id = await this.#runner.run(SAVE_SCRIPT, this.#key, [
          this.#p,
          fresh,
          ...lookupArgs(plan),
          ...record,
        ], secretsOf(checked));
        if (id !== COLLISION) return checked.with({ id: id as string });
      }
      throw new TokenStoreError(
        "CONFLICT",
        "Cannot save token in Redis: every fresh id was taken",
      );
    });
  }

  /**
   * Deletes the token with this id, its index entries and its status.
   *
   * @example Usage
   * ```ts ignore
   * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
   *
   * const store = await RedisTokenStore.open({ url: "redis://127.0.0.1:6379/0" });
   * console.log(await store.deleteToken("a1"));
   * await store.close();
   * ```
   *
   * @param id The id.
   * @returns `true` if a token was deleted.
   */
  deleteToken(id: string): Promise<boolean> {
    return this.#guard("delete token", async () => {
      validateId(id);
      return await this.#runner.run(DELETE_SCRIPT, this.#key, [
        this.#p,
        id,
      ]) === true;
    });
  }

  /**
   * Every stored token, in id order.
   *
   * @example Usage
   * ```ts ignore
   * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
   *
   * const store = await RedisTokenStore.open({ url: "redis://127.0.0.1:6379/0" });
   * console.log((await store.getTokens()).length);
   * await store.close();
   * ```
   *
   * @returns The tokens.
   */
  getTokens(): Promise<OAuthToken[]> {
    return this.#guard("list tokens", async () => {
      const list = await this.#runner.run(READ_SCRIPT, this.#key, [this.#p]);
      return (list as unknown[]).map(fieldsToToken);
    });
  }

  /**
   * Deletes every token, index entry and status under the prefix, in one
   * script. Leases are kept (they expire by themselves).
   *
   * @example Usage
   * ```ts ignore
   * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
   *
   * const store = await RedisTokenStore.open({ url: "redis://127.0.0.1:6379/0" });
   * await store.deleteTokens();
   * await store.close();
   * ```
   */
  deleteTokens(): Promise<void> {
    return this.#guard("delete tokens", async () => {
      await this.#runner.run(DELETE_ALL_SCRIPT, this.#key, [this.#p]);
    });
  }

  /**
   * The token with this id.
   *
   * @example Usage
   * ```ts ignore
   * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
   *
   * const store = await RedisTokenStore.open({ url: "redis://127.0.0.1:6379/0" });
   * console.log(await store.findTokenById("a1"));
   * await store.close();
   * ```
   *
   * @param id The id.
   * @returns The token, or `null`.
   */
  findTokenById(id: string): Promise<OAuthToken | null> {
    return this.#guard("find token", async () => {
      validateId(id);
      const list = await this.#runner.run(READ_SCRIPT, this.#key, [
        this.#p,
        id,
      ]) as unknown[];
      return list.length === 0 ? null : fieldsToToken(list[0]);
    });
  }

  /**
   * Resolves once token `id` is saved or deleted after the call (Redis
   * pub/sub on `{p}:refreshed`, over one subscriber connection opened on
   * the first wait), or when `signal` aborts. With the Upstash REST client
   * (no pub/sub) it resolves only when `signal` aborts: waiters poll.
   *
   * @example Usage
   * ```ts ignore
   * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
   *
   * const store = await RedisTokenStore.open({ url: "redis://127.0.0.1:6379/0" });
   * await store.watchToken("a1", { signal: AbortSignal.timeout(1_000) });
   * await store.close();
   * ```
   *
   * @param id The token id.
   * @param options `signal` ends the wait.
   */
  watchToken(id: string, options: { signal: AbortSignal }): Promise<void> {
    return this.#guard("watch token", () => {
      validateId(id);
      return this.#watcher.wait(id, options.signal);
    });
  }

  /**
   * Closes the subscriber connection, and the client if
   * {@linkcode RedisTokenStore.open} created it; a client given to the
   * constructor is left open for its owner.
   *
   * @example Usage
   * ```ts ignore
   * import { RedisTokenStore } from "@tokenstore/tokenstore/redis";
   *
   * const store = await RedisTokenStore.open({ url: "redis://127.0.0.1:6379/0" });
   * await store.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#watcher.close();
    if (this.#owned && isNodeRedis(this.#client)) {
      await closeClient(this.#client as NodeRedisClientLike).catch(() => {});
    }
  }

  #lease(
    op: string,
    key: string,
    owner: string,
    ttlMs: number,
  ): Promise<boolean> {
    return this.#guard(
      `${op === "held" ? "read" : op} lease`,
      async () =>
        await this.#runner.run(LEASE_SCRIPT, `${this.#p}lock:${key}`, [
          this.#p,
          op,
          key,
          owner,
          String(Math.max(1, Math.ceil(ttlMs))),
        ]) === true,
    );
  }

  #status(op: string, id: string, value: string): Promise<unknown> {
    return this.#guard(
      `${op} token status`,
      () =>
        this.#runner.run(STATUS_SCRIPT, `${this.#p}status:${id}`, [
          this.#p,
          op,
          id,
          value,
        ]),
    );
  }
}

type LeaseOp = (
  op: "acquire" | "renew" | "release" | "held",
  key: string,
  owner: string,
  ttlMs: number,
) => Promise<boolean>;

class RedisLeases implements TokenLock {
  #run: LeaseOp;
  constructor(run: LeaseOp) {
    this.#run = run;
  }

  async acquire(
    key: string,
    options: { ttlMs: number },
  ): Promise<Lease | null> {
    const ttlMs = validateLeaseRequest(key, options);
    const owner = crypto.randomUUID();
    if (!await this.#run("acquire", key, owner, ttlMs)) return null;
    const run = this.#run;
    let released = false;
    return {
      key,
      async release(): Promise<void> {
        if (released) return;
        await run("release", key, owner, 1);
        released = true;
      },
      async renew(options: { ttlMs: number }): Promise<boolean> {
        const ttl = validateLeaseRequest(key, options);
        if (released) return false;
        return await run("renew", key, owner, ttl);
      },
    };
  }

  async isHeld(key: string): Promise<boolean> {
    validateLeaseKey(key);
    return await this.#run("held", key, "", 1);
  }
}

type StatusOp = (op: string, id: string, value: string) => Promise<unknown>;

class RedisStatuses implements TokenStatusStore {
  #run: StatusOp;
  constructor(run: StatusOp) {
    this.#run = run;
  }

  async get(id: string): Promise<TokenStatus | null> {
    validateId(id);
    const value = await this.#run("get", id, "");
    return value === null ? null : statusRead(parse(value, id), id, "Redis");
  }

  async put(status: TokenStatus): Promise<void> {
    const checked = statusToWrite(status);
    await this.#run("put", checked.id, JSON.stringify(checked));
  }

  async list(): Promise<TokenStatus[]> {
    const flat = await this.#run("list", "", "") as string[];
    const out: TokenStatus[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      out.push(statusRead(parse(flat[i + 1], flat[i]), flat[i], "Redis"));
    }
    return out;
  }

  async delete(id: string): Promise<void> {
    validateId(id);
    await this.#run("delete", id, "");
  }
}

function parse(value: unknown, id: string): unknown {
  try {
    return JSON.parse(String(value));
  } catch (error) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot read the status of token "${id}" from Redis: not JSON`,
      { cause: error },
    );
  }
}
