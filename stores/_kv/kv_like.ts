/**
 * The part of a Deno KV database the Deno KV token store uses, declared
 * structurally (as `LibsqlClient` is for libSQL) so that the store's public
 * types name nothing from the `Deno` namespace: its declarations type-check
 * for a TypeScript user on Node or Bun without Deno's types, and any
 * `Deno.Kv` fits {@linkcode KvLike}.
 *
 * @example Usage
 * ```ts
 * import type { KvLike } from "./kv_like.ts";
 *
 * const kv: KvLike = await Deno.openKv(":memory:");
 * kv.close();
 * ```
 *
 * @module
 */

/** One part of a key: what `Deno.KvKeyPart` is. */
export type KvKeyPart =
  | Uint8Array
  | string
  | number
  | bigint
  | boolean
  | symbol;

/** A key: what `Deno.KvKey` is. */
export type KvKey = readonly KvKeyPart[];

/** Consistency of a read: what `Deno.KvConsistencyLevel` is. */
export type KvConsistencyLevel = "strong" | "eventual";

/** A stored entry: what `Deno.KvEntry` is. */
export interface KvEntry<T> {
  /** Its key. */
  key: KvKey;
  /** Its value. */
  value: T;
  /** The version it was written at. */
  versionstamp: string;
}

/** An entry or its absence: what `Deno.KvEntryMaybe` is. */
export type KvEntryMaybe<T> = KvEntry<T> | {
  /** The key read. */
  key: KvKey;
  /** No value. */
  value: null;
  /** No version. */
  versionstamp: null;
};

/**
 * A check of an atomic operation (`Deno.AtomicCheck`): the key's current
 * versionstamp must be this one (`null`: the key must not exist).
 */
export interface KvCheck {
  /** The key checked. */
  key: KvKey;
  /** The versionstamp it must have. */
  versionstamp: string | null;
}

/** The part of a `Deno.AtomicOperation` the store uses. */
export interface KvAtomicOperation {
  /** Adds versionstamp checks. */
  check(...checks: KvCheck[]): KvAtomicOperation;
  /** Sets a key; `expireIn` (ms) lets the database drop it after that. */
  set(
    key: KvKey,
    value: unknown,
    options?: { expireIn?: number },
  ): KvAtomicOperation;
  /** Deletes a key. */
  delete(key: KvKey): KvAtomicOperation;
  /** Commits: `ok` is `false` when a check failed, and nothing was written. */
  commit(): Promise<{ ok: boolean }>;
}

/** Read options of {@linkcode KvLike}. */
export interface KvReadOptions {
  /** `"strong"` (default) or `"eventual"`. */
  consistency?: KvConsistencyLevel;
}

/** List options of {@linkcode KvLike}. */
export interface KvListOptions extends KvReadOptions {
  /** Entries fetched per round trip. */
  batchSize?: number;
}

/** What a watch yields to its reader: a `ReadableStreamDefaultReader`. */
export interface KvWatchReader {
  /** The next change of the watched keys, or the end of the stream. */
  read(): Promise<
    { done: true; value?: unknown } | {
      done: false;
      value: KvEntryMaybe<unknown>[];
    }
  >;
  /** Ends the watch. */
  cancel(): Promise<void>;
}

/**
 * The part of a `Deno.Kv` the store uses; any `Deno.Kv` (local SQLite file,
 * `:memory:`, or the managed database on Deno Deploy) fits it.
 */
export interface KvLike {
  /** Reads one key. */
  get(key: KvKey, options?: KvReadOptions): Promise<KvEntryMaybe<unknown>>;
  /** Reads up to 10 keys at once. */
  getMany(
    keys: KvKey[],
    options?: KvReadOptions,
  ): Promise<KvEntryMaybe<unknown>[]>;
  /** Lists the entries under a prefix, in key order. */
  list(
    selector: { prefix: KvKey },
    options?: KvListOptions,
  ): AsyncIterable<KvEntry<unknown>>;
  /** Starts an atomic operation. */
  atomic(): KvAtomicOperation;
  /** Watches keys: a stream of their entries, first as they are, then on each change. */
  watch(keys: KvKey[]): { getReader(): KvWatchReader };
  /** Closes the database. */
  close(): void;
}
