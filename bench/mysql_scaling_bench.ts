/**
 * `MysqlTokenStore.findToken` by user name at 100 to 100,000 stored tokens,
 * one table per level. Needs `MYSQL_URL`; without it nothing is registered.
 *
 * Run: `MYSQL_URL=… deno bench -A bench/mysql_scaling_bench.ts`
 *
 * @module
 */

import { collectGarbage, makeTokens } from "./_data.ts";
import { openMysqlBench } from "./_mysql_tables.ts";
import { level, registerScaling } from "./_ops.ts";
import { LEVELS } from "./_seed.ts";

const MYSQL_URL = Deno.env.get("MYSQL_URL") || undefined;

if (MYSQL_URL === undefined) {
  console.log(
    "Notice: MYSQL_URL is unset, the MySQL scaling benchmarks are not registered",
  );
} else {
  const { seeded } = await openMysqlBench(MYSQL_URL);
  const levels = [];
  for (const n of LEVELS) {
    const tokens = makeTokens(n, `mysql-${n}`);
    const { store } = await seeded(`n${n}`, tokens);
    levels.push(level(store, tokens));
  }
  await registerScaling("mysql", levels, 3000);
  collectGarbage();
}
