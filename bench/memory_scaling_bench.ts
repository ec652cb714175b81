/**
 * `MemoryTokenStore.findToken` by user name at 100 to 100,000 stored tokens.
 * A module of its own, so that its large heap does not slow the operation
 * benchmarks down with garbage collections.
 *
 * Run: `deno bench -A bench/memory_scaling_bench.ts`
 *
 * @module
 */

import { collectGarbage, makeTokens } from "./_data.ts";
import { level, registerScaling } from "./_ops.ts";
import { LEVELS, seededMemoryStore } from "./_seed.ts";

const levels = [];
for (const n of LEVELS) {
  const tokens = makeTokens(n, `memory-${n}`);
  levels.push(level(await seededMemoryStore(tokens), tokens));
}
await registerScaling("memory", levels, undefined, 64);
collectGarbage();
