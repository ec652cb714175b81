/**
 * Push wake-ups for stores in local files (the file store, libSQL `file:`
 * databases): a watch on the directory of the file (`Deno.watchFs` on
 * Deno, `node:fs` `watch` on Node and Bun — imported only there, through a
 * specifier built at run time), whose events for the watched files wake
 * every waiter (a file change does not say which token changed; a waiter
 * woken for nothing reads once more). The directory is watched, not the
 * file: atomic writes replace the file by a rename.
 *
 * The watch opens when the first waiter waits and closes a second after
 * the last one is done (an open watch keeps a process from exiting), or on
 * `close`. Where no watch can be opened, waiters are left to their polls.
 *
 * @module
 */

import { basename, dirname } from "@std/path";
import { TokenWaiters } from "../_watch.ts";
import { fileSystem } from "./fs.ts";

/** How long the watch stays open once nobody waits. */
const LINGER_MS = 1_000;

/** Stops a watch. */
type Stop = () => void;

/** The part of `node:fs` used here. */
interface NodeFsWatch {
  watch(
    path: string,
    listener: (event: string, name: string | null) => void,
  ): { close(): void; on(event: "error", fn: () => void): unknown };
}

/**
 * Watches directory `dir`, calling `onChange` with the names of changed
 * entries; resolves how to stop, or `undefined` where nothing can watch.
 */
async function watchDirectory(
  dir: string,
  onChange: (names: string[]) => void,
): Promise<Stop | undefined> {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (typeof deno?.watchFs === "function") {
    const watcher = deno.watchFs(dir, { recursive: false });
    (async () => {
      try {
        for await (const event of watcher) {
          // reads (opening, closing, reading a file) are not changes: a
          // waiter woken by one would read, and wake every waiter again
          if (event.kind === "access" || event.kind === "other") continue;
          onChange(event.paths.map((path) => basename(path)));
        }
      } catch {
        // closed, or the directory went away: waiters poll
      }
    })();
    return () => {
      try {
        watcher.close();
      } catch {
        // already closed
      }
    };
  }
  try {
    const fs = await import(["node:", "fs"].join("")) as NodeFsWatch;
    const watcher = fs.watch(dir, (_event, name) => {
      if (name !== null) onChange([String(name)]);
    });
    watcher.on("error", () => {});
    return () => watcher.close();
  } catch {
    return undefined;
  }
}

/** The waiters for changes to some files of one directory. */
export class FileWatch {
  #dir: string;
  #accept: (name: string) => boolean;
  #waiters = new TokenWaiters();
  #stop: Promise<Stop | undefined> | undefined;
  #linger: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param path A file of the directory to watch.
   * @param accept Which entry names (of that directory) are changes.
   */
  constructor(path: string, accept: (name: string) => boolean) {
    this.#dir = dirname(path);
    this.#accept = accept;
  }

  /** Resolves when an accepted file changes after the call (or `signal` aborts). */
  watch(id: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    clearTimeout(this.#linger);
    this.#linger = undefined;
    this.#stop ??= watchDirectory(this.#dir, (names) => {
      if (names.some(this.#accept)) this.#waiters.wakeAll();
    }).catch(() => undefined);
    return this.#waiters.wait(id, signal).finally(() => this.#idle());
  }

  /**
   * Closes the watch (the next waiter opens it again); a waiter still
   * waiting is left to its poll and signal.
   */
  async close(): Promise<void> {
    clearTimeout(this.#linger);
    this.#linger = undefined;
    await this.#end();
  }

  #idle(): void {
    if (this.#waiters.size > 0 || this.#stop === undefined) return;
    clearTimeout(this.#linger);
    this.#linger = setTimeout(() => {
      this.#linger = undefined;
      if (this.#waiters.size === 0) this.#end();
    }, LINGER_MS);
  }

  async #end(): Promise<void> {
    const stop = this.#stop;
    this.#stop = undefined;
    (await stop)?.();
  }
}

/** How often {@linkcode StatWatch} looks at its files while someone waits. */
const STAT_INTERVAL_MS = 4;

/**
 * The waiters for changes to some files, found by looking at their
 * `stat` (inode, size, modification time) every few milliseconds while
 * someone waits: for SQLite files (libSQL), which a directory watch must
 * not touch. On Deno, events of a `Deno.watchFs` on a database's directory
 * open and close its files, and SQLite's POSIX locks belong to the
 * process, not the descriptor: closing any descriptor of the database
 * drops them, and concurrent writers then fail with `SQLITE_IOERR` (seen:
 * 4 processes, each watching). `stat` opens nothing.
 */
export class StatWatch {
  #paths: readonly string[];
  #waiters = new TokenWaiters();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last: string | undefined;
  #looking = false;

  /** @param paths The files whose changes count. */
  constructor(paths: readonly string[]) {
    this.#paths = paths;
  }

  /** Resolves when a file changes after the call (or `signal` aborts). */
  watch(id: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    const waited = this.#waiters.wait(id, signal);
    if (this.#timer === undefined && !this.#looking) this.#look();
    return waited;
  }

  /** Stops looking; a waiter still waiting is left to its poll and signal. */
  close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#last = undefined;
    return Promise.resolve();
  }

  async #look(): Promise<void> {
    this.#timer = undefined;
    this.#looking = true;
    let now: string;
    try {
      now = await this.#stamp();
    } finally {
      this.#looking = false;
    }
    if (this.#last !== undefined && now !== this.#last) {
      this.#waiters.wakeAll();
    }
    this.#last = now;
    if (this.#waiters.size === 0) {
      // nobody waits: the next waiter starts from a fresh stamp
      this.#last = undefined;
      return;
    }
    this.#timer = setTimeout(() => this.#look(), STAT_INTERVAL_MS);
  }

  async #stamp(): Promise<string> {
    const fs = await fileSystem();
    const stamps = await Promise.all(
      this.#paths.map((path) =>
        fs.stat(path).then(
          (info) => `${info.ino}:${info.size}:${info.mtimeMs}`,
          () => "-",
        )
      ),
    );
    return stamps.join("|");
  }
}
