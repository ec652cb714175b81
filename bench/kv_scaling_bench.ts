/**
 * `KvTokenStore.findToken` by user name at 100 to 100,000 stored tokens, in
 * `:memory:` databases and in files (one database per level, both seeded
 * with the same entries).
 *
 * Run: `deno bench -A bench/kv_scaling_bench.ts`
 *
 * @module
 */

import { KvTokenStore } from "../stores/kv.ts";
import { collectGarbage, makeTokens, tempDir } from "./_data.ts";
import { level, registerScaling, type ScalingLevel } from "./_ops.ts";
import { kvEntries, LEVELS, openKv, seedKv } from "./_seed.ts";

const PREFIX: Deno.KvKey = ["tokenstore"];
const dir = await tempDir("kv_scaling");
const levels: Record<string, ScalingLevel[]> = {
  "kv-memory": [],
  "kv-file": [],
};
for (const n of LEVELS) {
  const tokens = makeTokens(n, `kv-${n}`);
  const entries = await kvEntries(PREFIX, tokens);
  for (
    const [variant, path] of [
      ["kv-memory", ":memory:"],
      ["kv-file", `${dir}/n${n}.kv`],
    ]
  ) {
    const kv = await openKv(path);
    await seedKv(kv, entries);
    levels[variant].push(
      level(new KvTokenStore({ kv, prefix: PREFIX }), tokens),
    );
  }
}
for (const [variant, list] of Object.entries(levels)) {
  await registerScaling(variant, list, 3000);
}
collectGarbage();
