/**
 * `LibsqlTokenStore.findToken` by user name at 100 to 100,000 stored tokens,
 * one local database file per level.
 *
 * Run: `deno bench -A bench/libsql_scaling_bench.ts`
 *
 * @module
 */

import { collectGarbage, makeTokens, tempDir } from "./_data.ts";
import { seededLibsql } from "./_libsql.ts";
import { level, registerScaling } from "./_ops.ts";
import { LEVELS } from "./_seed.ts";

const dir = await tempDir("libsql_scaling");
const levels = [];
for (const n of LEVELS) {
  const tokens = makeTokens(n, `libsql-${n}`);
  const { store } = await seededLibsql(`${dir}/n${n}.db`, tokens);
  levels.push(level(store, tokens));
}
await registerScaling("libsql-file", levels, 3000);
collectGarbage();
