/**
 * The lease table protocol of the SQL store engine, on the database's clock
 * so that every process and isolate using one database agrees: one
 * conditional upsert takes a free or expired lease (the dialect's
 * statement), and the owner it leaves decides who holds it; renewal and
 * release change only the caller's own row.
 *
 * @module
 */

import {
  type Lease,
  type TokenLock,
  validateLeaseKey,
  validateLeaseRequest,
} from "../../core/token_store.ts";
import type { SqlDialect, SqlSchema } from "./dialect.ts";
import { withRetry } from "./retry.ts";

/** What a {@linkcode SqlTokenLock} needs from its store. */
export interface SqlLockHost<C> {
  /** The database. */
  readonly dialect: SqlDialect<C>;
  /** The client. */
  readonly client: C;
  /** Resolves once the tables exist. */
  ready(): Promise<SqlSchema>;
  /** Secrets to keep out of error messages. */
  readonly secrets: readonly (string | undefined)[];
  /** The lease table's name, for messages. */
  readonly lockTable: string;
}

/**
 * The lease statement of databases with `INSERT ... ON CONFLICT DO UPDATE
 * ... WHERE ... RETURNING` (SQLite/libSQL, PostgreSQL): the row is taken
 * over only once its expiry has passed, and returned only if it was written.
 */
export function onConflictLease(schema: SqlSchema, nowMs: string): string {
  const { lockTable } = schema;
  return `INSERT INTO ${lockTable} (lock_key, owner, expires_at) ` +
    `VALUES (?, ?, ${nowMs} + ?) ON CONFLICT (lock_key) DO UPDATE ` +
    `SET owner = excluded.owner, expires_at = excluded.expires_at ` +
    `WHERE ${lockTable}.expires_at <= ${nowMs} RETURNING owner`;
}

/** Leases kept in the store's lease table. */
export class SqlTokenLock<C> implements TokenLock {
  #host: SqlLockHost<C>;

  /** Creates the lock over a store's client and tables. */
  constructor(host: SqlLockHost<C>) {
    this.#host = host;
  }

  /**
   * Takes the lease on `key`, or resolves `null` while another holder's lease
   * has not expired.
   */
  async acquire(
    key: string,
    options: { ttlMs: number },
  ): Promise<Lease | null> {
    const ttlMs = validateLeaseRequest(key, options);
    const { dialect, client } = this.#host;
    const schema = await this.#host.ready();
    const owner = crypto.randomUUID();
    const held = await this.#run("acquire", async () => {
      const taken = await dialect.run(client, dialect.takeLease(schema), [
        key,
        owner,
        Math.ceil(ttlMs),
      ]);
      return (dialect.leaseReturnsOwner
        ? taken.rows[0]?.owner
        : await this.#owner(schema, key)) === owner;
    });
    if (!held) return null;
    return this.#lease(key, owner, schema);
  }

  /** Whether a lease on `key` is held now, on the database's clock (a select). */
  async isHeld(key: string): Promise<boolean> {
    validateLeaseKey(key);
    const { dialect, client } = this.#host;
    const schema = await this.#host.ready();
    return await this.#run("read", async () =>
      (await dialect.run(
        client,
        `SELECT 1 AS held FROM ${schema.lockTable} ` +
          `WHERE lock_key = ? AND expires_at > ${dialect.nowMs}`,
        [key],
      )).rows.length > 0);
  }

  /** Runs `fn`, retrying the database's transient faults. */
  #run<T>(action: string, fn: () => Promise<T>): Promise<T> {
    const { dialect, secrets, lockTable } = this.#host;
    return withRetry(
      dialect.faults,
      `${action} lease in ${dialect.name} table "${lockTable}"`,
      secrets,
      fn,
    );
  }

  /** The owner the lease row on `key` names, if any. */
  async #owner(schema: SqlSchema, key: string): Promise<unknown> {
    const { dialect, client } = this.#host;
    return (await dialect.run(
      client,
      `SELECT owner FROM ${schema.lockTable} WHERE lock_key = ?`,
      [key],
    )).rows[0]?.owner;
  }

  #lease(key: string, owner: string, schema: SqlSchema): Lease {
    const { dialect, client } = this.#host;
    const run = (action: string, fn: () => Promise<boolean>) =>
      this.#run(action, fn);
    const holder = () => this.#owner(schema, key);
    return {
      key,
      async release(): Promise<void> {
        await run("release", async () => {
          await dialect.run(
            client,
            `DELETE FROM ${schema.lockTable} WHERE lock_key = ? AND owner = ?`,
            [key, owner],
          );
          return true;
        });
      },
      async renew(options: { ttlMs: number }): Promise<boolean> {
        const ttlMs = validateLeaseRequest(key, options);
        // an expired row nobody took since still names us: renewed too
        return await run("renew", async () => {
          const renewed = await dialect.run(
            client,
            `UPDATE ${schema.lockTable} SET expires_at = ${dialect.nowMs} + ? ` +
              `WHERE lock_key = ? AND owner = ?`,
            [Math.ceil(ttlMs), key, owner],
          );
          if (renewed.rowsAffected === 1) return true;
          // MySQL counts an unchanged row as 0 rows: the owner decides
          return await holder() === owner;
        });
      },
    };
  }
}
