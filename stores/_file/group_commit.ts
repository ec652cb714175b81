/**
 * Group commit for the file store (private): changes submitted while a
 * commit is under way, or waiting for the lock file, are applied together,
 * in the order they were submitted, in one read-modify-write of the file
 * under one hold of the lock. The file is still read, checked and replaced
 * (temp file, fsync, rename) exactly as for one change; only how many
 * changes one write carries differs.
 *
 * Each change settles on its own: one that throws is rejected alone and the
 * others are written; a failure of the whole commit (the file is `CORRUPT`,
 * the disk refuses) rejects every change of that commit. A change that
 * waited longer than the lock timeout for the lock is rejected with the
 * lock's timeout error, while younger ones keep waiting.
 *
 * @module
 */

import { withFileLock } from "./lock_file.ts";

/**
 * A change to the state a commit read (the file's tokens): applied under
 * the lock, it reports whether it changed it. It must not change the state
 * and then throw: a change that throws fails alone, the others are written.
 */
export type Change<S, T> = (state: S) => { result: T; changed: boolean };

/** How one change of a commit ended. */
export type Outcome<R> =
  | { readonly ok: true; readonly value: R }
  | { readonly ok: false; readonly error: unknown };

/**
 * Applies a batch of changes under the lock: reads the file once, applies
 * each change in order, writes once; resolves one outcome per change, in
 * order. Throws when the whole commit fails.
 */
export type Commit<C, R> = (changes: readonly C[]) => Promise<Outcome<R>[]>;

/**
 * Applies `changes` to `state` in order, each on its own: one that throws
 * is that change's failure only.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { applyChanges, type Change } from "./group_commit.ts";
 *
 * const tokens = new Set<string>(["a1"]);
 * const changes: Change<Set<string>, unknown>[] = [
 *   (state) => ({ result: state.add("b2"), changed: true }),
 *   () => {
 *     throw new Error("refused");
 *   },
 *   (state) => ({ result: state.has("a1"), changed: false }),
 * ];
 * const { outcomes, changed } = applyChanges(tokens, changes);
 * assertEquals(changed, true); // so the file is written once
 * assertEquals(outcomes.map((outcome) => outcome.ok), [true, false, true]);
 * assertEquals([...tokens], ["a1", "b2"]);
 * ```
 *
 * @returns One outcome per change, and whether any changed the state.
 */
export function applyChanges<S>(
  state: S,
  changes: readonly Change<S, unknown>[],
): { outcomes: Outcome<unknown>[]; changed: boolean } {
  let changed = false;
  const outcomes = changes.map((change): Outcome<unknown> => {
    try {
      const outcome = change(state);
      changed ||= outcome.changed;
      return { ok: true, value: outcome.result };
    } catch (error) {
      return { ok: false, error };
    }
  });
  return { outcomes, changed };
}

interface Queued<C, R> {
  readonly change: C;
  readonly since: number;
  readonly resolve: (value: R) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Queues changes and commits them in batches under the lock file.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { join } from "@std/path";
 * import { GroupCommit } from "./group_commit.ts";
 *
 * const dir = await Deno.makeTempDir();
 * let commits = 0;
 * const group = new GroupCommit<string, number>(
 *   join(dir, "tokens.json.lock"),
 *   10_000,
 *   (changes) => {
 *     commits++; // read the file, apply every change, write it once
 *     return Promise.resolve(
 *       changes.map((change) => ({ ok: true, value: change.length })),
 *     );
 *   },
 * );
 * const results = await Promise.all([group.submit("a"), group.submit("bb")]);
 * assertEquals(results, [1, 2]);
 * assertEquals(commits, 1);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class GroupCommit<C, R> {
  #lockPath: string;
  #timeoutMs: number;
  #commit: Commit<C, R>;
  #queue: Queued<C, R>[] = [];
  #draining = false;

  /**
   * @param lockPath The lock file.
   * @param timeoutMs How long a change may wait for the lock.
   * @param commit Applies a batch under the lock.
   */
  constructor(lockPath: string, timeoutMs: number, commit: Commit<C, R>) {
    this.#lockPath = lockPath;
    this.#timeoutMs = timeoutMs;
    this.#commit = commit;
  }

  /**
   * Queues `change` for the next commit (synchronously: changes submitted
   * one after another are applied in that order).
   *
   * @returns What the commit made of it.
   */
  submit(change: C): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ change, since: Date.now(), resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        this.#drain();
      }
    });
  }

  /**
   * Commits batches until the queue is empty. Never rejects: every failure
   * rejects the changes it concerns.
   */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      let batch: Queued<C, R>[] = [];
      let outcomes: Outcome<R>[] | undefined;
      try {
        await withFileLock(
          this.#lockPath,
          this.#timeoutMs,
          async () => {
            // everything queued until the lock was taken joins this commit
            batch = this.#queue.splice(0);
            outcomes = await this.#commit(batch.map((q) => q.change));
          },
          this.#queue[0].since,
        );
      } catch (error) {
        if (batch.length > 0 && outcomes === undefined) {
          for (const queued of batch) queued.reject(error);
          continue;
        }
        if (batch.length === 0) {
          // the lock was not taken: in time for the oldest changes (younger
          // ones wait on), or at all (the lock file cannot be opened)
          const now = Date.now();
          const expired = this.#queue.filter((q) =>
            now - q.since >= this.#timeoutMs
          );
          const failed = new Set(expired.length > 0 ? expired : this.#queue);
          this.#queue = this.#queue.filter((q) => !failed.has(q));
          for (const queued of failed) queued.reject(error);
          continue;
        }
        // committed, and only letting go of the lock failed: it stands
      }
      // settled once the lock is released, so that a caller that goes on
      // (or exits) finds the lock free and no lock file open
      batch.forEach((queued, i) => {
        const outcome = outcomes![i];
        if (outcome.ok) queued.resolve(outcome.value);
        else queued.reject(outcome.error);
      });
    }
    // no await since the loop's last check: a change submitted from now on
    // starts the next drain
    this.#draining = false;
  }
}
