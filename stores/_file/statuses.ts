/**
 * Token statuses for the file store (private), kept in a sidecar file
 * beside the token file, whatever its format (never inside the Zoho CSV):
 * `<path>.status.json`,
 * `{"version": 1, "statuses": {"<id>": {"id": "<id>", "state": "ok", …}}}`.
 *
 * The file is read, changed and replaced atomically (temp file, fsync,
 * rename, mode 0600) under the token file's lock, so processes serialise
 * with each other and with token writes; changes made concurrently in one
 * process are group-committed into one rewrite. Reads take no lock (a rename
 * is atomic) and reuse the parsed statuses while the file's inode, size and
 * mtime are unchanged. A file that cannot be parsed is `CORRUPT`, naming the
 * path, and is never overwritten.
 *
 * @module
 */

import { validateId } from "../../core/token.ts";
import type { TokenStatus, TokenStatusStore } from "../../core/token_status.ts";
import { statusRead, statusToWrite } from "../_status.ts";
import { readSnapshot, statKey, writeFileAtomic } from "./atomic_io.ts";
import { applyChanges, type Change, GroupCommit } from "./group_commit.ts";
import { corrupt, parseJsonText } from "./json.ts";

/** The layout version written and accepted. */
export const STATUS_FILE_VERSION = 1;

/** Statuses by token id. */
export type StatusMap = Map<string, TokenStatus>;

/**
 * The status file of the token file `path`.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { statusPath } from "./statuses.ts";
 *
 * assertEquals(statusPath("/data/sdk_tokens.txt"), "/data/sdk_tokens.txt.status.json");
 * ```
 */
export function statusPath(path: string): string {
  return `${path}.status.json`;
}

/**
 * Parses a status file's text.
 *
 * @throws {TokenStoreError} `CORRUPT` naming `path` and what is wrong.
 */
export function parseStatusFile(text: string, path: string): StatusMap {
  const data = parseJsonText(text, path);
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw corrupt(path, 'expected an object with "version" and "statuses"');
  }
  const file = data as { version?: unknown; statuses?: unknown };
  if (file.version !== STATUS_FILE_VERSION) {
    throw corrupt(
      path,
      `unsupported "version" ${
        JSON.stringify(file.version ?? null).slice(0, 20)
      } (expected ${STATUS_FILE_VERSION})`,
    );
  }
  const statuses = file.statuses;
  if (
    statuses === null || typeof statuses !== "object" ||
    Array.isArray(statuses)
  ) {
    throw corrupt(path, '"statuses" is not an object');
  }
  const map: StatusMap = new Map();
  for (const [id, value] of Object.entries(statuses)) {
    const status = statusRead(value, id, `"${path}"`);
    map.set(id, status);
  }
  return map;
}

/** The text of a status file holding `statuses` (in id order). */
export function formatStatusFile(statuses: StatusMap): string {
  const sorted = [...statuses.keys()].sort();
  const out: Record<string, TokenStatus> = {};
  for (const id of sorted) out[id] = statuses.get(id)!;
  return `${
    JSON.stringify({ version: STATUS_FILE_VERSION, statuses: out }, null, 2)
  }\n`;
}

function same(a: TokenStatus | undefined, b: TokenStatus): boolean {
  return a !== undefined &&
    JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The file store's statuses, in `<token file>.status.json`, under the token
 * file's lock.
 */
export class FileStatuses implements TokenStatusStore {
  /** The status file. */
  readonly path: string;
  #cache: { key: string; statuses: StatusMap } | null = null;
  #commits: GroupCommit<Change<StatusMap, unknown>, unknown>;

  /**
   * @param tokenPath The token file (absolute).
   * @param lockPath The lock file the token file uses.
   * @param timeoutMs How long to wait for the lock file.
   */
  constructor(tokenPath: string, lockPath: string, timeoutMs: number) {
    this.path = statusPath(tokenPath);
    this.#commits = new GroupCommit(
      lockPath,
      timeoutMs,
      async (changes) => {
        const statuses = await this.readLocked();
        const { outcomes, changed } = applyChanges(statuses, changes);
        if (changed) await this.writeLocked(statuses);
        return outcomes;
      },
    );
  }

  /** Token `id`'s status, or `null`. */
  async get(id: string): Promise<TokenStatus | null> {
    validateId(id);
    const status = (await this.#read()).get(id);
    return status ? { ...status } : null;
  }

  /** Stores `status` (replacing the one of its id) under the lock. */
  async put(status: TokenStatus): Promise<void> {
    const checked = statusToWrite(status);
    await this.#commits.submit((statuses) => {
      const changed = !same(statuses.get(checked.id), checked);
      statuses.set(checked.id, checked);
      return { result: undefined, changed };
    });
  }

  /** Every status, in id order. */
  async list(): Promise<TokenStatus[]> {
    return [...(await this.#read()).values()].map((status) => ({ ...status }));
  }

  /** Removes token `id`'s status (no write when there is none). */
  async delete(id: string): Promise<void> {
    validateId(id);
    if (!(await this.#read()).has(id)) return;
    await this.#commits.submit((statuses) => ({
      result: undefined,
      changed: statuses.delete(id),
    }));
  }

  /** Removes every status (no write when there is none). */
  async clear(): Promise<void> {
    if ((await statKey(this.path)) === null) return;
    await this.#commits.submit((statuses) => {
      const changed = statuses.size > 0;
      statuses.clear();
      return { result: undefined, changed };
    });
  }

  /**
   * The statuses in the file, read for a change: the caller holds the lock.
   *
   * @throws {TokenStoreError} `CORRUPT` when the file cannot be parsed.
   */
  async readLocked(): Promise<StatusMap> {
    const snapshot = await readSnapshot(this.path);
    if (snapshot === null) return new Map();
    const statuses = parseStatusFile(snapshot.text, this.path);
    this.#cache = { key: snapshot.key, statuses: new Map(statuses) };
    return statuses;
  }

  /** Replaces the file atomically with `statuses`: the caller holds the lock. */
  async writeLocked(statuses: StatusMap): Promise<void> {
    const key = await writeFileAtomic(this.path, formatStatusFile(statuses));
    this.#cache = { key, statuses: new Map(statuses) };
  }

  /** The statuses in the file, parsed again only when it changed. */
  async #read(): Promise<StatusMap> {
    const key = await statKey(this.path);
    if (key === null) return new Map();
    if (this.#cache?.key === key) return this.#cache.statuses;
    const snapshot = await readSnapshot(this.path);
    if (snapshot === null) return new Map();
    const statuses = parseStatusFile(snapshot.text, this.path);
    this.#cache = { key: snapshot.key, statuses };
    return statuses;
  }
}
