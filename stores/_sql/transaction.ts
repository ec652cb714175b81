/**
 * Transactions of the SQL store engine on a pooled connection (MySQL, and
 * PostgreSQL's schema preparation), and the transactional save strategy
 * (MySQL): begin; lock the rows the plan selects with `SELECT ... FOR
 * UPDATE` (under `REPEATABLE READ` also the gap a missing row would go in);
 * replace the one that matches exactly, keeping its id, or insert; commit.
 * A `COMMIT` that got no answer is marked so that it is never run again.
 *
 * @module
 */

import { newTokenId } from "../../core/id.ts";
import { matchesPlan } from "../../core/token_store.ts";
import type {
  SqlDialect,
  SqlResult,
  SqlStatement,
  SqlValue,
} from "./dialect.ts";
import { markOutcomeUnknown } from "./retry.ts";
import { planToWhere, tokensOf } from "./rows.ts";

/** One pooled connection, taken for a transaction. */
export interface SqlSession {
  /** Runs one statement with `?` placeholders. */
  run(sql: string, params: readonly SqlValue[]): Promise<SqlResult>;
  /** Runs a statement without parameters as plain text (`BEGIN`, `COMMIT`). */
  control(sql: string): Promise<void>;
  /** Gives the connection back to the pool. */
  release(): void;
  /** Whether an error means the connection was lost: nothing more is sent on it. */
  isLost(error: unknown): boolean;
  /** Lets go of a connection that was lost (never back into the pool as it is). */
  destroy(): void;
}

/** What {@linkcode lockedSave} needs from a dialect. */
export interface TransactionRules<C> {
  /** Takes a connection from the client's pool. */
  session(client: C): Promise<SqlSession>;
  /** The statements that start a transaction. */
  readonly begin: readonly string[];
}

/**
 * Runs `fn` in a transaction on one pooled connection, commits, and gives the
 * connection back; rolls back on error, and destroys a connection that was
 * lost (no `ROLLBACK` is sent on it). Driver errors are thrown as they
 * are, for `withRetry`.
 */
export async function inTransaction<C, T>(
  rules: TransactionRules<C>,
  client: C,
  fn: (session: SqlSession) => Promise<T>,
): Promise<T> {
  const session = await rules.session(client);
  try {
    for (const statement of rules.begin) await session.control(statement);
    const result = await fn(session);
    try {
      await session.control("COMMIT");
    } catch (error) {
      markOutcomeUnknown(error);
      throw error;
    }
    session.release();
    return result;
  } catch (error) {
    if (session.isLost(error)) {
      session.destroy();
    } else {
      try {
        await session.control("ROLLBACK");
        session.release();
      } catch {
        session.destroy();
      }
    }
    throw error;
  }
}

/**
 * A dialect's {@linkcode SqlDialect.atomic} over pooled connections: the
 * statements one after the other in {@linkcode inTransaction}.
 */
export function atomicStatements<C>(
  rules: TransactionRules<C>,
): SqlDialect<C>["atomic"] {
  return (client, statements: readonly SqlStatement[]) =>
    inTransaction(rules, client, async (session) => {
      let result: SqlResult = { rows: [], rowsAffected: 0 };
      for (const { sql, params } of statements) {
        result = await session.run(sql, params);
      }
      return result;
    });
}

/**
 * The transactional save strategy (see the module doc) as a dialect's
 * {@linkcode SqlDialect.save}.
 */
export function lockedSave<C>(
  name: string,
  rules: TransactionRules<C>,
): SqlDialect<C>["save"] {
  return (client, schema, plan, row) =>
    inTransaction(rules, client, async (session) => {
      const { table, columns, columnList } = schema;
      let existing: string | undefined;
      if (plan !== null) {
        const where = planToWhere(plan);
        const found = await session.run(
          `SELECT ${columnList} FROM ${table} WHERE ${where.sql} FOR UPDATE`,
          where.params,
        );
        existing = tokensOf(found.rows, `${name} table "${schema.name}"`)
          .find((token) => matchesPlan(token, plan))?.id;
      }
      if (existing !== undefined) {
        const set = columns.slice(1).map((column) => `${column} = ?`);
        await session.run(
          `UPDATE ${table} SET ${set.join(", ")} WHERE id = ?`,
          [...row.slice(1), existing],
        );
        return existing;
      }
      const id = row[0] ?? newTokenId();
      await session.run(
        `INSERT INTO ${table} (${columnList}) VALUES (${
          columns.map(() => "?").join(", ")
        })`,
        [id, ...row.slice(1)],
      );
      return id;
    });
}
