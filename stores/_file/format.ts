/**
 * The file store's two layouts behind one interface: parse a file's text
 * (JSON or Zoho CSV) into tokens and the layout to keep, and format tokens
 * back into text.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import type { OAuthToken } from "../../core/token.ts";
import {
  type CsvLayout,
  DEFAULT_CSV_LAYOUT,
  formatZohoCsv,
  type ParsedCsv,
  parseZohoCsv,
} from "./zoho_csv.ts";
import { formatTokenJson, parseTokenJson } from "./json.ts";
import { backupPath, hasBackup } from "./backup.ts";

/** The file store's layouts. */
export type FileFormat = "json" | "zoho-csv";

/** A file that does not exist or holds nothing. */
export const EMPTY_FILE: ParsedCsv = {
  tokens: [],
  layout: DEFAULT_CSV_LAYOUT,
  assignedIds: false,
};

/**
 * The parser of `format`: `(text, path) => parsed`, `path` named in errors.
 *
 * @param format The layout.
 * @returns The parser.
 */
export function parserFor(
  format: FileFormat,
): (text: string, path: string) => ParsedCsv {
  if (format === "zoho-csv") return parseZohoCsv;
  return (text, path) => ({
    ...EMPTY_FILE,
    tokens: parseTokenJson(text, path),
  });
}

/**
 * Parses the token file `path`. A `CORRUPT` error also names the last good
 * copy when there is one.
 *
 * @param format The layout.
 * @param text The file's text.
 * @param path The file.
 * @returns The tokens and the layout.
 * @throws {TokenStoreError} `CORRUPT` naming the path and where.
 */
export async function parseFile(
  format: FileFormat,
  text: string,
  path: string,
): Promise<ParsedCsv> {
  try {
    return parserFor(format)(text, path);
  } catch (error) {
    if (
      !(error instanceof TokenStoreError) || error.code !== "CORRUPT" ||
      !(await hasBackup(path))
    ) throw error;
    throw new TokenStoreError(
      "CORRUPT",
      `${error.message}. The last good copy is "${backupPath(path)}"`,
      { cause: error },
    );
  }
}

/**
 * The text of a file holding `tokens`.
 *
 * @param format The layout.
 * @param tokens The tokens, in file order.
 * @param layout The CSV layout to keep (ignored for JSON).
 * @returns The file's text.
 */
export function formatFile(
  format: FileFormat,
  tokens: readonly OAuthToken[],
  layout: CsvLayout,
): string {
  return format === "json"
    ? formatTokenJson(tokens)
    : formatZohoCsv(tokens, layout);
}
