/**
 * `FileTokenStore.findToken` by user name at 100 to 10,000 stored tokens
 * (JSON and Zoho CSV), one file per level.
 *
 * Run: `deno bench -A bench/file_scaling_bench.ts`
 *
 * @module
 */

import { FileTokenStore } from "../stores/file.ts";
import { collectGarbage, makeTokens, tempDir } from "./_data.ts";
import { level, registerScaling } from "./_ops.ts";
import { FILE_LEVELS, writeTokenFile } from "./_seed.ts";

const dir = await tempDir("file_scaling");
for (const format of ["json", "zoho-csv"] as const) {
  const levels = [];
  for (const n of FILE_LEVELS) {
    const path = `${dir}/n${n}.${format}`;
    const tokens = makeTokens(n, `file-${format}-${n}`);
    await writeTokenFile(path, format, tokens);
    levels.push(level(new FileTokenStore({ path, format }), tokens));
  }
  await registerScaling(`file-${format}`, levels, 1000);
}
collectGarbage();
