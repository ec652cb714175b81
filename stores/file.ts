/**
 * A {@linkcode TokenStore} kept in one file, shared safely by every process
 * on the machine: JSON (default) or the Zoho SDKs' `sdk_tokens.txt` CSV
 * layout, which the official SDKs can keep reading.
 *
 * - Writes are atomic: a temp file in the same directory, fsync, rename over
 *   the target. The file has mode 0600; it and its directory are created on
 *   the first save.
 * - Processes serialise through the lock file: `flock` on `<path>.lock`
 *   (Deno) and the owner file `<path>.lock.owner`, created exclusively
 *   (every runtime; Node and Bun have no `flock`). Every change re-reads the
 *   file under that lock, so none is lost, whichever runtimes share it.
 * - Changes made concurrently in one process are group-committed: applied in
 *   call order to one read of the file under the lock and written in one
 *   atomic replacement, each call resolving (or rejecting) on its own. 1,000
 *   concurrent saves into a 10,000-token file take one rewrite, not 1,000.
 * - Reads reuse the parsed tokens while the file's inode, size and mtime are
 *   unchanged.
 * - A file that cannot be parsed raises `TokenStoreError` `"CORRUPT"` naming
 *   the path and the line (CSV) or position (JSON), and is never overwritten.
 *   So does a JSON token with a field the model does not have, and a token
 *   (JSON or CSV) with none of refresh, grant or access token.
 * - Every save also writes the new content to `<path>.bak` (atomically, mode
 *   0600): the last good copy. A save refuses with `"CORRUPT"`, leaving both
 *   files alone, when the file lacks a token that copy holds: another program
 *   truncated, emptied, removed or replaced it. Deletes through any
 *   `FileTokenStore` remove the token from both, so they are not mistaken for
 *   a loss. Reads raise the same error when a token this store had seen is
 *   gone from the file but not from the copy. Recover by copying `<path>.bak`
 *   back over the file.
 * - {@linkcode FileTokenStore.prototype.lock} keeps leases in
 *   `<path>.leases.json`, under the same lock.
 * - {@linkcode FileTokenStore.prototype.status} keeps token statuses in
 *   `<path>.status.json` (JSON, whatever the token file's format: the Zoho
 *   CSV keeps its layout), written atomically under the same lock, mode
 *   0600. Deleting a token removes its status; a status file that cannot be
 *   parsed is `"CORRUPT"`, is never overwritten, and fails the deletes that
 *   would change it.
 *
 * Uses Deno's file system APIs, else `node:fs/promises` (Node, Bun; imported
 * only then): not for Deno Deploy or Workers, which have no writable disk.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { join } from "@std/path";
 * import { FileTokenStore } from "@tokenstore/tokenstore/file";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const dir = await Deno.makeTempDir();
 * const path = join(dir, "sdk_tokens.txt");
 * const store = new FileTokenStore({ path, format: "zoho-csv" });
 * await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * const found = await store.findToken({ userName: "ada@example.com" });
 * assertEquals(found?.refreshToken, "1000.r");
 * // The Zoho SDKs' own layout, which they can keep reading:
 * const [header] = (await Deno.readTextFile(path)).split("\n");
 * assertEquals(
 *   header,
 *   "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain",
 * );
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { newTokenId } from "../core/id.ts";
import { type OAuthToken, validateId } from "../core/token.ts";
import {
  mergeFound,
  planQuery,
  planSave,
  type TokenLock,
  type TokenQuery,
  type TokenStore,
  validateForSave,
} from "../core/token_store.ts";
import type { TokenStatusStore } from "../core/token_status.ts";
import { checkCsvToken, type ParsedCsv } from "./_file/zoho_csv.ts";
import {
  backupPath,
  checkFile,
  dropsAny,
  writeWithBackup,
} from "./_file/backup.ts";
import {
  EMPTY_FILE,
  formatFile,
  parseFile,
  parserFor,
} from "./_file/format.ts";
import {
  applyChanges,
  type Change as GroupChange,
  GroupCommit,
  type Outcome,
} from "./_file/group_commit.ts";
import { FileTokenLock } from "./_file/leases.ts";
import { FileStatuses, type StatusMap } from "./_file/statuses.ts";
import { checkOptions } from "./_file/options.ts";
import { readSnapshot, type Snapshot, statKey } from "./_file/atomic_io.ts";
import { withFileLock } from "./_file/lock_file.ts";
import { basename } from "@std/path";
import { absolutePath } from "./_file/fs.ts";
import { FileWatch } from "./_file/watch.ts";
import { TokenMap } from "./_token_map.ts";

/** Options of {@linkcode FileTokenStore}. */
export interface FileTokenStoreOptions {
  /** The token file; relative paths resolve against the current directory. */
  path: string;
  /**
   * `"json"` (default) or `"zoho-csv"`, the Zoho SDKs' `sdk_tokens.txt`
   * layout. The CSV layout cannot hold a comma, a double quote or a line
   * break in a value: such tokens are refused with `INVALID_TOKEN`.
   */
  format?: "json" | "zoho-csv";
  /** How long to wait for the lock file before failing; default 10 000 ms. */
  lockTimeoutMs?: number;
}

/**
 * What a commit's changes work on: the file's tokens and, for the changes
 * that asked for them (deletes), its statuses.
 */
interface FileState {
  tokens: TokenMap;
  /** The status file's statuses; set only for changes that asked for them. */
  statuses: StatusMap | null;
  /** Whether a change removed a status. */
  statusesChanged: boolean;
}

/** A change to the file's tokens (see `_file/group_commit.ts`). */
type Change<T> = GroupChange<FileState, T>;

/** A queued change, and whether it needs the statuses too. */
interface Queued {
  change: Change<unknown>;
  statuses: boolean;
}

/** Parsed tokens and the stat key of the file they came from. */
interface Index {
  key: string | null;
  tokens: TokenMap;
}

/**
 * A {@linkcode TokenStore} in a JSON or Zoho CSV file, safe for concurrent
 * processes (see the module documentation).
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { join } from "@std/path";
 * import { FileTokenStore } from "@tokenstore/tokenstore/file";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 *
 * const dir = await Deno.makeTempDir();
 * const path = join(dir, "tokens.json");
 * const store = new FileTokenStore({ path });
 * const saved = await store.saveToken(
 *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
 * );
 * // Another store on the same file (another process, say) sees the token.
 * const other = new FileTokenStore({ path });
 * assertEquals(
 *   (await other.findTokenById(saved.id!))?.userName,
 *   "ada@example.com",
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FileTokenStore implements TokenStore {
  #watch: FileWatch;
  /** The token file, as an absolute path. */
  readonly path: string;
  /** The file's layout. */
  readonly format: "json" | "zoho-csv";
  /** The last good copy of the file, `<path>.bak`. */
  readonly backupPath: string;
  /** Leases in `<path>.leases.json`, shared by every process. */
  readonly lock: TokenLock;
  /**
   * Token statuses in `<path>.status.json` (JSON in both formats; the Zoho
   * CSV is left as the SDKs write it), mode 0600, replaced atomically under
   * the store's lock file: every process sees them. Deleting a token
   * removes its status.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { join } from "@std/path";
   * import { FileTokenStore } from "@tokenstore/tokenstore/file";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const dir = await Deno.makeTempDir();
   * const path = join(dir, "sdk_tokens.txt");
   * const store = new FileTokenStore({ path, format: "zoho-csv" });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * await store.status.put({ id: saved.id!, state: "revoked", failures: 1, lastError: "invalid_grant" });
   * // Another store on the same file (another process, say) sees it.
   * const other = new FileTokenStore({ path, format: "zoho-csv" });
   * assertEquals((await other.status.get(saved.id!))?.state, "revoked");
   * assertEquals((await Deno.stat(`${path}.status.json`)).mode! & 0o777, 0o600);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  readonly status: TokenStatusStore;
  #statuses: FileStatuses;
  #lockPath: string;
  #timeoutMs: number;
  #index: Index | null = null;
  #commits: GroupCommit<Queued, unknown>;

  /**
   * Creates a store on `options.path`. Nothing is read or created until the
   * first call.
   *
   * @param options Path, format and lock timeout.
   * @throws {TypeError} when an option is invalid.
   */
  constructor(options: FileTokenStoreOptions) {
    const { path, format, lockTimeoutMs } = checkOptions(options);
    this.path = absolutePath(path);
    this.format = format;
    this.backupPath = backupPath(this.path);
    this.#lockPath = `${this.path}.lock`;
    this.#timeoutMs = lockTimeoutMs;
    this.#commits = new GroupCommit(
      this.#lockPath,
      lockTimeoutMs,
      (changes) => this.#commitBatch(changes),
    );
    this.lock = new FileTokenLock(
      `${this.path}.leases.json`,
      this.#lockPath,
      lockTimeoutMs,
    );
    this.#statuses = new FileStatuses(this.path, this.#lockPath, lockTimeoutMs);
    this.status = this.#statuses;
    const name = basename(this.path);
    this.#watch = new FileWatch(this.path, (changed) => changed === name);
  }

  /**
   * Finds a token by the matching rules.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { join } from "@std/path";
   * import { FileTokenStore } from "@tokenstore/tokenstore/file";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileTokenStore({ path: join(dir, "tokens.json") });
   * await store.saveToken(
   *   new OAuthToken({
   *     userName: "ada@example.com",
   *     clientId: "1000.C",
   *     refreshToken: "1000.r",
   *   }),
   * );
   * const token = await store.findToken({
   *   userName: "ada@example.com",
   *   clientId: "1000.C",
   * });
   * assertEquals(token?.refreshToken, "1000.r");
   * assertEquals(
   *   await store.findToken({ userName: "ada@example.com", clientId: "1000.D" }),
   *   null,
   * );
   * await Deno.remove(dir, { recursive: true });
   * ```
   *
   * @param query A query or a token (merge semantics).
   * @returns The token, or `null`.
   */
  async findToken(query: TokenQuery | OAuthToken): Promise<OAuthToken | null> {
    const plan = planQuery(query);
    return mergeFound(query, (await this.#read()).tokens.find(plan));
  }

  /**
   * Inserts or updates a token (found by the matching rules, id first) under
   * the file lock. Concurrent calls share one rewrite of the file (group
   * commit) and apply in call order; a token this one refuses (before
   * anything is read) rejects only its own call.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { join } from "@std/path";
   * import { FileTokenStore } from "@tokenstore/tokenstore/file";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileTokenStore({ path: join(dir, "tokens.json") });
   * const saved = await store.saveToken(
   *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
   * );
   * // The same user again: its fields replace the stored ones, same id.
   * const updated = await store.saveToken(
   *   new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r2" }),
   * );
   * assertEquals(updated.id, saved.id);
   * assertEquals((await store.getTokens()).map((t) => t.refreshToken), [
   *   "1000.r2",
   * ]);
   * await Deno.remove(dir, { recursive: true });
   * ```
   *
   * @param token The token.
   * @returns The stored token, id set.
   */
  async saveToken(token: OAuthToken): Promise<OAuthToken> {
    const checked = validateForSave(token);
    if (this.format === "zoho-csv") checkCsvToken(checked);
    const plan = planSave(checked);
    return await this.#mutate(({ tokens }) => {
      const existing = plan ? tokens.find(plan) : null;
      let id = existing?.id ?? checked.id;
      if (id === undefined) {
        do id = newTokenId(); while (tokens.has(id));
      }
      const stored = checked.id === id ? checked : checked.with({ id });
      tokens.set(stored);
      return { result: stored, changed: true };
    });
  }

  /**
   * Deletes the token with this id.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { join } from "@std/path";
   * import { FileTokenStore } from "@tokenstore/tokenstore/file";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileTokenStore({ path: join(dir, "tokens.json") });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * assertEquals(await store.deleteToken(saved.id!), true);
   * assertEquals(await store.deleteToken(saved.id!), false);
   * await Deno.remove(dir, { recursive: true });
   * ```
   *
   * @param id The id.
   * @returns `true` if a token was deleted.
   */
  async deleteToken(id: string): Promise<boolean> {
    validateId(id);
    if (!(await this.#read()).tokens.has(id)) {
      // no token: a status left by a write that raced a delete goes too
      await this.#statuses.delete(id);
      return false;
    }
    return await this.#mutate((state) => {
      const statuses = state.statuses!;
      const deleted = state.tokens.delete(id);
      if (statuses.delete(id)) state.statusesChanged = true;
      return { result: deleted, changed: deleted };
    }, true);
  }

  /**
   * Every stored token, in file order.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { join } from "@std/path";
   * import { FileTokenStore } from "@tokenstore/tokenstore/file";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileTokenStore({ path: join(dir, "tokens.json") });
   * assertEquals(await store.getTokens(), []); // no file yet
   * await store.saveToken(new OAuthToken({ refreshToken: "1000.a" }));
   * await store.saveToken(new OAuthToken({ refreshToken: "1000.b" }));
   * const tokens = await store.getTokens();
   * assertEquals(tokens.map((token) => token.refreshToken), ["1000.a", "1000.b"]);
   * await Deno.remove(dir, { recursive: true });
   * ```
   *
   * @returns The tokens.
   */
  async getTokens(): Promise<OAuthToken[]> {
    return [...(await this.#read()).tokens.values()];
  }

  /**
   * Deletes every stored token (the CSV header stays).
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { join } from "@std/path";
   * import { FileTokenStore } from "@tokenstore/tokenstore/file";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const dir = await Deno.makeTempDir();
   * const path = join(dir, "sdk_tokens.txt");
   * const store = new FileTokenStore({ path, format: "zoho-csv" });
   * await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * await store.deleteTokens();
   * assertEquals(await store.getTokens(), []);
   * assertEquals((await Deno.readTextFile(path)).startsWith("id,user_name,"), true);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async deleteTokens(): Promise<void> {
    if ((await statKey(this.path)) === null) {
      await this.#statuses.clear();
      return;
    }
    await this.#mutate((state) => {
      const statuses = state.statuses!;
      const changed = state.tokens.size > 0;
      state.tokens.clear();
      if (statuses.size > 0) {
        statuses.clear();
        state.statusesChanged = true;
      }
      return { result: undefined, changed };
    }, true);
  }

  /**
   * The token with this id.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { join } from "@std/path";
   * import { FileTokenStore } from "@tokenstore/tokenstore/file";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileTokenStore({ path: join(dir, "tokens.json") });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * assertEquals((await store.findTokenById(saved.id!))?.refreshToken, "1000.r");
   * assertEquals(await store.findTokenById("a1"), null);
   * await Deno.remove(dir, { recursive: true });
   * ```
   *
   * @param id The id.
   * @returns The token, or `null`.
   */
  async findTokenById(id: string): Promise<OAuthToken | null> {
    validateId(id);
    return (await this.#read()).tokens.get(id) ?? null;
  }

  /**
   * Resolves when the token file changes after the call (any token's save
   * or delete, by any process), or when `signal` aborts: a watch on the
   * file's directory (`Deno.watchFs`; `node:fs` `watch` on Node and Bun),
   * open while someone waits. Waiters of the refresh client wake through
   * it as soon as another process saves a refreshed token; a change the
   * watch misses only costs them their next poll.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { join } from "@std/path";
   * import { FileTokenStore } from "@tokenstore/tokenstore/file";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileTokenStore({ path: join(dir, "tokens.json") });
   * const saved = await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * const changed = store.watchToken(saved.id!, { signal: AbortSignal.timeout(5_000) });
   * await store.saveToken(saved.with({ accessToken: "1000.a" }));
   * await changed;
   * assertEquals((await store.findTokenById(saved.id!))?.accessToken, "1000.a");
   * await store.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   *
   * @param id The token id.
   * @param options `signal` ends the wait.
   */
  watchToken(id: string, options: { signal: AbortSignal }): Promise<void> {
    return this.#watch.watch(id, options.signal);
  }

  /**
   * Drops the in-memory index and closes the watch of
   * {@linkcode FileTokenStore.prototype.watchToken}. The store holds no
   * open file between calls, so there is nothing else to release; it keeps
   * working if used again.
   *
   * @example Usage
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { join } from "@std/path";
   * import { FileTokenStore } from "@tokenstore/tokenstore/file";
   * import { OAuthToken } from "@tokenstore/tokenstore";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileTokenStore({ path: join(dir, "tokens.json") });
   * await store.saveToken(new OAuthToken({ refreshToken: "1000.r" }));
   * await store.close();
   * // Nothing stays open; a closed store keeps working if used again.
   * assertEquals((await store.getTokens()).length, 1);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async close(): Promise<void> {
    this.#index = null;
    await this.#watch.close();
  }

  /**
   * The tokens in the file, parsed again only when the file changed. When a
   * token this store had seen is gone, the file is compared with its last
   * good copy, under the lock (a writer may be between its two renames).
   */
  async #read(): Promise<Index> {
    const key = await statKey(this.path);
    if (key !== null && this.#index?.key === key) return this.#index;
    let snapshot = key === null ? null : await readSnapshot(this.path);
    let parsed = snapshot ? await this.#parse(snapshot.text) : EMPTY_FILE;
    if (this.#index && dropsAny(this.#index.tokens.values(), ids(parsed))) {
      [snapshot, parsed] = await withFileLock(
        this.#lockPath,
        this.#timeoutMs,
        async () => {
          const again = await readSnapshot(this.path);
          const parsed = again ? await this.#parse(again.text) : EMPTY_FILE;
          await this.#check(again, parsed, "read");
          return [again, parsed] as const;
        },
      );
    }
    if (snapshot === null) {
      // no file, and nothing lost (a store's deletes emptied the copy)
      if (this.#index) this.#index = { key: null, tokens: new TokenMap() };
      return { key: null, tokens: new TokenMap() };
    }
    if (parsed.assignedIds) {
      // rows written without an id: give them ids in the file, once
      await this.#mutate(() => ({ result: undefined, changed: true }));
      return this.#index ?? { key: null, tokens: new TokenMap() };
    }
    this.#index = { key: snapshot.key, tokens: TokenMap.of(parsed.tokens) };
    return this.#index;
  }

  /**
   * Queues `change` for the next group commit (see `_file/group_commit.ts`):
   * changes made concurrently in this process are applied in call order to
   * one read of the file under the lock and written in one atomic
   * replacement. Resolves once the file holding it is written. With
   * `statuses`, the change also gets the status file's statuses: it fails
   * alone, before it runs, when that file cannot be read.
   */
  #mutate<T>(change: Change<T>, statuses = false): Promise<T> {
    return this.#commits.submit({
      change: change as Change<unknown>,
      statuses,
    }) as Promise<T>;
  }

  /**
   * One group commit, under the lock: re-reads the file, checks it lost
   * nothing since a store last saved it, applies every change in order and,
   * when one reports a change, replaces the file and its last good copy
   * atomically, once. A file that cannot be parsed or lost tokens stops
   * everything before any change runs; a change that throws fails alone.
   */
  async #commitBatch(
    queued: readonly Queued[],
  ): Promise<Outcome<unknown>[]> {
    const snapshot = await readSnapshot(this.path);
    const parsed = snapshot ? await this.#parse(snapshot.text) : EMPTY_FILE;
    // unchanged since this store last saved or checked it: nothing to do
    if (snapshot === null || snapshot.key !== this.#index?.key) {
      await this.#check(snapshot, parsed, "write");
    }
    const tokens = TokenMap.of(parsed.tokens);
    const state: FileState = { tokens, statuses: null, statusesChanged: false };
    let unreadable: { error: unknown } | null = null;
    if (queued.some((q) => q.statuses)) {
      try {
        state.statuses = await this.#statuses.readLocked();
      } catch (error) {
        unreadable = { error }; // fails the changes that need it, alone
      }
    }
    const changes = queued.map(({ change, statuses }): Change<unknown> =>
      statuses && unreadable
        ? () => {
          throw unreadable.error;
        }
        : change
    );
    const { outcomes, changed } = applyChanges(state, changes);
    if (changed || parsed.assignedIds) {
      const key = await writeWithBackup(
        this.path,
        formatFile(this.format, [...tokens.values()], parsed.layout),
        dropsAny(parsed.tokens, tokens),
      );
      this.#index = { key, tokens };
    } else if (snapshot) {
      this.#index = { key: snapshot.key, tokens };
    }
    // after the tokens: a crash in between leaves a deleted token's status
    // behind (deleting that id again removes it), never a kept token
    // without its status
    if (state.statusesChanged) {
      await this.#statuses.writeLocked(state.statuses!);
    }
    return outcomes;
  }

  /**
   * Refuses (`CORRUPT`) a file that lacks tokens its last good copy holds,
   * or, without a copy, tokens this store last saw.
   */
  #check(
    snapshot: Snapshot | null,
    parsed: ParsedCsv,
    action: "read" | "write",
  ): Promise<void> {
    return checkFile(
      this.path,
      snapshot && { text: snapshot.text, parsed },
      this.#index?.tokens.values() ?? null,
      parserFor(this.format),
      action,
    );
  }

  #parse(text: string): Promise<ParsedCsv> {
    return parseFile(this.format, text, this.path);
  }
}

/** The ids of a parsed file. */
function ids(parsed: ParsedCsv): Set<string> {
  return new Set(parsed.tokens.map((token) => token.id!));
}
