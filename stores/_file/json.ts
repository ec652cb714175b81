/**
 * The file store's JSON layout:
 * `{"version": 1, "tokens": [{"id": "…", "userName": "…", …}, …]}`, each
 * token as {@linkcode OAuthToken.prototype.toRecord} gives it. Errors name the
 * line, column and position, never the content (it holds secrets).
 *
 * A token record is refused (`CORRUPT`) when it holds a field the token model
 * does not have (e.g. Zoho's `user_name` or `refresh_token`, which would
 * otherwise load as a token without secrets and be dropped on the next save)
 * or none of `refreshToken`, `grantToken` and `accessToken`. The known fields
 * are the ones the {@linkcode OAuthToken} constructor keeps, so the list lives
 * only in `core/token.ts`.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import {
  OAuthToken,
  type OAuthTokenInit,
  TOKEN_FIELDS,
} from "../../core/token.ts";

/** The layout version written and accepted. */
export const JSON_VERSION = 1;

/**
 * Parses a file's text. An empty file is an empty store.
 *
 * @throws {TokenStoreError} `CORRUPT` naming `path` and where.
 */
export function parseTokenJson(text: string, path: string): OAuthToken[] {
  if (text.trim() === "") return [];
  const data = parseJsonText(text, path);
  const file = data as { version?: unknown; tokens?: unknown };
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw corrupt(path, 'expected an object with "version" and "tokens"');
  }
  if (file.version !== JSON_VERSION) {
    throw corrupt(
      path,
      `unsupported "version" ${
        JSON.stringify(file.version ?? null).slice(0, 20)
      } (expected ${JSON_VERSION})`,
    );
  }
  if (!Array.isArray(file.tokens)) {
    throw corrupt(path, `"tokens" is not an array`);
  }
  const ids = new Set<string>();
  const tokens = file.tokens.map((record: unknown, index: number) => {
    const at = `tokens[${index}]`;
    if (record === null || typeof record !== "object") {
      throw corrupt(path, `${at} is not an object`);
    }
    let token: OAuthToken;
    try {
      token = new OAuthToken(record as OAuthTokenInit);
    } catch (error) {
      throw corrupt(path, `${at}: ${(error as Error).message}`, error);
    }
    const unknown = unknownFields(record);
    if (unknown.length > 0) {
      throw corrupt(
        path,
        `${at} has unknown ${unknown.length === 1 ? "field" : "fields"} ${
          unknown.map((name) => JSON.stringify(name.slice(0, 40))).join(", ")
        }`,
      );
    }
    if (token.id === undefined) throw corrupt(path, `${at} has no "id"`);
    if (ids.has(token.id)) {
      throw corrupt(path, `${at}: id "${token.id}" appears twice`);
    }
    ids.add(token.id);
    return token;
  });
  // after the structure (a repeated id is reported first): what was loaded
  // without a secret would be saved again without one
  const bare = tokens.findIndex((token) =>
    token.refreshToken === undefined && token.grantToken === undefined &&
    token.accessToken === undefined
  );
  if (bare !== -1) {
    throw corrupt(
      path,
      `tokens[${bare}] has none of "refreshToken", "grantToken" or "accessToken"`,
    );
  }
  return tokens;
}

/**
 * The keys of `record` that are not fields of the model
 * ({@linkcode TOKEN_FIELDS}), at most 5 named: a name, never a value.
 */
function unknownFields(record: object): string[] {
  const known = TOKEN_FIELDS as readonly string[];
  return Object.keys(record).filter((key) => !known.includes(key)).slice(0, 5);
}

/** The file's text for `tokens`. */
export function formatTokenJson(tokens: readonly OAuthToken[]): string {
  const records = tokens.map((token) => token.toRecord());
  return `${
    JSON.stringify({ version: JSON_VERSION, tokens: records }, null, 2)
  }\n`;
}

/**
 * `text` parsed as JSON.
 *
 * @throws {TokenStoreError} `CORRUPT` naming `path` and where the JSON breaks
 * (never JSON.parse's message, which may quote the content: secrets).
 */
export function parseJsonText(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const offset = jsonErrorOffset(text);
    const before = text.slice(0, offset).split("\n");
    throw corrupt(
      path,
      `invalid JSON at line ${before.length} column ${
        before[before.length - 1].length + 1
      } (position ${offset})`,
    );
  }
}

/** A `CORRUPT` error naming `path` and `reason`. */
export function corrupt(
  path: string,
  reason: string,
  cause?: unknown,
): TokenStoreError {
  return new TokenStoreError("CORRUPT", `Cannot parse "${path}": ${reason}`, {
    cause,
  });
}

/**
 * Where JSON text first stops being valid JSON (`text.length` for an early
 * end). `JSON.parse` does not always say, and its message may quote the
 * content, so this scans the text itself.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const space = () => {
    while (" \t\n\r".includes(text[i] ?? "x")) i++;
  };
  const expect = (char: string) => text[i] === char ? i++ : fail();
  const string = () => {
    expect('"');
    while (true) {
      const char = text[i];
      if (char === undefined || char < " ") fail();
      i++;
      if (char === '"') return;
      if (char === "\\") {
        if (text[i] === "u") {
          i++;
          for (let k = 0; k < 4; k++) {
            if (!/[0-9a-fA-F]/.test(text[i] ?? "")) fail();
            i++;
          }
        } else if ('"\\/bfnrt'.includes(text[i] ?? "x")) i++;
        else fail();
      }
    }
  };
  const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  const value = (): void => {
    space();
    const char = text[i];
    if (char === "{" || char === "[") {
      const close = char === "{" ? "}" : "]";
      i++;
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      while (true) {
        if (close === "}") {
          space();
          string();
          space();
          expect(":");
        }
        value();
        space();
        if (text[i] === ",") i++;
        else return void expect(close);
      }
    }
    if (char === '"') return string();
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    if (NUMBER.test(text)) i = NUMBER.lastIndex;
    else fail();
  };
  try {
    value();
    space();
    if (i < text.length) fail();
  } catch (offset) {
    if (typeof offset === "number") return offset;
    throw offset;
  }
  return text.length;
}
