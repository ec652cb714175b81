/**
 * Runs the edge bundle in Vercel's edge runtime (`@edge-runtime/vm`, the VM
 * the `edge-runtime` CLI and `next dev` use) against a token endpoint on
 * 127.0.0.1, which the edge `fetch` reaches directly.
 *
 * `node _edge_host.mjs <bundle.js>` (from the build folder) prints one JSON line
 * `{ runtime, results }`.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { startTokenEndpoint } from "./_token_endpoint.mjs";

// Resolved at run time from the tools' cache (not a dependency of the repo,
// so that `deno check tests/` does not look for it).
const { EdgeVM } = await import(
  pathToFileURL(createRequire(import.meta.url).resolve("@edge-runtime/vm"))
    .href
);

const bundle = await readFile(process.argv[2], "utf8");
const endpoint = await startTokenEndpoint();
const tag = `edge-${process.pid}`;
let results;
try {
  const vm = new EdgeVM();
  vm.evaluate(bundle);
  results = JSON.parse(
    await vm.evaluate(
      `__tokenstoreSmoke.run(${JSON.stringify(endpoint.url)}, ${
        JSON.stringify(tag)
      })`,
    ),
  );
  const counts = ["single", "shared"].map((name) =>
    endpoint.requests(`1000.${tag}-${name}`)
  );
  results.push({
    name: "endpoint saw 1 request per refresh",
    ok: counts.every((n) => n === 1),
    detail: counts.join(" + "),
  });
} finally {
  await endpoint.close();
}
console.log(JSON.stringify({ runtime: "edge-runtime", results }));
process.exit(0);
