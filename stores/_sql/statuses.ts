/**
 * Token statuses of the SQL store engine (design "Health"), in a table of
 * their own beside the token table (default `<table>_status`), never in
 * Zoho's `oauthtoken` layout: one row per token id, a column for each field
 * of {@linkcode TokenStatus} in {@linkcode TOKEN_STATUS_FIELDS} order
 * (`lastRefreshAt` as `last_refresh_at`, …), times as `bigint` epoch
 * milliseconds. A status is checked before it is written (`INVALID_TOKEN`,
 * nothing written) and when it is read back (`CORRUPT`); `put` is one upsert
 * statement (the dialect's), every value a parameter.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import { validateId } from "../../core/token.ts";
import {
  checkTokenStatus,
  TOKEN_STATUS_FIELDS,
  type TokenStatus,
  type TokenStatusStore,
} from "../../core/token_status.ts";
import type { SqlDialect, SqlSchema, SqlValue } from "./dialect.ts";
import { withRetry } from "./retry.ts";

/** The status columns, in {@linkcode TOKEN_STATUS_FIELDS} order, with the field each holds. */
export const STATUS_COLUMNS: readonly (readonly [string, keyof TokenStatus])[] =
  TOKEN_STATUS_FIELDS.map((field) => [
    field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`),
    field,
  ]);

/** Status column names joined for `SELECT`/`INSERT`. */
export const STATUS_COLUMN_LIST: string = STATUS_COLUMNS.map(([column]) =>
  column
).join(", ");

/** The fields held in integer columns. */
const INTEGER_FIELDS: ReadonlySet<keyof TokenStatus> = new Set([
  "lastRefreshAt",
  "lastFailureAt",
  "failures",
  "refreshTokenExpiresAt",
]);

const TYPES: Readonly<Record<keyof TokenStatus, string>> = {
  // a token id: Zoho's varchar(10), as the token table's
  id: "varchar(10) NOT NULL PRIMARY KEY",
  state: "varchar(16) NOT NULL",
  lastRefreshAt: "bigint",
  lastFailureAt: "bigint",
  lastError: "text",
  failures: "integer NOT NULL",
  refreshTokenExpiresAt: "bigint",
};

/**
 * The column definitions of a status table, the same in every dialect
 * (SQLite reads `bigint` as an integer column, `varchar` as text).
 */
export const STATUS_COLUMNS_DDL: string = STATUS_COLUMNS.map((
  [column, field],
) => `${column} ${TYPES[field]}`).join(", ");

/**
 * Checks the columns of an existing status table.
 *
 * @param names Its column names (lower case).
 * @param where The table, for the message, e.g. `MySQL table "oauthtoken_status"`.
 * @throws {TokenStoreError} `BACKEND` naming the first column it lacks.
 */
export function checkStatusColumns(
  names: ReadonlySet<string>,
  where: string,
): void {
  for (const [column] of STATUS_COLUMNS) {
    if (!names.has(column)) {
      throw new TokenStoreError(
        "BACKEND",
        `Cannot use ${where}: it has no column "${column}"`,
      );
    }
  }
}

/**
 * The upsert of a status for databases with `INSERT ... ON CONFLICT DO
 * UPDATE` (SQLite/libSQL, PostgreSQL), binding the status columns in order.
 */
export function onConflictStatusPut(schema: SqlSchema): string {
  const set = STATUS_COLUMNS.slice(1).map(([column]) =>
    `${column} = excluded.${column}`
  );
  return `INSERT INTO ${schema.statusTable} (${STATUS_COLUMN_LIST}) VALUES (${
    STATUS_COLUMNS.map(() => "?").join(", ")
  }) ON CONFLICT (id) DO UPDATE SET ${set.join(", ")}`;
}

/** A checked status as the values of its columns, `null` for absent fields. */
export function statusToRow(status: TokenStatus): SqlValue[] {
  return STATUS_COLUMNS.map(([, field]) => status[field] ?? null);
}

/** A stored integer as a number (drivers give `bigint` as text or `bigint`); anything else as it is. */
function integerOf(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "string" && /^-?\d{1,20}$/.test(value)) {
    return Number(value);
  }
  return value;
}

/**
 * Turns a status row into a status.
 *
 * @param where The table, for messages.
 * @throws {TokenStoreError} `CORRUPT` when the row is not a status.
 */
export function rowToStatus(
  row: Readonly<Record<string, unknown>>,
  where: string,
): TokenStatus {
  const value: Record<string, unknown> = {};
  for (const [column, field] of STATUS_COLUMNS) {
    value[field] = INTEGER_FIELDS.has(field)
      ? integerOf(row[column])
      : row[column];
  }
  try {
    return checkTokenStatus(value, "CORRUPT");
  } catch (error) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot read the status of token ${
        JSON.stringify(String(row.id).slice(0, 20))
      } in ${where}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** What a {@linkcode SqlTokenStatuses} needs from its store. */
export interface SqlStatusHost<C> {
  /** The database. */
  readonly dialect: SqlDialect<C>;
  /** The client. */
  readonly client: C;
  /** Resolves once the tables exist. */
  ready(): Promise<SqlSchema>;
  /** Secrets to keep out of error messages. */
  readonly secrets: readonly (string | undefined)[];
  /** The status table's name, for messages. */
  readonly statusTable: string;
}

/** Statuses kept in the store's status table. */
export class SqlTokenStatuses<C> implements TokenStatusStore {
  #host: SqlStatusHost<C>;

  /** Creates the status store over a store's client and tables. */
  constructor(host: SqlStatusHost<C>) {
    this.#host = host;
  }

  #run<T>(action: string, fn: (schema: SqlSchema) => Promise<T>): Promise<T> {
    const { dialect, secrets, statusTable } = this.#host;
    return this.#host.ready().then((schema) =>
      withRetry(
        dialect.faults,
        `${action} in ${dialect.name} table "${statusTable}"`,
        secrets,
        () => fn(schema),
      )
    );
  }

  #select(schema: SqlSchema): string {
    const read = this.#host.dialect.readInteger;
    const columns = STATUS_COLUMNS.map(([column, field]) =>
      read !== undefined && INTEGER_FIELDS.has(field) ? read(column) : column
    );
    return `SELECT ${columns.join(", ")} FROM ${schema.statusTable}`;
  }

  #where(): string {
    return `${this.#host.dialect.name} table "${this.#host.statusTable}"`;
  }

  /** Token `id`'s status, or `null`. */
  async get(id: string): Promise<TokenStatus | null> {
    validateId(id);
    const { dialect, client } = this.#host;
    const params = dialect.idEquals.split("?").slice(1).map(() => id);
    const result = await this.#run(
      "read token status",
      (schema) =>
        dialect.run(
          client,
          `${this.#select(schema)} WHERE ${dialect.idEquals}`,
          params,
        ),
    );
    const row = result.rows[0];
    return row === undefined ? null : rowToStatus(row, this.#where());
  }

  /** Stores `status`, replacing the one of its id: one statement. */
  async put(status: TokenStatus): Promise<void> {
    const checked = checkTokenStatus(status);
    validateId(checked.id, "INVALID_TOKEN");
    const { dialect, client } = this.#host;
    const row = statusToRow(checked);
    await this.#run(
      "save token status",
      (schema) => dialect.run(client, dialect.putStatus(schema), row),
    );
  }

  /** Every status. */
  async list(): Promise<TokenStatus[]> {
    const { dialect, client } = this.#host;
    const result = await this.#run(
      "read token statuses",
      (schema) => dialect.run(client, this.#select(schema)),
    );
    return result.rows.map((row) => rowToStatus(row, this.#where()));
  }

  /** Removes token `id`'s status (nothing when there is none). */
  async delete(id: string): Promise<void> {
    validateId(id);
    const { dialect, client } = this.#host;
    const params = dialect.idEquals.split("?").slice(1).map(() => id);
    await this.#run(
      "delete token status",
      (schema) =>
        dialect.run(
          client,
          `DELETE FROM ${schema.statusTable} WHERE ${dialect.idEquals}`,
          params,
        ),
    );
  }
}
