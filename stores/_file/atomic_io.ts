/**
 * File primitives the file store builds on: atomic replacement of a file
 * (temp file, fsync, rename, mode 0600) and a consistent snapshot read, over
 * the runtime's file system (`fs.ts`: Deno's or `node:fs/promises`). The
 * lock file is `lock_file.ts`'s.
 *
 * @module
 */

import { dirname } from "@std/path";
import { TokenStoreError } from "../../core/errors.ts";
import { type FileInfo, fileSystem, type OpenFile } from "./fs.ts";

/** Creates `dir` and its parents (mode 0700 for the ones it creates). */
export async function makeDirectory(dir: string): Promise<void> {
  try {
    await (await fileSystem()).mkdir(dir, 0o700);
  } catch (error) {
    throw backendError(`Cannot create directory "${dir}"`, error);
  }
}

/**
 * Replaces `path` with `text` atomically: writes `<path>.tmp` (mode 0600),
 * fsyncs it, renames it over `path`, then fsyncs the directory. Readers see
 * the old or the new content, never a part. Call it holding the lock: the
 * temp name is fixed, so a writer killed midway leaves at most one temp file,
 * which the next writer truncates and reuses; a write that fails (a full
 * disk) removes its temp file.
 *
 * With `sync: false`, nothing is fsynced: still atomic for every reader
 * while the machine runs, but a power loss may leave the old content (or,
 * on some file systems, none); for content that is worth nothing after a
 * reboot.
 *
 * @returns The stat key (see {@linkcode statKey}) of the content written,
 * taken from the temp file before the rename: a change another program makes
 * to `path` right after the rename does not get this key.
 * @throws {TokenStoreError} `BACKEND` when the file system refuses.
 */
export async function writeFileAtomic(
  path: string,
  text: string,
  options?: { sync?: boolean },
): Promise<string> {
  return (await writeFilesAtomic([path], text, options))[0];
}

/**
 * Replaces each of `paths` with `text` as {@linkcode writeFileAtomic} does,
 * for the cost of about one: the temp files are written and fsynced side by
 * side, then renamed in the order given, then each directory is fsynced
 * once. When a temp file cannot be written, nothing is renamed; a rename that
 * fails leaves the earlier ones done.
 *
 * @returns The stat key of each file written, in order.
 * @throws {TokenStoreError} `BACKEND` naming the first path refused.
 */
export async function writeFilesAtomic(
  paths: readonly string[],
  text: string,
  options?: { sync?: boolean },
): Promise<string[]> {
  const sync = options?.sync ?? true;
  const bytes = new TextEncoder().encode(text);
  const fs = await fileSystem();
  const written = await Promise.allSettled(
    paths.map((path) => writeTemp(`${path}.tmp`, bytes, sync)),
  );
  const failed = written.findIndex((result) => result.status === "rejected");
  if (failed !== -1) {
    // A partial copy holds secrets and, on a full disk, the last free blocks.
    await Promise.all(
      paths.map((path) => fs.remove(`${path}.tmp`).catch(() => {})),
    );
    const { reason } = written[failed] as PromiseRejectedResult;
    throw backendError(`Cannot write "${paths[failed]}"`, reason);
  }
  for (const path of paths) {
    try {
      await fs.rename(`${path}.tmp`, path);
    } catch (error) {
      await Promise.all(
        paths.map((path) => fs.remove(`${path}.tmp`).catch(() => {})),
      );
      throw backendError(`Cannot write "${path}"`, error);
    }
  }
  if (sync) {
    for (const dir of new Set(paths.map((path) => dirname(path)))) {
      await syncDirectory(dir);
    }
  }
  return written.map((result) =>
    (result as PromiseFulfilledResult<string>).value
  );
}

/** Writes and fsyncs `temp` (mode 0600); resolves its stat key. */
async function writeTemp(
  temp: string,
  bytes: Uint8Array,
  sync: boolean,
): Promise<string> {
  const fs = await fileSystem();
  const file = await fs.open(temp, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  try {
    await fs.chmod(temp, 0o600); // a temp file left by someone else
    let written = 0;
    while (written < bytes.length) {
      written += await file.write(bytes.subarray(written));
    }
    if (sync) await file.sync();
    return keyOf(await file.stat());
  } finally {
    await file.close();
  }
}

/** Makes a rename durable; best effort (not every platform allows it). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await (await fileSystem()).open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // durability of the rename only; the content is already synced
  }
}

/** A file's content and the identity used to tell whether it changed. */
export interface Snapshot {
  /** Inode, size and modification time, joined. */
  readonly key: string;
  /** The content, decoded as UTF-8. */
  readonly text: string;
}

/**
 * The stat key of `path` (inode, size, mtime), or `null` when it does not
 * exist.
 *
 * @throws {TokenStoreError} `BACKEND` on any other failure.
 */
export async function statKey(path: string): Promise<string | null> {
  const fs = await fileSystem();
  try {
    // one system call: synchronously where the runtime can (no event-loop
    // turn on a cached read's path)
    if (fs.sync) {
      const info = fs.sync.stat(path);
      return info === null ? null : keyOf(info);
    }
    return keyOf(await fs.stat(path));
  } catch (error) {
    if (fs.isNotFound(error)) return null;
    throw backendError(`Cannot read "${path}"`, error);
  }
}

/** Reads of a file changing in place before a snapshot gives up waiting. */
const STABLE_READS = 5;

/** Tells apart the keys of snapshots that describe no single state. */
let unstable = 0;

/**
 * Reads `path` and its stat key from one open descriptor, so the key always
 * describes the content read; `null` when the file does not exist.
 *
 * The store replaces the file by rename, but another program may change it
 * in place (truncate it) during the read: the descriptor is stat'ed before
 * and after, and the read is repeated while they differ. After
 * {@linkcode STABLE_READS} reads it returns the last one with a key that
 * matches no other, so nothing takes it for a state it knew.
 *
 * @throws {TokenStoreError} `BACKEND` on any other failure, `CORRUPT` when
 * the content is not UTF-8.
 */
export async function readSnapshot(path: string): Promise<Snapshot | null> {
  const fs = await fileSystem();
  let file: OpenFile;
  try {
    file = await fs.open(path, { read: true });
  } catch (error) {
    if (fs.isNotFound(error)) return null;
    throw backendError(`Cannot read "${path}"`, error);
  }
  let key: string;
  let bytes: Uint8Array;
  try {
    for (let attempt = 1;; attempt++) {
      const info = await file.stat();
      await file.rewind();
      bytes = await readAll(file, info.size);
      key = keyOf(info);
      if (key === keyOf(await file.stat()) && bytes.length === info.size) {
        break;
      }
      if (attempt === STABLE_READS) {
        key = `${key}:unstable${++unstable}`;
        break;
      }
    }
  } catch (error) {
    throw backendError(`Cannot read "${path}"`, error);
  } finally {
    await file.close();
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot parse "${path}": the file is not UTF-8 text`,
      { cause: error },
    );
  }
  return { key, text };
}

async function readAll(file: OpenFile, size: number): Promise<Uint8Array> {
  let buffer = new Uint8Array(Math.max(size, 1024));
  let length = 0;
  while (true) {
    if (length === buffer.length) {
      const bigger = new Uint8Array(buffer.length * 2);
      bigger.set(buffer);
      buffer = bigger;
    }
    const read = await file.read(buffer.subarray(length));
    if (read === null) return buffer.subarray(0, length);
    length += read;
  }
}

function keyOf(info: FileInfo): string {
  return `${info.ino ?? ""}:${info.size}:${info.mtimeMs ?? ""}`;
}

/**
 * `error` as a `BACKEND` error prefixed with `message` (a `TokenStoreError`
 * as it is).
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { backendError } from "./atomic_io.ts";
 *
 * const error = backendError(
 *   'Cannot read "tokens.json"',
 *   new Deno.errors.PermissionDenied("denied"),
 * );
 * assertEquals(error.code, "BACKEND");
 * assertEquals(error.message, 'Cannot read "tokens.json": denied');
 * ```
 */
export function backendError(
  message: string,
  error: unknown,
): TokenStoreError {
  if (error instanceof TokenStoreError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new TokenStoreError("BACKEND", `${message}: ${reason}`, {
    cause: error,
  });
}
