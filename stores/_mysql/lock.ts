/**
 * Expiring leases in a MySQL table: one `INSERT ... ON DUPLICATE KEY UPDATE`
 * takes a free or expired lease (the row is only overwritten when its expiry
 * has passed), then the owner is read back; renewal and release change only
 * the caller's own row. Time is the database's clock, so every process using the
 * database agrees.
 *
 * @module
 */

import {
  type Lease,
  type TokenLock,
  validateLeaseRequest,
} from "../../core/token_store.ts";
import { type MysqlPool, withRetry } from "./client.ts";
import type { MysqlSchema } from "./schema.ts";

/** The database's clock in epoch milliseconds, as an SQL expression. */
export const NOW_MS = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

/** What a {@linkcode MysqlTokenLock} needs from its store. */
export interface MysqlLockHost {
  /** The pool. */
  readonly pool: MysqlPool;
  /** Resolves once the tables exist. */
  ready(): Promise<MysqlSchema>;
  /** Secrets to keep out of error messages. */
  readonly secrets: readonly (string | undefined)[];
  /** The lease table's name, for messages. */
  readonly lockTable: string;
}

/** Leases kept in the store's lease table. */
export class MysqlTokenLock implements TokenLock {
  #host: MysqlLockHost;

  /** Creates the lock over a store's pool and tables. */
  constructor(host: MysqlLockHost) {
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
    const host = this.#host;
    const { lockTable } = await host.ready();
    const owner = crypto.randomUUID();
    const where = `MySQL table "${host.lockTable}"`;
    // `owner` is assigned first; `expires_at` follows only if the row is now ours.
    const held = await withRetry(
      `acquire lease in ${where}`,
      host.secrets,
      async () => {
        await host.pool.execute(
          `INSERT INTO ${lockTable} (lock_key, owner, expires_at) ` +
            `VALUES (?, ?, ${NOW_MS} + ?) ON DUPLICATE KEY UPDATE ` +
            `owner = IF(expires_at <= ${NOW_MS}, VALUES(owner), owner), ` +
            `expires_at = IF(owner = VALUES(owner), VALUES(expires_at), expires_at)`,
          [key, owner, Math.ceil(ttlMs)],
        );
        const [rows] = await host.pool.execute(
          `SELECT owner FROM ${lockTable} WHERE lock_key = ?`,
          [key],
        );
        return (rows as { owner: string }[])[0]?.owner === owner;
      },
    );
    if (!held) return null;
    return {
      key,
      async release(): Promise<void> {
        await withRetry(
          `release lease in ${where}`,
          host.secrets,
          () =>
            host.pool.execute(
              `DELETE FROM ${lockTable} WHERE lock_key = ? AND owner = ?`,
              [key, owner],
            ),
        );
      },
      async renew(options: { ttlMs: number }): Promise<boolean> {
        const ttlMs = validateLeaseRequest(key, options);
        // an expired row nobody took since still names us: renewed too
        return await withRetry(
          `renew lease in ${where}`,
          host.secrets,
          async () => {
            const [result] = await host.pool.execute(
              `UPDATE ${lockTable} SET expires_at = ${NOW_MS} + ? ` +
                `WHERE lock_key = ? AND owner = ?`,
              [Math.ceil(ttlMs), key, owner],
            );
            if ((result as { affectedRows?: number }).affectedRows === 1) {
              return true;
            }
            // without CLIENT_FOUND_ROWS an unchanged expiry counts 0 rows:
            // the owner decides (once another holder's, never ours again)
            const [rows] = await host.pool.execute(
              `SELECT owner FROM ${lockTable} WHERE lock_key = ?`,
              [key],
            );
            return (rows as { owner: string }[])[0]?.owner === owner;
          },
        );
      },
    };
  }
}
