/**
 * Expiring leases in a libSQL table: one atomic upsert takes a free or
 * expired lease; renewal and release change only the caller's own row. Time is the
 * database's clock, so every process and isolate using one database agrees.
 *
 * @module
 */

import {
  type Lease,
  type TokenLock,
  validateLeaseRequest,
} from "../../core/token_store.ts";
import { type LibsqlClient, withRetry } from "./client.ts";
import type { LibsqlSchema } from "./schema.ts";

/** The database's clock in epoch milliseconds, as an SQL expression. */
export const NOW_MS =
  "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/** What a {@linkcode LibsqlTokenLock} needs from its store. */
export interface LibsqlLockHost {
  /** The client. */
  readonly client: LibsqlClient;
  /** Resolves once the tables exist. */
  ready(): Promise<LibsqlSchema>;
  /** Secrets to keep out of error messages. */
  readonly secrets: readonly (string | undefined)[];
}

/** Leases kept in the store's lease table. */
export class LibsqlTokenLock implements TokenLock {
  #host: LibsqlLockHost;

  /** Creates the lock over a store's client and tables. */
  constructor(host: LibsqlLockHost) {
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
    const action = `acquire lease in libSQL table "${lockTable}"`;
    const result = await withRetry(
      action,
      host.secrets,
      () =>
        host.client.execute({
          sql: `INSERT INTO ${lockTable} (lock_key, owner, expires_at) ` +
            `VALUES (?, ?, ${NOW_MS} + ?) ON CONFLICT (lock_key) DO UPDATE ` +
            `SET owner = excluded.owner, expires_at = excluded.expires_at ` +
            `WHERE ${lockTable}.expires_at <= ${NOW_MS} RETURNING owner`,
          args: [key, owner, Math.ceil(ttlMs)],
        }),
    );
    if (result.rows.length !== 1 || result.rows[0].owner !== owner) {
      return null;
    }
    return {
      key,
      async release(): Promise<void> {
        await withRetry(
          `release lease in libSQL table "${lockTable}"`,
          host.secrets,
          () =>
            host.client.execute({
              sql: `DELETE FROM ${lockTable} WHERE lock_key = ? AND owner = ?`,
              args: [key, owner],
            }),
        );
      },
      async renew(options: { ttlMs: number }): Promise<boolean> {
        const ttlMs = validateLeaseRequest(key, options);
        // an expired row nobody took since still names us: renewed too
        const renewed = await withRetry(
          `renew lease in libSQL table "${lockTable}"`,
          host.secrets,
          () =>
            host.client.execute({
              sql: `UPDATE ${lockTable} SET expires_at = ${NOW_MS} + ? ` +
                `WHERE lock_key = ? AND owner = ?`,
              args: [Math.ceil(ttlMs), key, owner],
            }),
        );
        return renewed.rowsAffected === 1;
      },
    };
  }
}
