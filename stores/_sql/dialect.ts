/**
 * What a SQL dialect gives the store engine (`store.ts`), and two helpers
 * dialects share: only what differs
 * between databases. Placeholders (the engine writes `?`; `run` rewrites
 * them if the driver wants `$1`), DDL and column types (`prepare`), the
 * upsert strategy (`save`, the lease and status statements), transactions
 * (`atomic`), the database clock (`nowMs`) and error classification
 * (`faults`). Everything else (the class skeleton, row mapping, query
 * planning, the lease protocol, statuses, retries and error messages) is
 * the engine's.
 *
 * @module
 */

import type { QueryPlan } from "../../core/token_store.ts";
import type { FaultRules } from "./retry.ts";
import type { TableLimits } from "./widths.ts";

/** A value bound to a `?` placeholder. */
export type SqlValue = string | number | null;

/** A token row in `COLUMNS` order, id first (`null`: not assigned yet). */
export type SqlRow = readonly (string | null)[];

/** What one statement returned. */
export interface SqlResult {
  /** Rows, each keyed by column name. */
  readonly rows: readonly Readonly<Record<string, unknown>>[];
  /** Rows inserted, updated or deleted. */
  readonly rowsAffected: number;
}

/** What a store knows about its tables once they are ready. */
export interface SqlSchema {
  /** The token table's name, for messages. */
  readonly name: string;
  /** The token table, as written in SQL (quoted where the dialect quotes). */
  readonly table: string;
  /** The lease table, as written in SQL. */
  readonly lockTable: string;
  /** The status table, as written in SQL. */
  readonly statusTable: string;
  /** The token table's column names in `COLUMNS` order. */
  readonly columns: readonly string[];
  /** {@linkcode SqlSchema.columns} joined for `SELECT`/`INSERT`. */
  readonly columnList: string;
  /** What each column holds, read from the catalogue when the store opened. */
  readonly limits: TableLimits;
}

/** A statement with `?` placeholders and its parameters. */
export interface SqlStatement {
  /** The SQL text. */
  readonly sql: string;
  /** The values of its `?` placeholders, in order. */
  readonly params: readonly SqlValue[];
}

/** One SQL database, as the store engine sees it. */
export interface SqlDialect<C> {
  /** The database's name in messages: `"libSQL"`, `"MySQL"`, `"PostgreSQL"`. */
  readonly name: string;
  /** The constructor option holding the client, and what it must be, for messages. */
  readonly clientOption: readonly [option: string, expected: string];
  /** Whether a value is a client of this driver. */
  isClient(value: unknown): value is C;
  /** Checks a table name beyond the engine's identifier rule (e.g. length). */
  checkName?(name: string): void;
  /** The database's clock in epoch milliseconds, as an SQL expression. */
  readonly nowMs: string;
  /**
   * Whether `=` compares exactly: then a lookup reads one row (`LIMIT 1`);
   * otherwise (case- or pad-insensitive collations) every candidate, filtered.
   */
  readonly exactEquality: boolean;
  /** A `WHERE` condition matching one id exactly; each `?` is bound to the id. */
  readonly idEquals: string;
  /**
   * The statement that takes a free or expired lease, binding `lock_key`,
   * `owner` and the time to live in ms, in that order.
   */
  takeLease(schema: SqlSchema): string;
  /** Whether {@linkcode SqlDialect.takeLease} returns the row's `owner`; otherwise it is read back. */
  readonly leaseReturnsOwner: boolean;
  /**
   * The statement that inserts a status or replaces the one of its id,
   * binding the status columns (`_sql/statuses.ts`) in order.
   */
  putStatus(schema: SqlSchema): string;
  /**
   * An expression reading an integer column as text, named as the column,
   * where the driver cannot read every integer the column may hold (libSQL's
   * client throws on one past 2^53): a stored value is then `CORRUPT`, not
   * a driver error.
   */
  readInteger?(column: string): string;
  /** Which driver errors are worth another attempt, and how often. */
  readonly faults: FaultRules;
  /** Runs one statement with `?` placeholders. Driver errors are thrown as they are. */
  run(client: C, sql: string, params?: readonly SqlValue[]): Promise<SqlResult>;
  /**
   * Runs statements on different tables all or none (a transaction, or one
   * statement); resolves the last one's result. Driver errors are thrown as
   * they are (a `COMMIT` without an answer marked so that it is never run
   * again).
   */
  atomic(
    client: C,
    statements: readonly SqlStatement[],
  ): Promise<SqlResult>;
  /**
   * Makes the tables ready (token, lease and status tables, each created
   * when missing) and reads their layout.
   */
  prepare(
    client: C,
    table: string,
    lockTable: string,
    statusTable: string,
  ): Promise<SqlSchema>;
  /**
   * Writes `row` atomically into the row `plan` finds (keeping its id), or
   * inserts it (a fresh id when it has none); resolves the id. Called again
   * after a retriable fault.
   */
  save(
    client: C,
    schema: SqlSchema,
    plan: QueryPlan | null,
    row: SqlRow,
  ): Promise<string>;
  /** Closes a client the store created. */
  close(client: C): Promise<void>;
}

/** A {@linkcode SqlSchema}, its column list joined. */
export function sqlSchema(fields: Omit<SqlSchema, "columnList">): SqlSchema {
  return { ...fields, columnList: fields.columns.join(", ") };
}

/** Whether a value is an object (or function) with these methods: a driver's client. */
export function hasMethods(value: unknown, ...names: string[]): boolean {
  const object = value as Record<string, unknown> | null;
  return (typeof object === "object" || typeof object === "function") &&
    object !== null &&
    names.every((name) => typeof object[name] === "function");
}
