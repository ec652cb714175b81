/**
 * `PostgresTokenStore` against the raw `sql` tagged query of the same SQL on
 * the same table and indexes, over the same `npm:postgres` client. Needs
 * `POSTGRES_URL` (e.g. `postgres://root@127.0.0.1:5432/test`); without it
 * nothing is registered. Tables are named `tspgbench_<epoch>_<random>_…` and
 * dropped at the end; leftovers older than an hour are dropped at start.
 *
 * Run: `POSTGRES_URL=… deno bench -A bench/postgres_bench.ts` (scaling:
 * `bench/postgres_scaling_bench.ts`)
 *
 * @module
 */

import type postgres from "postgres";
import type { OAuthToken } from "../core/token.ts";
import { COLUMNS, tokenToRow } from "../stores/_sql/rows.ts";
import { collectGarbage, makeTokens } from "./_data.ts";
import { type Addressed, type RawDriver, registerOperations } from "./_ops.ts";
import { openPostgresBench } from "./_postgres_tables.ts";
import { OPERATION_TOKENS } from "./_seed.ts";

const POSTGRES_URL = Deno.env.get("POSTGRES_URL") || undefined;

const NAMES = COLUMNS.map(([column]) => column);

interface SqlKeys extends Addressed {
  id: string;
  row: Record<string, string | null>;
}

/** The store's statements, as tagged queries (prepared, one round trip each). */
class RawPostgres implements RawDriver<SqlKeys> {
  #sql: postgres.Sql;
  #table: string;

  constructor(sql: postgres.Sql, table: string) {
    this.#sql = sql;
    this.#table = table;
  }

  keys(token: OAuthToken): Promise<SqlKeys> {
    const values = tokenToRow(token);
    const row = Object.fromEntries(NAMES.map((name, i) => [name, values[i]]));
    return Promise.resolve({ token, id: token.id!, row });
  }

  async #first(column: string, value: string | null): Promise<string | null> {
    const sql = this.#sql;
    const rows = await sql`SELECT ${sql(NAMES)} FROM ${sql(this.#table)}
      WHERE ${sql(column)} = ${value} LIMIT 1`;
    const id = rows[0]?.id;
    return id === undefined ? null : String(id);
  }

  findByUser(keys: SqlKeys): Promise<string | null> {
    return this.#first("user_name", keys.row.user_name);
  }
  findByRefresh(keys: SqlKeys): Promise<string | null> {
    return this.#first("refresh_token", keys.row.refresh_token);
  }
  findById(keys: SqlKeys): Promise<string | null> {
    return this.#first("id", keys.id);
  }
  async insert(keys: SqlKeys): Promise<void> {
    const sql = this.#sql;
    await sql`INSERT INTO ${sql(this.#table)} ${sql(keys.row, NAMES)}`;
  }
  async remove(keys: SqlKeys): Promise<void> {
    const sql = this.#sql;
    await sql`DELETE FROM ${sql(this.#table)} WHERE id = ${keys.id}`;
  }
  async update(_before: SqlKeys, after: SqlKeys): Promise<void> {
    const sql = this.#sql;
    await sql`UPDATE ${sql(this.#table)} SET ${
      sql(after.row, NAMES.slice(1))
    } WHERE id = ${after.id}`;
  }
  async getAll(): Promise<number> {
    const sql = this.#sql;
    return (await sql`SELECT ${sql(NAMES)} FROM ${sql(this.#table)}`).length;
  }
}

if (POSTGRES_URL === undefined) {
  console.log(
    "Notice: POSTGRES_URL is unset, the PostgreSQL benchmarks are not registered",
  );
} else {
  const { sql, seeded } = await openPostgresBench(POSTGRES_URL);
  const tokens = makeTokens(OPERATION_TOKENS, "postgres");
  const { table, store } = await seeded("ops", tokens);
  await registerOperations(
    "postgres",
    store,
    new RawPostgres(sql, table),
    tokens,
    { read: 3000, write: 1000, list: 500 },
  );
  collectGarbage();
}
