/**
 * Deno KV where the runtime has none: `KvTokenStore.open` and the
 * constructor fail with `TokenStoreError("BACKEND")` naming what is missing,
 * both without the `Deno` global (Node, Bun, Workers, simulated by a worker
 * that deletes it) and on Deno without KV enabled.
 */

import { assertEquals, assertMatch } from "@std/assert";
import { dirname, fromFileUrl, join } from "@std/path";

const ROOT = join(dirname(fromFileUrl(import.meta.url)), "..");

async function runDeno(args: string[]): Promise<Record<string, unknown>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 0, stderr);
  return JSON.parse(new TextDecoder().decode(output.stdout).trim());
}

Deno.test("KvTokenStore without the Deno global: open and the constructor fail with BACKEND naming it, and mod.ts imports", async () => {
  const result = await runDeno([
    "run",
    "-A",
    "--quiet",
    "--config",
    join(ROOT, "deno.json"),
    join(ROOT, "tests", "fixtures", "no_deno.ts"),
    "kv",
  ]);
  for (const call of ["open", "construct"]) {
    const failure = result[call] as {
      name: string;
      code: string;
      message: string;
    };
    assertEquals(
      [failure.name, failure.code],
      ["TokenStoreError", "BACKEND"],
      call,
    );
    assertMatch(
      failure.message,
      /^Deno KV needs the Deno runtime: there is no "Deno" global on .+ \(use the file, libSQL, MySQL or PostgreSQL store there\)$/,
    );
  }
});

Deno.test("KvTokenStore on Deno without KV enabled: open and the constructor fail with BACKEND saying how to enable it", async () => {
  const kv = new URL("../stores/kv.ts", import.meta.url).href;
  const result = await runDeno([
    "eval",
    "--no-config",
    "--quiet",
    `
    const { KvTokenStore } = await import(${JSON.stringify(kv)});
    const failure = async (fn) => {
      try { await fn(); return null; } catch (e) { return { name: e.name, code: e.code, message: e.message }; }
    };
    console.log(JSON.stringify({
      hasOpenKv: typeof Deno.openKv,
      open: await failure(() => KvTokenStore.open({ path: ":memory:" })),
      construct: await failure(() => new KvTokenStore({ kv: {} })),
    }));
    `,
  ]);
  assertEquals(result.hasOpenKv, "undefined");
  for (const call of ["open", "construct"]) {
    assertEquals(result[call], {
      name: "TokenStoreError",
      code: "BACKEND",
      message:
        'Deno KV needs the Deno runtime with KV enabled: "Deno.openKv" is missing (run with --unstable-kv or add "unstable": ["kv"] to deno.json)',
    }, call);
  }
});
