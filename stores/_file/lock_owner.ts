/**
 * The owner file of the file store's lock, `<path>.lock.owner`: created
 * exclusively (`O_CREAT | O_EXCL`, mode 0600) by the process holding the
 * lock and removed when it lets go. Node and Bun have no `flock`, so this is
 * how they exclude each other and Deno processes, which create it too once
 * they hold the `flock` on `<path>.lock` (that one keeps Deno processes
 * apart, and is released by the kernel when its holder dies).
 *
 * It holds `{ pid, host, flock, nonce }` as JSON. A holder that dies leaves
 * it behind; a waiter removes it as stale when
 * - its modification time is more than {@linkcode STALE_MS} old (a holder
 *   touches it every {@linkcode HEARTBEAT_MS} while it holds the lock), or
 * - it was written by a holder of the `flock` and the waiter holds that
 *   `flock` now (the writer lets go of it only after removing the file), or
 * - it names a process on this host that is gone (`kill(pid, 0)`, Node and
 *   Bun), or this very process, which does not hold the lock.
 *
 * Only one waiter at a time removes a stale owner file, holding
 * `<path>.lock.owner.takeover` (itself stale after
 * {@linkcode TAKEOVER_STALE_MS}), and only if the file is still the one it
 * judged: a holder that just took the lock is never removed.
 *
 * @module
 */

import { dirname } from "@std/path";
import { backendError, makeDirectory } from "./atomic_io.ts";
import { type FileInfo, type FileSystem, fileSystem } from "./fs.ts";

/** Age of an untouched owner file after which its holder is taken for dead (ms). */
export const STALE_MS = 10_000;
/** How often a holder touches its owner file (ms). */
export const HEARTBEAT_MS = 2_000;
/** Age of a takeover guard after which its holder is taken for dead (ms). */
export const TAKEOVER_STALE_MS = 5_000;

/** What an owner file holds. */
interface Owner {
  pid: number;
  host: string;
  flock: boolean;
  nonce: string;
}

/** An owner file as read: its info, text and, if it parses, its owner. */
interface Seen {
  info: FileInfo;
  text: string;
  owner: Owner | null;
}

/** The lock held, as an owner file; `release` removes it if still ours. */
export interface OwnerHold {
  release(): Promise<void>;
}

/** Nonces of the owner files this process holds now. */
const held = new Set<string>();

/**
 * One attempt to create the owner file `ownerPath`: the hold, or `null` when
 * a live holder has it. A stale one is removed first.
 *
 * @param withFlock Whether the caller holds the `flock` of the lock file.
 * @throws {TokenStoreError} `BACKEND` when the file system refuses.
 */
export async function tryOwn(
  ownerPath: string,
  withFlock: boolean,
): Promise<OwnerHold | null> {
  const fs = await fileSystem();
  const me: Owner = {
    pid: fs.pid,
    host: await fs.hostname(),
    flock: withFlock,
    nonce: crypto.randomUUID(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await create(fs, ownerPath, me)) return hold(fs, ownerPath, me);
    if (!(await removeIfStale(fs, ownerPath, me))) return null;
  }
  return null;
}

/** Creates the owner file; `false` when it exists. */
async function create(
  fs: FileSystem,
  ownerPath: string,
  me: Owner,
): Promise<boolean> {
  const open = () =>
    fs.open(ownerPath, { write: true, createNew: true, mode: 0o600 });
  let file;
  try {
    file = await open().catch(async (error) => {
      if (!fs.isNotFound(error)) throw error;
      await makeDirectory(dirname(ownerPath));
      return await open();
    });
  } catch (error) {
    if (fs.isAlreadyExists(error)) return false;
    throw backendError(`Cannot create lock owner file "${ownerPath}"`, error);
  }
  try {
    const bytes = new TextEncoder().encode(`${JSON.stringify(me)}\n`);
    for (let at = 0; at < bytes.length;) {
      at += await file.write(bytes.subarray(at));
    }
  } catch (error) {
    await file.close().catch(() => {});
    await fs.remove(ownerPath).catch(() => {});
    throw backendError(`Cannot write lock owner file "${ownerPath}"`, error);
  }
  await file.close();
  held.add(me.nonce);
  return true;
}

/**
 * Creates the owner file at once, synchronously, for a hold of a few system
 * calls (no heartbeat: it ends long before anyone may call it stale): the
 * function that removes it, or `null` when it exists (held, or left by a
 * dead holder: the asynchronous path decides that).
 *
 * @param fs The file system; it must have {@linkcode FileSystem.sync}.
 * @param ownerPath The owner file.
 * @param host This host's name (see {@linkcode FileSystem.hostname}).
 */
export function tryOwnSync(
  fs: FileSystem,
  ownerPath: string,
  host: string,
): (() => void) | null {
  const sync = fs.sync!;
  const me: Owner = {
    pid: fs.pid,
    host,
    flock: fs.flock,
    nonce: crypto.randomUUID(),
  };
  const text = `${JSON.stringify(me)}\n`;
  if (!sync.createNew(ownerPath, text)) return null;
  return () => {
    // still ours unless a takeover judged it stale, which it cannot be yet
    if (sync.readText(ownerPath) === text) sync.remove(ownerPath);
  };
}

function hold(fs: FileSystem, ownerPath: string, me: Owner): OwnerHold {
  const heartbeat = setInterval(() => {
    fs.touch(ownerPath).catch(() => {});
  }, HEARTBEAT_MS);
  return {
    release: async () => {
      clearInterval(heartbeat);
      try {
        const seen = await read(fs, ownerPath);
        if (seen?.owner?.nonce === me.nonce) await fs.remove(ownerPath);
      } catch {
        // left behind: the next holder finds it stale (this process, gone)
      } finally {
        held.delete(me.nonce);
      }
    },
  };
}

/** The owner file, or `null` when there is none. */
async function read(fs: FileSystem, path: string): Promise<Seen | null> {
  try {
    const info = await fs.stat(path);
    const text = await fs.readText(path);
    return { info, text, owner: parseOwner(text) };
  } catch (error) {
    if (fs.isNotFound(error)) return null;
    throw backendError(`Cannot read lock owner file "${path}"`, error);
  }
}

function parseOwner(text: string): Owner | null {
  try {
    const value = JSON.parse(text);
    return typeof value?.pid === "number" && typeof value.host === "string" &&
        typeof value.flock === "boolean" && typeof value.nonce === "string"
      ? value
      : null;
  } catch {
    return null; // being written, or not ours
  }
}

function isStale(fs: FileSystem, seen: Seen, me: Owner): boolean {
  const age = Date.now() - (seen.info.mtimeMs ?? Date.now());
  if (age > STALE_MS) return true;
  const owner = seen.owner;
  if (owner === null) return false;
  if (me.flock && owner.flock) return true;
  if (owner.host !== me.host) return false;
  if (owner.pid === me.pid) return !held.has(owner.nonce);
  return fs.isAlive(owner.pid) === false;
}

/**
 * Removes the owner file if it is stale, one waiter at a time.
 *
 * @returns Whether it is gone (try to create it again at once).
 */
async function removeIfStale(
  fs: FileSystem,
  ownerPath: string,
  me: Owner,
): Promise<boolean> {
  const seen = await read(fs, ownerPath);
  if (seen === null) return true;
  if (!isStale(fs, seen, me)) return false;
  const guard = `${ownerPath}.takeover`;
  try {
    const file = await fs.open(guard, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    await file.close();
  } catch (error) {
    if (!fs.isAlreadyExists(error)) {
      throw backendError(`Cannot create lock owner file "${guard}"`, error);
    }
    const info = await fs.stat(guard).catch(() => null);
    if (info && Date.now() - (info.mtimeMs ?? 0) > TAKEOVER_STALE_MS) {
      await fs.remove(guard).catch(() => {});
    }
    return false;
  }
  try {
    const again = await read(fs, ownerPath);
    if (
      again !== null && again.text === seen.text &&
      again.info.ino === seen.info.ino &&
      again.info.mtimeMs === seen.info.mtimeMs
    ) {
      await fs.remove(ownerPath);
    }
    return true;
  } finally {
    await fs.remove(guard).catch(() => {});
  }
}
