/**
 * The file system calls of the file store, behind one small interface with
 * two implementations: Deno's (`Deno.open`, …) when the `Deno` global is
 * there, else `node:fs/promises` (Node, Bun), imported only then, through a
 * specifier built at run time so that bundlers for Workers or Deno Deploy do
 * not follow it. Everything above (atomic writes, the lock, snapshots) is one
 * code path.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { join } from "@std/path";
 * import { fileSystem } from "./fs.ts";
 *
 * const fs = await fileSystem();
 * assertEquals(fs.name, "deno"); // "node" on Node and Bun
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(join(dir, "tokens.json"), "[]");
 * const info = await fs.stat(join(dir, "tokens.json"));
 * assertEquals(info.size, 2);
 * await fs.remove(join(dir, "tokens.json"));
 * await Deno.remove(dir);
 * ```
 *
 * @module
 */

import { isAbsolute, resolve } from "@std/path";
import {
  denoInfo,
  denoSyncFiles,
  type FileInfo,
  type SyncFiles,
} from "./fs_sync.ts";

export type { FileInfo, SyncFiles };
import { TokenStoreError } from "../../core/errors.ts";

/** How to open a file; `createNew` fails when it exists (`O_EXCL`). */
export interface OpenOptions {
  read?: boolean;
  write?: boolean;
  create?: boolean;
  createNew?: boolean;
  truncate?: boolean;
  /** Permission bits of a file created (before the umask). */
  mode?: number;
}

/** An open file, read and written from a position that starts at 0. */
export interface OpenFile {
  /** Reads into `buffer`; `null` at the end of the file. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes part of `bytes`; resolves how much. */
  write(bytes: Uint8Array): Promise<number>;
  /** Moves back to the start. */
  rewind(): Promise<void>;
  /** Flushes content and metadata to the disk (fsync). */
  sync(): Promise<void>;
  /** The open file's info. */
  stat(): Promise<FileInfo>;
  /**
   * Takes the exclusive advisory lock (`flock`) without waiting: `false`
   * when another descriptor holds it. Absent where the runtime has none.
   */
  tryLock?: () => Promise<boolean>;
  /** Closes the descriptor (and so releases its lock). */
  close(): Promise<void>;
}

/** The file system as the file store uses it. */
export interface FileSystem {
  /** Synchronous calls, where the runtime has them (Deno). */
  readonly sync?: SyncFiles;
  /** Which implementation this is. */
  readonly name: "deno" | "node";
  /** Whether open files have {@linkcode OpenFile.tryLock} (`flock`). */
  readonly flock: boolean;
  /** This process's id. */
  readonly pid: number;
  open(path: string, options: OpenOptions): Promise<OpenFile>;
  /** Creates a directory and its parents, `mode` for the ones created. */
  mkdir(path: string, mode: number): Promise<void>;
  remove(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  stat(path: string): Promise<FileInfo>;
  /** Sets the access and modification times to now. */
  touch(path: string): Promise<void>;
  /** The whole file as UTF-8 text (for small files such as the lock owner's). */
  readText(path: string): Promise<string>;
  /** The host name, `""` when it cannot be had without asking for a permission. */
  hostname(): Promise<string>;
  /** Whether process `pid` on this host lives; `undefined` when unknowable here. */
  isAlive(pid: number): boolean | undefined;
  isNotFound(error: unknown): boolean;
  isAlreadyExists(error: unknown): boolean;
}

let chosen: Promise<FileSystem> | undefined;

/**
 * The file system of this runtime: Deno's, else `node:fs/promises`.
 *
 * @throws {TokenStoreError} `BACKEND` when there is neither (a Worker).
 */
export function fileSystem(): Promise<FileSystem> {
  return chosen ??= choose();
}

async function choose(): Promise<FileSystem> {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (typeof deno?.open === "function") return denoFileSystem(deno);
  const specifier = ["node:fs", "promises"].join("/");
  try {
    return await nodeFileSystem(specifier);
  } catch (error) {
    chosen = undefined;
    throw new TokenStoreError(
      "BACKEND",
      `The file store needs a file system: there is no "Deno" global and "${specifier}" cannot be loaded here`,
      { cause: error },
    );
  }
}

/**
 * `path` made absolute against the current directory (`Deno.cwd()`, else
 * `process.cwd()`), synchronously.
 *
 * @throws {TypeError} when `path` is relative and there is no current
 * directory (a Worker).
 */
export function absolutePath(path: string): string {
  if (isAbsolute(path)) return resolve(path);
  const { Deno: deno, process } = globalThis as {
    Deno?: { cwd?: () => string };
    process?: { cwd?: () => string };
  };
  const cwd = typeof deno?.cwd === "function"
    ? deno.cwd()
    : typeof process?.cwd === "function"
    ? process.cwd()
    : undefined;
  if (cwd === undefined) {
    throw new TypeError(
      `Invalid file store path ${
        JSON.stringify(path)
      }: relative, and this runtime has no current directory`,
    );
  }
  return resolve(cwd, path);
}

function denoFileSystem(deno: typeof Deno): FileSystem {
  const wrap = (file: Deno.FsFile): OpenFile => ({
    read: (buffer) => file.read(buffer),
    write: (bytes) => file.write(bytes),
    rewind: async () => {
      await file.seek(0, deno.SeekMode.Start);
    },
    sync: () => file.sync(),
    stat: async () => denoInfo(await file.stat()),
    tryLock: () => file.tryLock(true),
    close: () => {
      file.close();
      return Promise.resolve();
    },
  });
  let host: string | undefined;
  return {
    name: "deno",
    flock: true,
    sync: denoSyncFiles(deno),
    pid: deno.pid,
    open: async (path, options) => wrap(await deno.open(path, options)),
    mkdir: (path, mode) => deno.mkdir(path, { recursive: true, mode }),
    remove: (path) => deno.remove(path),
    rename: (from, to) => deno.rename(from, to),
    chmod: (path, mode) => deno.chmod(path, mode),
    stat: async (path) => denoInfo(await deno.stat(path)),
    touch: (path) => {
      const now = new Date();
      return deno.utime(path, now, now);
    },
    readText: (path) => deno.readTextFile(path),
    hostname: () => {
      // never prompts: only with --allow-sys (hostname) already granted
      host ??= deno.permissions?.querySync?.({ name: "sys", kind: "hostname" })
          .state === "granted"
        ? deno.hostname()
        : "";
      return Promise.resolve(host);
    },
    isAlive: (pid) => {
      // never prompts: only with --allow-run already granted
      if (deno.permissions?.querySync?.({ name: "run" }).state !== "granted") {
        return undefined;
      }
      try {
        deno.kill(pid, 0 as unknown as Deno.Signal); // signal 0: a probe
        return true;
      } catch (error) {
        return error instanceof deno.errors.NotFound
          ? false
          : error instanceof deno.errors.PermissionDenied
          ? true
          : undefined;
      }
    },
    isNotFound: (error) => error instanceof deno.errors.NotFound,
    isAlreadyExists: (error) => error instanceof deno.errors.AlreadyExists,
  };
}

/** The part of `node:fs/promises` used here. */
interface NodeFs {
  open(path: string, flags: number, mode?: number): Promise<NodeHandle>;
  mkdir(
    path: string,
    options: { recursive: true; mode: number },
  ): Promise<unknown>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  stat(path: string): Promise<NodeStats>;
  utimes(path: string, atime: Date, mtime: Date): Promise<void>;
  readFile(path: string, encoding: "utf8"): Promise<string>;
  constants: Record<
    | "O_RDONLY"
    | "O_WRONLY"
    | "O_RDWR"
    | "O_CREAT"
    | "O_EXCL"
    | "O_TRUNC",
    number
  >;
}

interface NodeHandle {
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  stat(): Promise<NodeStats>;
  close(): Promise<void>;
}

interface NodeStats {
  ino: number;
  size: number;
  mtimeMs: number;
}

/** The globals of Node and Bun used here. */
interface NodeProcess {
  pid: number;
  kill(pid: number, signal: 0): boolean;
}

async function nodeFileSystem(specifier: string): Promise<FileSystem> {
  const fs = await import(specifier) as NodeFs;
  if (typeof fs?.open !== "function") {
    throw new TypeError(`"${specifier}" has no open()`);
  }
  const process = (globalThis as { process?: NodeProcess }).process;
  const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC } = fs.constants;
  const flags = (o: OpenOptions) =>
    (o.read && o.write ? O_RDWR : o.write ? O_WRONLY : O_RDONLY) |
    (o.create || o.createNew ? O_CREAT : 0) | (o.createNew ? O_EXCL : 0) |
    (o.truncate ? O_TRUNC : 0);
  const info = (stats: NodeStats): FileInfo => ({
    ino: typeof stats.ino === "number" ? stats.ino : null,
    size: stats.size,
    mtimeMs: stats.mtimeMs,
  });
  const wrap = (handle: NodeHandle): OpenFile => {
    let position = 0;
    return {
      read: async (buffer) => {
        const { bytesRead } = await handle.read(
          buffer,
          0,
          buffer.length,
          position,
        );
        position += bytesRead;
        return bytesRead === 0 && buffer.length > 0 ? null : bytesRead;
      },
      write: async (bytes) => {
        const { bytesWritten } = await handle.write(
          bytes,
          0,
          bytes.length,
          position,
        );
        position += bytesWritten;
        return bytesWritten;
      },
      rewind: () => {
        position = 0;
        return Promise.resolve();
      },
      sync: () => handle.sync(),
      stat: async () => info(await handle.stat()),
      close: () => handle.close(),
    };
  };
  let host: Promise<string> | undefined;
  return {
    name: "node",
    flock: false,
    pid: process?.pid ?? 0,
    open: async (path, options) =>
      wrap(await fs.open(path, flags(options), options.mode)),
    mkdir: async (path, mode) => {
      await fs.mkdir(path, { recursive: true, mode });
    },
    remove: (path) => fs.unlink(path),
    rename: (from, to) => fs.rename(from, to),
    chmod: (path, mode) => fs.chmod(path, mode),
    stat: async (path) => info(await fs.stat(path)),
    touch: (path) => {
      const now = new Date();
      return fs.utimes(path, now, now);
    },
    readText: (path) => fs.readFile(path, "utf8"),
    hostname: () =>
      host ??= import(["node:os"].join("")).then(
        (os: { hostname?: () => string }) => String(os.hostname?.() ?? ""),
      ).catch(() => ""),
    isAlive: (pid) => {
      if (typeof process?.kill !== "function") return undefined;
      try {
        process.kill(pid, 0);
        return true;
      } catch (error) {
        const code = (error as { code?: unknown })?.code;
        return code === "ESRCH" ? false : code === "EPERM" ? true : undefined;
      }
    },
    isNotFound: (error) => codeOf(error) === "ENOENT",
    isAlreadyExists: (error) => codeOf(error) === "EEXIST",
  };
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}
