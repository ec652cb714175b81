/**
 * What the columns of an SQL token table can hold, as the table declares it,
 * and the one check every SQL store runs before writing a row: a value a
 * column cannot hold (too many characters or bytes, a character outside the
 * column's character set, a fraction or an out-of-range number in an integer
 * column) is refused with `TokenStoreError("INVALID_TOKEN")` naming the field,
 * its size and the column, never the value. Without it a driver would refuse
 * the row (a `BACKEND` error that loses a freshly issued token) or, in MySQL
 * without strict mode, silently truncate or replace the value, after which
 * the next save of the user would not find the row and make a second one.
 *
 * A limit comes from the table: libSQL/SQLite from the declared type
 * (`varchar(255)`: SQLite does not enforce it, but the Zoho SDKs and other
 * readers may), MySQL from `information_schema.COLUMNS`, PostgreSQL from
 * `format_type` of the column's type.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import { COLUMNS } from "./rows.ts";

/** Characters a column's character set cannot store (MySQL charset names). */
const OUTSIDE: Readonly<Record<string, RegExp>> = {
  ascii: /[\u0080-\uFFFF]/,
  // MySQL's latin1 is cp1252, with its five unassigned bytes mapped to C1 controls
  latin1:
    // deno-lint-ignore no-control-regex
    /[^\x00-\x7F\x81\x8D\x8F\x90\x9D\xA0-\xFF\u0152\u0153\u0160\u0161\u0178\u017D\u017E\u0192\u02C6\u02DC\u2013\u2014\u2018-\u201A\u201C-\u201E\u2020-\u2022\u2026\u2030\u2039\u203A\u20AC\u2122]/,
  utf8mb3: /[\uD800-\uDFFF]/,
  utf8: /[\uD800-\uDFFF]/,
  ucs2: /[\uD800-\uDFFF]/,
};

/** How a character set counts bytes, for the byte limit of `text` columns. */
const BYTES: Readonly<Record<string, (value: string) => number>> = {
  utf8mb4: utf8Bytes,
  utf8mb3: utf8Bytes,
  utf8: utf8Bytes,
  binary: utf8Bytes, // the driver sends UTF-8
  ascii: (value) => value.length,
  latin1: (value) => value.length,
  ucs2: (value) => value.length * 2,
  utf16: (value) => value.length * 2,
  utf16le: (value) => value.length * 2,
  utf32: (value) => codePoints(value) * 4,
};

const INTEGER_MAX: Readonly<Record<string, number>> = {
  tinyint: 127,
  smallint: 32_767,
  mediumint: 8_388_607,
  int: 2_147_483_647,
  integer: 2_147_483_647,
  bigint: Infinity, // 2^63 - 1, beyond any number a token holds
};

/** What one column can hold; a limit left out is not checked. */
export interface ColumnLimit {
  /** Most characters (Unicode code points). */
  readonly chars?: number;
  /** Most bytes, counted in {@linkcode ColumnLimit.charset}. */
  readonly bytes?: number;
  /** The column's character set (MySQL's name, lower case). */
  readonly charset?: string;
  /** Largest integer (`Infinity`: any), when the column holds integers only. */
  readonly integerMax?: number;
}

/** The limits of a table's columns, by column name (lower case). */
export type TableLimits = ReadonlyMap<string, ColumnLimit>;

/** Length of a fresh id (`newTokenId`), checked when a row has no id yet. */
const FRESH_ID_LENGTH = 10;

const encoder = new TextEncoder();

function utf8Bytes(value: string): number {
  return encoder.encode(value).length;
}

function codePoints(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit < 0xd800 || unit > 0xdbff) n++;
  }
  return n;
}

/**
 * The limit of a column from its SQLite declared type: `varchar(255)`,
 * `character varying(255)`, `nvarchar(255)`, `char(10)`, `varchar2(255)`,
 * `text(4096)` hold that many characters; any other type (`text`, `bigint`,
 * none) holds anything, as SQLite stores it.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { declaredLimit } from "./widths.ts";
 *
 * assertEquals(declaredLimit("varchar(255)"), { chars: 255 });
 * assertEquals(declaredLimit("TEXT"), {});
 * ```
 */
export function declaredLimit(type: string): ColumnLimit {
  const match =
    /^\s*(?:n?var)?char(?:2|acter(?: varying)?)?\s*\(\s*(\d+)\s*\)|^\s*(?:text|clob)\s*\(\s*(\d+)\s*\)/i
      .exec(type);
  const width = match?.[1] ?? match?.[2];
  return width === undefined ? {} : { chars: Number(width) };
}

/**
 * The limit of a PostgreSQL column from its `format_type`: integer types
 * hold integers in their range; `character varying(255)` and
 * `character(10)` that many characters (PostgreSQL counts characters);
 * `text`, `numeric` and other types anything a token holds.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { postgresLimit } from "./widths.ts";
 *
 * assertEquals(postgresLimit("character varying(255)"), { chars: 255 });
 * assertEquals(postgresLimit("bigint"), { integerMax: Infinity });
 * ```
 */
export function postgresLimit(type: string): ColumnLimit {
  const integerMax = PG_INTEGER_MAX[type.trim().toLowerCase()];
  return integerMax === undefined ? declaredLimit(type) : { integerMax };
}

const PG_INTEGER_MAX: Readonly<Record<string, number>> = {
  smallint: INTEGER_MAX.smallint,
  integer: INTEGER_MAX.int,
  bigint: INTEGER_MAX.bigint,
};

/** One row of MySQL's `information_schema.COLUMNS`, the fields it needs. */
export interface MysqlColumnInfo {
  /** `DATA_TYPE`, e.g. `varchar`, `text`, `bigint`. */
  readonly dataType: string;
  /** `COLUMN_TYPE`, e.g. `bigint(20) unsigned`. */
  readonly columnType: string;
  /** `CHARACTER_MAXIMUM_LENGTH`. */
  readonly maxChars: unknown;
  /** `CHARACTER_OCTET_LENGTH`. */
  readonly maxBytes: unknown;
  /** `CHARACTER_SET_NAME`. */
  readonly charset: unknown;
}

/**
 * The limit of a MySQL column from `information_schema.COLUMNS`: characters
 * and bytes of string columns (`varchar(255)` holds 255 characters, `text`
 * 65,535 bytes), the character set, and the range of integer columns.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mysqlLimit } from "./widths.ts";
 *
 * const limit = mysqlLimit({
 *   dataType: "varchar",
 *   columnType: "varchar(255)",
 *   maxChars: 255,
 *   maxBytes: 1020,
 *   charset: "utf8mb4",
 * });
 * assertEquals(limit, { chars: 255, bytes: 1020, charset: "utf8mb4" });
 * ```
 */
export function mysqlLimit(info: MysqlColumnInfo): ColumnLimit {
  const type = info.dataType.toLowerCase();
  const integer = INTEGER_MAX[type];
  if (integer !== undefined) {
    const unsigned = /unsigned/i.test(info.columnType);
    return { integerMax: unsigned ? integer * 2 + 1 : integer };
  }
  const chars = Number(info.maxChars);
  if (info.maxChars === null || !Number.isFinite(chars)) return {};
  const bytes = Number(info.maxBytes);
  const charset = typeof info.charset === "string"
    ? info.charset.toLowerCase()
    : "binary";
  return {
    chars,
    ...(Number.isFinite(bytes) && info.maxBytes !== null ? { bytes } : {}),
    charset,
  };
}

function refuse(detail: string): never {
  throw new TokenStoreError("INVALID_TOKEN", `Cannot save token: ${detail}`);
}

/**
 * Checks that every value of a row fits its column, before anything is
 * written. A row without an id is checked with a fresh id's length.
 *
 * @example Usage
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { OAuthToken, TokenStoreError } from "@tokenstore/tokenstore";
 * import { COLUMNS, tokenToRow } from "./rows.ts";
 * import { checkRowFits } from "./widths.ts";
 *
 * const columns = COLUMNS.map(([column]) => column);
 * const limits = new Map([["access_token", { chars: 255 }]]); // Zoho's varchar(255)
 * const token = new OAuthToken({ accessToken: "1000." + "a".repeat(300) });
 * const error = assertThrows(
 *   () => checkRowFits(tokenToRow(token), columns, limits, "oauthtoken"),
 *   TokenStoreError,
 *   'column "access_token" of table "oauthtoken" holds 255',
 * );
 * assertEquals(error.code, "INVALID_TOKEN");
 * ```
 *
 * @param row The values in `COLUMNS` order (`tokenToRow`).
 * @param columns The table's column names in `COLUMNS` order.
 * @param limits The table's column limits.
 * @param table The table's name, for the message.
 * @throws {TokenStoreError} `INVALID_TOKEN`, e.g. `Cannot save token:
 * "accessToken" is 300 characters, column "access_token" of table
 * "oauthtoken" holds 255`.
 */
export function checkRowFits(
  row: readonly (string | null)[],
  columns: readonly string[],
  limits: TableLimits,
  table: string,
): void {
  COLUMNS.forEach(([, field], i) => {
    const column = columns[i];
    const limit = limits.get(column.toLowerCase());
    const value = row[i] ??
      (field === "id" ? "x".repeat(FRESH_ID_LENGTH) : null);
    if (value === null || limit === undefined) return;
    const where = `column "${column}" of table "${table}"`;
    if (limit.integerMax !== undefined) {
      const number = Number(value);
      if (!Number.isInteger(number) || number > limit.integerMax) {
        const range = Number.isFinite(limit.integerMax)
          ? ` up to ${limit.integerMax}`
          : "";
        refuse(
          `"${field}" does not fit ${where}, which holds integers${range}`,
        );
      }
      return;
    }
    if (limit.chars !== undefined && value.length > limit.chars) {
      const chars = codePoints(value);
      if (chars > limit.chars) {
        refuse(
          `"${field}" is ${chars} characters, ${where} holds ${limit.chars}`,
        );
      }
    }
    const outside = limit.charset === undefined
      ? undefined
      : OUTSIDE[limit.charset];
    if (outside?.test(value)) {
      refuse(
        `"${field}" has characters that ${where} cannot store (character set "${limit.charset}")`,
      );
    }
    const count = limit.charset === undefined
      ? undefined
      : BYTES[limit.charset];
    if (limit.bytes !== undefined && count !== undefined) {
      const bytes = count(value);
      if (bytes > limit.bytes) {
        refuse(
          `"${field}" is ${bytes} bytes in ${limit.charset}, ${where} holds ${limit.bytes} bytes`,
        );
      }
    }
  });
}
