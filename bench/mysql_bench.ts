/**
 * `MysqlTokenStore` against `pool.execute` of the same SQL on the same
 * table and indexes, over the same `npm:mysql2` pool. Needs `MYSQL_URL`
 * (e.g. `mysql://root@127.0.0.1:3306/test`); without it nothing is
 * registered. Tables are named `tsbench_<epoch>_<random>_…` and dropped at
 * the end; leftovers older than an hour are dropped at start.
 *
 * Run: `MYSQL_URL=… deno bench -A bench/mysql_bench.ts` (scaling:
 * `bench/mysql_scaling_bench.ts`)
 *
 * @module
 */

import type { OAuthToken } from "../core/token.ts";
import type { Pool as MysqlPool } from "mysql2/promise";
import { COLUMN_LIST, COLUMNS, tokenToRow } from "../stores/_sql/rows.ts";
import { collectGarbage, makeTokens } from "./_data.ts";
import { openMysqlBench } from "./_mysql_tables.ts";
import { type Addressed, type RawDriver, registerOperations } from "./_ops.ts";
import { OPERATION_TOKENS } from "./_seed.ts";

const MYSQL_URL = Deno.env.get("MYSQL_URL") || undefined;

interface SqlKeys extends Addressed {
  id: string;
  row: (string | null)[];
}

/** The store's statements, run directly. */
class RawMysql implements RawDriver<SqlKeys> {
  #pool: MysqlPool;
  #select: string;
  #insert: string;
  #update: string;
  #delete: string;

  constructor(pool: MysqlPool, table: string) {
    this.#pool = pool;
    this.#select = `SELECT ${COLUMN_LIST} FROM \`${table}\``;
    this.#insert = `INSERT INTO \`${table}\` (${COLUMN_LIST}) VALUES (${
      COLUMNS.map(() => "?").join(", ")
    })`;
    this.#update = `UPDATE \`${table}\` SET ${
      COLUMNS.slice(1).map(([column]) => `${column} = ?`).join(", ")
    } WHERE id = ?`;
    this.#delete = `DELETE FROM \`${table}\` WHERE id = ?`;
  }

  keys(token: OAuthToken): Promise<SqlKeys> {
    return Promise.resolve({ token, id: token.id!, row: tokenToRow(token) });
  }

  async #first(column: string, value: string | null): Promise<string | null> {
    const [rows] = await this.#pool.execute(
      `${this.#select} WHERE ${column} = ?`,
      [value],
    );
    const id = (rows as { id: string }[])[0]?.id;
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
    await this.#pool.execute(this.#insert, keys.row);
  }
  async remove(keys: SqlKeys): Promise<void> {
    await this.#pool.execute(this.#delete, [keys.id]);
  }
  async update(_before: SqlKeys, after: SqlKeys): Promise<void> {
    await this.#pool.execute(this.#update, [...after.row.slice(1), after.id]);
  }
  async getAll(): Promise<number> {
    const [rows] = await this.#pool.execute(this.#select);
    return (rows as unknown[]).length;
  }
}

if (MYSQL_URL === undefined) {
  console.log(
    "Notice: MYSQL_URL is unset, the MySQL benchmarks are not registered",
  );
} else {
  const { pool, seeded } = await openMysqlBench(MYSQL_URL);
  const tokens = makeTokens(OPERATION_TOKENS, "mysql");
  const { table, store } = await seeded("ops", tokens);
  await registerOperations("mysql", store, new RawMysql(pool, table), tokens, {
    read: 3000,
    write: 1000,
    list: 500,
  });
  collectGarbage();
}
