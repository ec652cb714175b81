/**
 * The Zoho SDKs' `sdk_tokens.txt`: a header line
 * `id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain`
 * and one line per token, plain values, empty for absent fields.
 *
 * Read: the Python SDK's `redirect_uri` for column 9, the older `user_mail`
 * for column 2, the older 9-column file without `api_domain`, CRLF or LF line
 * ends, and quoted fields (opencsv, Python's csv module). Written: plain
 * values only, because the Node SDK splits lines on "," with no quoting; a
 * value holding a comma, a double quote or a line break is refused. The
 * header, line ends and final line break of an existing file are kept; the
 * `api_domain` column is added to a 9-column file only when a token has one.
 * A row with none of `refresh_token`, `grant_token` and `access_token` is
 * `CORRUPT` (it would be loaded, and saved again, without a secret).
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import { newTokenId } from "../../core/id.ts";
import type { OAuthToken, OAuthTokenInit } from "../../core/token.ts";
import { COLUMNS, rowToToken } from "../_sql/rows.ts";

/** How an existing file is laid out, kept when it is rewritten. */
export interface CsvLayout {
  /** Header names as found (aliases kept), 9 or 10 of them. */
  readonly header: readonly string[];
  /** Line separator. */
  readonly eol: "\n" | "\r\n";
  /** Whether the last line ends with `eol`. */
  readonly finalEol: boolean;
}

/** A new file: the current Zoho header, LF, no final line break (Node SDK). */
export const DEFAULT_CSV_LAYOUT: CsvLayout = {
  header: COLUMNS.map(([column]) => column),
  eol: "\n",
  finalEol: false,
};

/** A parsed file. */
export interface ParsedCsv {
  /** The tokens, in file order. */
  readonly tokens: OAuthToken[];
  /** The layout to keep. */
  readonly layout: CsvLayout;
  /** Whether some rows had no id and were given one (to be persisted). */
  readonly assignedIds: boolean;
  /** The ids given to rows without one (they are new each parse). */
  readonly generatedIds?: ReadonlySet<string>;
}

const ALIASES: Readonly<Record<string, string>> = {
  user_mail: "user_name",
  redirect_uri: "redirect_url",
};

/** Characters the format cannot hold. */
const UNWRITABLE = /[,"\r\n]/;

/**
 * Refuses a token the format cannot hold, naming the field (never the value).
 *
 * @throws {TokenStoreError} `INVALID_TOKEN`.
 */
export function checkCsvToken(token: OAuthToken): void {
  const record = token.toRecord();
  for (const [, field] of COLUMNS) {
    const value = record[field];
    if (typeof value === "string" && UNWRITABLE.test(value)) {
      throw new TokenStoreError(
        "INVALID_TOKEN",
        `Cannot store token field "${field}" in the Zoho CSV format: the value contains a comma, a double quote or a line break`,
      );
    }
  }
}

/**
 * Parses a file's text. An empty file is an empty store.
 *
 * @throws {TokenStoreError} `CORRUPT` naming `path` and the line.
 */
export function parseZohoCsv(text: string, path: string): ParsedCsv {
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  if (text.trim() === "") {
    return { tokens: [], layout: DEFAULT_CSV_LAYOUT, assignedIds: false };
  }
  const eol = /\r\n|\n/.exec(text)?.[0] === "\r\n" ? "\r\n" : "\n";
  const finalEol = text.endsWith("\n");
  const lines = text.split("\n").map((line) => line.replace(/\r$/, ""));
  if (finalEol) lines.pop();
  const header = splitLine(lines[0], path, 1).map((name) => name.trim());
  const canonical = header.map((name) => ALIASES[name] ?? name);
  const expected = COLUMNS.map(([column]) => column);
  if (
    (header.length !== 9 && header.length !== 10) ||
    canonical.some((name, i) => name !== expected[i])
  ) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot parse "${path}" line 1: not a Zoho token file header (expected "${
        expected.join(",")
      }")`,
    );
  }
  const tokens: OAuthToken[] = [];
  const ids = new Set<string>();
  const generatedIds = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const where = `"${path}" line ${i + 1}`;
    const fields = splitLine(lines[i], path, i + 1);
    if (fields.length !== 9 && fields.length !== 10) {
      throw new TokenStoreError(
        "CORRUPT",
        `Cannot parse ${where}: expected ${header.length} fields, found ${fields.length}`,
      );
    }
    const row: Record<string, string> = {};
    fields.forEach((value, index) => row[expected[index]] = value);
    if (row.id === "") {
      // an SDK wrote the row without an id: give it one, persisted on rewrite
      do row.id = newTokenId(); while (ids.has(row.id));
      generatedIds.add(row.id);
    }
    const token = rowToToken(row, where);
    if (ids.has(token.id!)) {
      throw new TokenStoreError(
        "CORRUPT",
        `Cannot parse ${where}: id "${token.id}" appears twice`,
      );
    }
    if (
      token.refreshToken === undefined && token.grantToken === undefined &&
      token.accessToken === undefined
    ) {
      throw new TokenStoreError(
        "CORRUPT",
        `Cannot parse ${where}: the token has none of "refresh_token", "grant_token" or "access_token"`,
      );
    }
    ids.add(token.id!);
    tokens.push(token);
  }
  return {
    tokens,
    layout: { header, eol, finalEol },
    assignedIds: generatedIds.size > 0,
    generatedIds,
  };
}

/**
 * Splits one line on ",". A field starting with `"` is a quoted field (`""`
 * inside stands for `"`); elsewhere a quote is an ordinary character.
 */
function splitLine(line: string, path: string, lineNumber: number): string[] {
  const fields: string[] = [];
  let i = 0;
  while (true) {
    if (line[i] === '"') {
      let value = "";
      i++;
      while (true) {
        const close = line.indexOf('"', i);
        if (close === -1) {
          throw new TokenStoreError(
            "CORRUPT",
            `Cannot parse "${path}" line ${lineNumber}: unterminated quoted field at column ${
              i + 1
            }`,
          );
        }
        value += line.slice(i, close);
        i = close + 1;
        if (line[i] !== '"') break;
        value += '"';
        i++;
      }
      if (i < line.length && line[i] !== ",") {
        throw new TokenStoreError(
          "CORRUPT",
          `Cannot parse "${path}" line ${lineNumber}: unexpected character after a quoted field at column ${
            i + 1
          }`,
        );
      }
      fields.push(value);
    } else {
      const comma = line.indexOf(",", i);
      const end = comma === -1 ? line.length : comma;
      fields.push(line.slice(i, end));
      i = end;
    }
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

/**
 * The file's text for `tokens` in `layout` (call {@linkcode checkCsvToken}
 * on every new token first).
 */
export function formatZohoCsv(
  tokens: readonly OAuthToken[],
  layout: CsvLayout,
): string {
  let header = layout.header;
  if (header.length === 9 && tokens.some((t) => t.apiDomain !== undefined)) {
    header = [...header, "api_domain"];
  }
  const lines = [header.join(",")];
  for (const token of tokens) {
    const record: OAuthTokenInit = token.toRecord();
    lines.push(
      COLUMNS.slice(0, header.length).map(([, field]) => {
        const value = record[field];
        return value === undefined ? "" : String(value);
      }).join(","),
    );
  }
  return lines.join(layout.eol) + (layout.finalEol ? layout.eol : "");
}
