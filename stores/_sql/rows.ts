/**
 * Row mapping of the SQL store engine: the Zoho `oauthtoken` column layout,
 * row ↔ token conversion, identifier validation, the columns of an existing
 * table, and turning a {@linkcode QueryPlan} into a parameterised `WHERE`
 * clause (with `?` placeholders, which a dialect rewrites if it must).
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import { OAuthToken, type OAuthTokenInit } from "../../core/token.ts";
import type { QueryPlan } from "../../core/token_store.ts";

/** Zoho's columns, in Zoho's order, with the token field each holds. */
export const COLUMNS: readonly (readonly [string, keyof OAuthTokenInit])[] = [
  ["id", "id"],
  ["user_name", "userName"],
  ["client_id", "clientId"],
  ["client_secret", "clientSecret"],
  ["refresh_token", "refreshToken"],
  ["access_token", "accessToken"],
  ["grant_token", "grantToken"],
  ["expiry_time", "expiresAt"],
  ["redirect_url", "redirectUrl"],
  ["api_domain", "apiDomain"],
];

/** Column names joined for `SELECT`/`INSERT`. */
export const COLUMN_LIST: string = COLUMNS.map(([column]) => column).join(", ");

/** Column holding each token field. */
export const COLUMN_OF: Readonly<Record<keyof OAuthTokenInit, string>> = Object
  .fromEntries(
    COLUMNS.map(([column, field]) => [field, column]),
  ) as Record<keyof OAuthTokenInit, string>;

/** The columns Zoho and this package look tokens up by (indexed). */
export const LOOKUP_COLUMNS: readonly string[] = [
  "user_name",
  "access_token",
  "refresh_token",
  "grant_token",
];

/**
 * Characters of `expiry_time` in the tables the stores create: `String()` of
 * any non-negative number takes at most 24 (`0.0000012345678901234567`),
 * an integer `expiresAt` at most 16. Zoho's own tables have `varchar(20)`.
 */
export const EXPIRY_TIME_WIDTH = 24;

/**
 * The column definitions of a token table a store creates: Zoho's columns,
 * `id varchar(10) NOT NULL PRIMARY KEY`, `expiry_time varchar(24)`, and
 * `wide` (a type holding 4,096 characters) for every other one.
 */
export function tokenColumnsDdl(wide: string): string {
  return COLUMNS.map(([column]) =>
    column === "id"
      ? "id varchar(10) NOT NULL PRIMARY KEY"
      : `${column} ${
        column === "expiry_time" ? `varchar(${EXPIRY_TIME_WIDTH})` : wide
      }`
  ).join(", ");
}

/** The column definitions of a lease table (MySQL, PostgreSQL). */
export const LEASE_COLUMNS_DDL =
  "lock_key varchar(255) NOT NULL PRIMARY KEY, owner varchar(64) NOT NULL, " +
  "expires_at bigint NOT NULL";

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Checks a table name: letters, digits and `_`, not starting with a digit,
 * at most 64 characters.
 *
 * @throws {TypeError} naming the bad value.
 */
export function validateTableName(name: string): string {
  if (typeof name !== "string" || !IDENTIFIER.test(name)) {
    throw new TypeError(
      `Invalid table name ${
        JSON.stringify(String(name).slice(0, 80))
      }: expected letters, digits and "_", starting with a letter or "_", at most 64 characters`,
    );
  }
  return name;
}

/**
 * The columns of an existing token table in {@linkcode COLUMNS} order, from
 * the names it has: Zoho's, or `redirect_uri` for column 9 (the Python SDK's
 * name).
 *
 * @param names The table's column names (lower case).
 * @param where The table, for the message, e.g. `MySQL table "oauthtoken"`.
 * @throws {TokenStoreError} `BACKEND` naming the first column it lacks.
 */
export function columnsOf(names: ReadonlySet<string>, where: string): string[] {
  return COLUMNS.map(([column]) => {
    if (names.has(column)) return column;
    if (column === "redirect_url" && names.has("redirect_uri")) {
      return "redirect_uri";
    }
    throw new TokenStoreError(
      "BACKEND",
      `Cannot use ${where}: it has no column "${column}"`,
    );
  });
}

/**
 * A row's values in {@linkcode COLUMNS} order, `null` for absent fields and
 * `expiry_time` as epoch-millisecond text, exactly as the Zoho SDKs write it.
 * Whether they fit the table's columns is `checkRowFits`'s (`_sql/widths.ts`).
 */
export function tokenToRow(token: OAuthToken): (string | null)[] {
  const record = token.toRecord();
  return COLUMNS.map(([, field]) => {
    const value = record[field];
    return value === undefined ? null : String(value);
  });
}

/**
 * Turns a row (an object keyed by column name) into a token. `NULL` and empty
 * strings are absent fields; `expiry_time` is parsed as epoch milliseconds.
 *
 * @throws {TokenStoreError} `CORRUPT` when a stored value cannot be a token field.
 */
export function rowToToken(
  row: Readonly<Record<string, unknown>>,
  where: string,
): OAuthToken {
  const init: Record<string, unknown> = {};
  for (const [column, field] of COLUMNS) {
    let value = row[column];
    if (column === "redirect_url" && (value === null || value === undefined)) {
      value = row["redirect_uri"];
    }
    if (value === null || value === undefined || value === "") continue;
    if (field === "expiresAt") {
      const ms = Number(value);
      if (!Number.isFinite(ms) || ms < 0) {
        throw new TokenStoreError(
          "CORRUPT",
          `Cannot read token "${row.id}" in ${where}: "expiry_time" is not epoch milliseconds`,
        );
      }
      init[field] = ms;
    } else {
      init[field] = String(value);
    }
  }
  try {
    return new OAuthToken(init as OAuthTokenInit);
  } catch (error) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot read token "${String(row.id).slice(0, 20)}" in ${where}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
}

/**
 * Rows of a token table as tokens ({@linkcode rowToToken}).
 *
 * @param where The table, for messages, e.g. `MySQL table "oauthtoken"`.
 */
export function tokensOf(
  rows: readonly Readonly<Record<string, unknown>>[],
  where: string,
): OAuthToken[] {
  return rows.map((row) => rowToToken(row, where));
}

/**
 * A parameterised `WHERE` clause (without the keyword) for a plan, with `?`
 * placeholders, and its parameters.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { planQuery } from "../../core/token_store.ts";
 * import { planToWhere } from "./rows.ts";
 *
 * assertEquals(planToWhere(planQuery({ userName: "a", clientId: "c" })), {
 *   sql: "user_name = ? AND client_id = ?",
 *   params: ["a", "c"],
 * });
 * ```
 */
export function planToWhere(
  plan: QueryPlan,
): { sql: string; params: string[] } {
  return {
    sql: plan.conditions.map(([field]) => `${COLUMN_OF[field]} = ?`).join(
      " AND ",
    ),
    params: plan.conditions.map(([, value]) => value),
  };
}
