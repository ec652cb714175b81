/**
 * `PostgresTokenStore.findToken` by user name at 100 to 100,000 stored
 * tokens, one table per level. Needs `POSTGRES_URL`; without it nothing is
 * registered.
 *
 * Run: `POSTGRES_URL=… deno bench -A bench/postgres_scaling_bench.ts`
 *
 * @module
 */

import { collectGarbage, makeTokens } from "./_data.ts";
import { level, registerScaling } from "./_ops.ts";
import { openPostgresBench } from "./_postgres_tables.ts";
import { LEVELS } from "./_seed.ts";

const POSTGRES_URL = Deno.env.get("POSTGRES_URL") || undefined;

if (POSTGRES_URL === undefined) {
  console.log(
    "Notice: POSTGRES_URL is unset, the PostgreSQL scaling benchmarks are not registered",
  );
} else {
  const { seeded } = await openPostgresBench(POSTGRES_URL);
  const levels = [];
  for (const n of LEVELS) {
    const tokens = makeTokens(n, `postgres-${n}`);
    const { store } = await seeded(`n${n}`, tokens);
    levels.push(level(store, tokens));
  }
  await registerScaling("postgres", levels, 3000);
  collectGarbage();
}
