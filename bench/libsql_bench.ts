/**
 * `LibsqlTokenStore` on a local SQLite file against `client.execute` of the
 * equivalent parameterised statements on the same table and indexes, over
 * the same `@libsql/client` connection.
 *
 * Run: `deno bench -A bench/libsql_bench.ts` (scaling:
 * `bench/libsql_scaling_bench.ts`)
 *
 * @module
 */

import type { OAuthToken } from "../core/token.ts";
import type { LibsqlClient } from "../stores/_libsql/client.ts";
import { COLUMN_LIST, COLUMNS, tokenToRow } from "../stores/_sql/rows.ts";
import { collectGarbage, makeTokens, tempDir } from "./_data.ts";
import { seededLibsql, TABLE } from "./_libsql.ts";
import { type Addressed, type RawDriver, registerOperations } from "./_ops.ts";
import { OPERATION_TOKENS } from "./_seed.ts";

interface SqlKeys extends Addressed {
  id: string;
  row: (string | null)[];
}

const SELECT = `SELECT ${COLUMN_LIST} FROM ${TABLE}`;
const INSERT = `INSERT INTO ${TABLE} (${COLUMN_LIST}) VALUES (${
  COLUMNS.map(() => "?").join(", ")
})`;
const UPDATE = `UPDATE ${TABLE} SET ${
  COLUMNS.slice(1).map(([column]) => `${column} = ?`).join(", ")
} WHERE id = ?`;

class RawLibsql implements RawDriver<SqlKeys> {
  #client: LibsqlClient;

  constructor(client: LibsqlClient) {
    this.#client = client;
  }

  keys(token: OAuthToken): Promise<SqlKeys> {
    return Promise.resolve({ token, id: token.id!, row: tokenToRow(token) });
  }

  async #first(column: string, value: string | null): Promise<string | null> {
    const result = await this.#client.execute({
      sql: `${SELECT} WHERE ${column} = ? LIMIT 1`,
      args: [value],
    });
    const id = result.rows[0]?.id;
    return id === undefined ? null : String(id);
  }

  findByUser(keys: SqlKeys): Promise<string | null> {
    return this.#first("user_name", keys.row[1]);
  }
  findByRefresh(keys: SqlKeys): Promise<string | null> {
    return this.#first("refresh_token", keys.row[4]);
  }
  findById(keys: SqlKeys): Promise<string | null> {
    return this.#first("id", keys.id);
  }
  async insert(keys: SqlKeys): Promise<void> {
    await this.#client.execute({ sql: INSERT, args: keys.row });
  }
  async remove(keys: SqlKeys): Promise<void> {
    await this.#client.execute({
      sql: `DELETE FROM ${TABLE} WHERE id = ?`,
      args: [keys.id],
    });
  }
  async update(_before: SqlKeys, after: SqlKeys): Promise<void> {
    await this.#client.execute({
      sql: UPDATE,
      args: [...after.row.slice(1), after.id],
    });
  }
  async getAll(): Promise<number> {
    return (await this.#client.execute(SELECT)).rows.length;
  }
}

const dir = await tempDir("libsql");
const tokens = makeTokens(OPERATION_TOKENS, "libsql");
const { client, store } = await seededLibsql(`${dir}/operations.db`, tokens);
await registerOperations("libsql-file", store, new RawLibsql(client), tokens, {
  read: 3000,
  write: 1000,
  list: 200,
});
collectGarbage();
