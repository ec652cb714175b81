/**
 * The PostgreSQL save strategy: two round trips. On a reserved connection the
 * store pipelines `BEGIN` with `pg_advisory_xact_lock` on (table, user) —
 * `FOR UPDATE` cannot lock a row that does not exist yet, so two first saves
 * of one user would both insert —, then one statement that locks the row
 * the plan finds (`FOR UPDATE`) and either replaces it, keeping its id, or
 * inserts the row, with `COMMIT`. Under `READ COMMITTED` that statement's snapshot is
 * taken once the lock is held, so it sees what the previous holder
 * committed. A save without a plan is a plain `INSERT`.
 *
 * Every save also notifies (`pg_notify`, delivered at its commit) the
 * channel of its table ({@linkcode notifyChannel}) with the id written:
 * waiters in other processes listening there wake at once.
 *
 * @module
 */

import { newTokenId } from "../../core/id.ts";
import type { QueryPlan } from "../../core/token_store.ts";
import type { SqlRow, SqlSchema, SqlValue } from "../_sql/dialect.ts";
import { markOutcomeUnknown } from "../_sql/retry.ts";
import { planToWhere } from "../_sql/rows.ts";
import { isConnectionLost, type PostgresSql, run } from "./client.ts";

/**
 * The `LISTEN` channel the saves of token table `table` notify, with the
 * token id as payload: `tokenstore_<table>`, cut to PostgreSQL's 63 bytes
 * (tables in two schemas under one name share it; their waiters only read
 * once more).
 */
export function notifyChannel(table: string): string {
  return `tokenstore_${table}`.slice(0, 63);
}

/** The lock that orders the saves of one user (or one token without a user). */
export const SERIALISE =
  "SELECT pg_advisory_xact_lock(hashtext(?), hashtext(?))";

/**
 * The key the saves of one token serialise on: its user when it has one
 * (every save of a user, by id or not, takes the same lock), else the first
 * condition of its plan.
 */
export function saveKey(plan: QueryPlan, row: SqlRow): string {
  if (row[1] !== null) return `userName:${row[1]}`;
  const [field, value] = plan.conditions[0];
  return `${field}:${value}`;
}

/**
 * The upsert statement: update the first row the plan finds, keeping its id,
 * or insert; returns the id written and notifies it. Parameters: the
 * plan's, the row without its id, the whole row, then the channel.
 */
export function upsertStatement(schema: SqlSchema, plan: QueryPlan): string {
  const { table, columns, columnList } = schema;
  const set = columns.slice(1).map((column) => `${column} = ?`).join(", ");
  const marks = columns.map(() => "?").join(", ");
  return `WITH found AS (SELECT id FROM ${table} WHERE ${
    planToWhere(plan).sql
  } LIMIT 1 FOR UPDATE), ` +
    `updated AS (UPDATE ${table} SET ${set} FROM found ` +
    `WHERE ${table}.id = found.id RETURNING ${table}.id), ` +
    `inserted AS (INSERT INTO ${table} (${columnList}) SELECT ${marks} ` +
    `WHERE NOT EXISTS (SELECT 1 FROM found) RETURNING id), ` +
    `written AS (SELECT id FROM updated UNION ALL SELECT id FROM inserted) ` +
    NOTIFY_WRITTEN;
}

/** Selects the id written and notifies it; its parameter: the channel. */
const NOTIFY_WRITTEN =
  "SELECT id, pg_notify(CAST(? AS text), CAST(id AS text)) FROM written";

/**
 * Saves `row` (see the module doc); resolves the id written. Driver errors
 * are thrown as they are, for `withRetry`; a `COMMIT` that got no answer is
 * marked so that it is never run again.
 */
export async function pipelinedSave(
  sql: PostgresSql,
  schema: SqlSchema,
  plan: QueryPlan | null,
  row: SqlRow,
): Promise<string> {
  const values = [row[0] ?? newTokenId(), ...row.slice(1)];
  if (plan === null) {
    const insert = `WITH written AS (INSERT INTO ${schema.table} ` +
      `(${schema.columnList}) ` +
      `VALUES (${values.map(() => "?").join(", ")}) RETURNING id) ` +
      NOTIFY_WRITTEN;
    return String(
      (await run(sql, insert, [...values, notifyChannel(schema.name)]))
        .rows[0].id,
    );
  }
  const reserved = await sql.reserve();
  const exec = (text: string, params?: readonly SqlValue[]) =>
    run(reserved, text, params);
  // Two pipelined pairs, not four statements at once: postgres.js 3.4 runs
  // the next queued statement when any earlier one's ReadyForQuery arrives,
  // even while a statement it is preparing has not run yet, so the upsert
  // could overtake the lock (or COMMIT the upsert). `Promise.all`, not
  // `allSettled`: a statement queued behind one that failed on a lost
  // connection never settles.
  try {
    await Promise.all([
      exec("BEGIN"),
      exec(SERIALISE, [schema.name, saveKey(plan, row)]),
    ]);
  } catch (error) {
    // a lost connection is already closed in the pool: not released (below)
    if (isConnectionLost(error)) throw error;
    await exec("ROLLBACK").catch(() => {});
    reserved.release();
    throw error;
  }
  let upserted = false;
  const upsert = exec(upsertStatement(schema, plan), [
    ...planToWhere(plan).params,
    ...values.slice(1),
    ...values,
    notifyChannel(schema.name),
  ]).then((result) => {
    upserted = true;
    return result;
  });
  const commit = exec("COMMIT");
  try {
    const [result] = await Promise.all([upsert, commit]);
    reserved.release();
    return String(result.rows[0].id);
  } catch (error) {
    // A lost connection is already closed in the pool: releasing it would
    // put it back among the open ones. Its COMMIT, if sent after a
    // successful upsert, may have committed.
    if (isConnectionLost(error)) {
      if (upserted) markOutcomeUnknown(error);
      throw error;
    }
    // a server error: the pipelined COMMIT ends the aborted transaction
    await commit.catch(() => {});
    reserved.release();
    throw error;
  }
}
