/**
 * The synchronous file system calls of the file store (Deno only), for work
 * of a few system calls under the lock file (a lease change) that would
 * otherwise wait for one event-loop turn per call, and the file info every
 * call reports.
 *
 * @module
 */

import { dirname } from "@std/path";

/** What the store needs to know about a file. */
export interface FileInfo {
  /** Inode number, where the platform has one. */
  readonly ino: number | null;
  /** Size in bytes. */
  readonly size: number;
  /** Modification time (epoch ms, maybe fractional), where known. */
  readonly mtimeMs: number | null;
}

/**
 * Synchronous calls, for short work under the lock file that would
 * otherwise wait for one event-loop turn per call (Deno only).
 */
export interface SyncFiles {
  /**
   * Opens (creating, mode 0600) `path` and takes its exclusive `flock`
   * without waiting: the function that closes it (releasing the lock), or
   * `null` when another descriptor holds it.
   */
  tryLock(path: string): (() => void) | null;
  /** Creates `path` (mode 0600) holding `text`; `false` when it exists. */
  createNew(path: string, text: string): boolean;
  /** The whole file as UTF-8 text; `null` when it does not exist. */
  readText(path: string): string | null;
  /** The file's info; `null` when it does not exist. */
  stat(path: string): FileInfo | null;
  /**
   * Replaces `path` with `text`: `<path>.tmp` written (mode 0600, fsynced
   * with the directory when `durable`), then renamed over it.
   */
  replace(path: string, text: string, durable: boolean): void;
  remove(path: string): void;
}

/** Deno's synchronous calls. */
export function denoSyncFiles(deno: typeof Deno): SyncFiles {
  const isNotFound = (error: unknown) => error instanceof deno.errors.NotFound;
  return {
    tryLock: (path) => {
      const file = deno.openSync(path, {
        read: true,
        write: true,
        create: true,
        mode: 0o600,
      });
      let locked = false;
      try {
        locked = file.tryLockSync(true);
      } finally {
        if (!locked) file.close();
      }
      return locked ? () => file.close() : null;
    },
    createNew: (path, text) => {
      let file: Deno.FsFile;
      try {
        file = deno.openSync(path, {
          write: true,
          createNew: true,
          mode: 0o600,
        });
      } catch (error) {
        if (error instanceof deno.errors.AlreadyExists) return false;
        throw error;
      }
      try {
        writeAllSync(file, new TextEncoder().encode(text));
      } catch (error) {
        file.close();
        deno.removeSync(path);
        throw error;
      }
      file.close();
      return true;
    },
    readText: (path) => {
      try {
        return deno.readTextFileSync(path);
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    },
    stat: (path) => {
      try {
        return denoInfo(deno.statSync(path));
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    },
    replace: (path, text, durable) => {
      const temp = `${path}.tmp`;
      const file = deno.openSync(temp, {
        write: true,
        create: true,
        truncate: true,
        mode: 0o600,
      });
      try {
        deno.chmodSync(temp, 0o600); // a temp file left by someone else
        writeAllSync(file, new TextEncoder().encode(text));
        if (durable) file.syncSync();
      } finally {
        file.close();
      }
      deno.renameSync(temp, path);
      if (durable) {
        const dir = deno.openSync(dirname(path), { read: true });
        try {
          dir.syncSync();
        } catch {
          // durability of the rename only; the content is already synced
        } finally {
          dir.close();
        }
      }
    },
    remove: (path) => deno.removeSync(path),
  };
}

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) {
    at += file.writeSync(bytes.subarray(at));
  }
}

/** A Deno file info as the store needs it. */
export function denoInfo(info: Deno.FileInfo): FileInfo {
  return {
    ino: info.ino ?? null,
    size: info.size,
    mtimeMs: info.mtime?.getTime() ?? null,
  };
}
