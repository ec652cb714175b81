/**
 * The file store's last good copy, `<path>.bak`, and the check that the
 * file did not lose tokens behind the store's back.
 *
 * Every save writes the new content to the file and to `<path>.bak` (each
 * atomically, mode 0600), so the copy is what a `FileTokenStore` last saved.
 * That makes it also the record of legitimate deletes: a store that deletes a
 * token removes it from both, so any token the copy holds and the file does
 * not was removed by something else (a program that truncated, emptied,
 * removed or replaced the file) and is a loss. A token that only the file
 * holds (added by a Zoho SDK, say) is not.
 *
 * When there is no usable copy (the file was never saved by a store, or the
 * copy was removed), the store's own memory of the ids it last read or wrote
 * stands in for it.
 *
 * Order of the two writes, so that a crash between them never looks like a
 * loss: a save that removes tokens writes the copy first, any other save
 * writes the file first. Either way the file then holds every token of the
 * copy.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import type { OAuthToken } from "../../core/token.ts";
import { readSnapshot, statKey, writeFilesAtomic } from "./atomic_io.ts";

/** What a parse of the file's text gives. */
export interface ParsedTokens {
  /** The tokens, in file order. */
  readonly tokens: readonly OAuthToken[];
  /** Ids the parser made up for rows without one (Zoho CSV). */
  readonly generatedIds?: ReadonlySet<string>;
}

/** A parser of the store's format. */
export type Parse = (text: string, path: string) => ParsedTokens;

/** The file as read under the lock (`null`: it does not exist). */
export interface FileContent {
  /** Its text. */
  readonly text: string;
  /** Its tokens. */
  readonly parsed: ParsedTokens;
}

/** Tokens the file lost: what it holds against what it should hold. */
export interface Loss {
  /** Tokens the file holds; `null` when it does not exist. */
  readonly held: number | null;
  /** Whether the file is empty (only white space, or a CSV header). */
  readonly empty: boolean;
  /** Tokens it should hold at least. */
  readonly expected: number;
  /** How many of those it lacks. */
  readonly missing: number;
  /** Whether the expectation is the last good copy (else the store's memory). */
  readonly fromBackup: boolean;
}

/**
 * The last good copy of `path`.
 *
 * @param path The token file.
 * @returns `<path>.bak`.
 */
export function backupPath(path: string): string {
  return `${path}.bak`;
}

/**
 * Whether the last good copy exists (to point at it in error messages).
 *
 * @param path The token file.
 */
export async function hasBackup(path: string): Promise<boolean> {
  try {
    return (await statKey(backupPath(path))) !== null;
  } catch {
    return false;
  }
}

/**
 * Compares the file with its last good copy, or with `known` (the ids the
 * store last read or wrote) when there is no usable copy.
 *
 * @param path The token file.
 * @param file Its content, `null` when it does not exist.
 * @param known The ids the store last saw, `null` for none.
 * @param parse The format's parser (for the copy).
 * @returns What was lost, or `null` when nothing was.
 * @throws {TokenStoreError} `BACKEND` when the copy cannot be read.
 */
export async function findLoss(
  path: string,
  file: FileContent | null,
  known: Iterable<string> | null,
  parse: Parse,
): Promise<Loss | null> {
  const backup = await readBackup(path, file, parse);
  if (backup === "same") return null;
  const expected = backup ?? (known ? [...known] : []);
  if (expected.length === 0) return null;
  const ids = new Set(file?.parsed.tokens.map((token) => token.id!));
  let missing = 0;
  for (const id of expected) if (!ids.has(id)) missing++;
  if (missing === 0) return null;
  return {
    held: file ? file.parsed.tokens.length : null,
    empty: file !== null && file.parsed.tokens.length === 0,
    expected: expected.length,
    missing,
    fromBackup: backup !== null,
  };
}

/**
 * The ids of the last good copy: `"same"` when its text is the file's,
 * `null` when it is missing or unusable (not UTF-8, not parseable: the next
 * save replaces it).
 */
async function readBackup(
  path: string,
  file: FileContent | null,
  parse: Parse,
): Promise<string[] | "same" | null> {
  const bak = backupPath(path);
  let text: string;
  try {
    const snapshot = await readSnapshot(bak);
    if (snapshot === null) return null;
    text = snapshot.text;
  } catch (error) {
    if (error instanceof TokenStoreError && error.code === "CORRUPT") {
      return null;
    }
    throw error;
  }
  if (file !== null && text === file.text) return "same";
  let parsed: ParsedTokens;
  try {
    parsed = parse(text, bak);
  } catch (error) {
    if (error instanceof TokenStoreError && error.code === "CORRUPT") {
      return null;
    }
    throw error;
  }
  const generated = parsed.generatedIds;
  return parsed.tokens.map((token) => token.id!).filter((id) =>
    !generated?.has(id)
  );
}

/**
 * Refuses a file that lost tokens (see {@linkcode findLoss}).
 *
 * @param path The token file.
 * @param file Its content, `null` when it does not exist.
 * @param known The tokens the store last saw, `null` for none.
 * @param parse The format's parser.
 * @param action `"read"` or `"write"`, for the message.
 * @throws {TokenStoreError} `CORRUPT` from {@linkcode lossError}.
 */
export async function checkFile(
  path: string,
  file: FileContent | null,
  known: Iterable<OAuthToken> | null,
  parse: Parse,
  action: "read" | "write",
): Promise<void> {
  const ids = known && Array.from(known, (token) => token.id!);
  const loss = await findLoss(path, file, ids, parse);
  if (loss !== null) throw lossError(path, loss, action);
}

/**
 * Whether `after` lacks the id of a token in `before`.
 *
 * @param before The tokens before.
 * @param after The ids after (a set, or a map of tokens by id).
 */
export function dropsAny(
  before: Iterable<OAuthToken>,
  after: { has(id: string): boolean },
): boolean {
  for (const token of before) if (!after.has(token.id!)) return true;
  return false;
}

/**
 * The `CORRUPT` error for a loss: the path, the counts, what happened and
 * where the last good copy is (never a token's content).
 *
 * @param path The token file.
 * @param loss What {@linkcode findLoss} found.
 * @param action `"read"` or `"write"`.
 */
export function lossError(
  path: string,
  loss: Loss,
  action: "read" | "write",
): TokenStoreError {
  const when = loss.fromBackup ? "when last saved" : "when last read";
  const tokens = (n: number) => `${n} ${n === 1 ? "token" : "tokens"}`;
  let state: string;
  if (loss.held === null) {
    state = `it no longer exists, ${tokens(loss.expected)} ${when}`;
  } else if (loss.empty) {
    state = `it is empty, ${tokens(loss.expected)} ${when}`;
  } else {
    state = `it holds ${tokens(loss.held)}, ${loss.expected} ${when}`;
    if (loss.held + loss.missing !== loss.expected) {
      state += ` (${loss.missing} of those missing)`;
    }
  }
  const cause = loss.held === null
    ? "another program removed it"
    : "another program truncated or replaced it";
  const bak = backupPath(path);
  const copy = loss.fromBackup
    ? `The last good copy is "${bak}"`
    : `There is no last good copy ("${bak}" does not exist)`;
  return new TokenStoreError(
    "CORRUPT",
    `Cannot ${action} "${path}": ${state}; ${cause}. ${copy}`,
  );
}

/**
 * Saves `text` to the file and to its last good copy, each atomically
 * (temp file, fsync, rename; both temp files written side by side), renamed
 * in the order that keeps the file a superset of the copy at every step.
 *
 * @param path The token file.
 * @param text The new content.
 * @param removes Whether the save removes tokens the file held.
 * @returns The stat key of the file written.
 * @throws {TokenStoreError} `BACKEND` when the file system refuses.
 */
export async function writeWithBackup(
  path: string,
  text: string,
  removes: boolean,
): Promise<string> {
  const bak = backupPath(path);
  if (removes) return (await writeFilesAtomic([bak, path], text))[1];
  return (await writeFilesAtomic([path, bak], text))[0];
}
