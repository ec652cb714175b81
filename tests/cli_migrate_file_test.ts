/**
 * `migrate` into a file store: the copies reach it concurrently, so the
 * store's group commit writes them in a few rewrites of the file.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { join } from "@std/path";
import { main } from "../cli.ts";
import { OAuthToken } from "../core/token.ts";
import { FileTokenStore } from "../stores/file.ts";
import { tempDir } from "./fixtures/file_helpers.ts";

const TOKENS = 2_000;

for (const format of ["json", "zoho-csv"] as const) {
  Deno.test(`cli migrate into a ${format} file store writes ${TOKENS} tokens in a few rewrites of the file, every one verified`, async () => {
    await using dir = await tempDir();
    const source = join(dir.path, "source.json");
    const target = join(dir.path, "target.txt");
    const seed = new FileTokenStore({ path: source });
    await Promise.all(
      Array.from({ length: TOKENS }, (_, i) =>
        seed.saveToken(
          new OAuthToken({
            id: `t${i}`,
            userName: `user${i}@example.com`,
            clientId: "1000.CLIENT",
            refreshToken: `1000.refresh-${i}`,
            expiresAt: 1_800_000_000_000 + i,
          }),
        )),
    );
    const rename = Deno.rename;
    let writes = 0;
    Deno.rename = (from, to) => {
      if (String(to) === target) writes++;
      return rename(from, to);
    };
    const out: string[] = [];
    const err: string[] = [];
    let code: number;
    try {
      code = await main([
        "migrate",
        "--from",
        `file:${source}`,
        "--to",
        `${format === "json" ? "file" : "zoho-csv"}:${target}`,
      ], {
        stdout: (text) => out.push(text),
        stderr: (text) => err.push(text),
        isTerminal: false,
        env: {},
      });
    } finally {
      Deno.rename = rename;
    }
    assertEquals(code, 0, err.join(""));
    assert(
      out.join("").includes(`Migrated ${TOKENS} tokens`),
      out.join(""),
    );
    // one save at a time was one rewrite per token
    assert(writes >= 1 && writes <= TOKENS / 100, `${writes} rewrites`);
    const copied = await new FileTokenStore({ path: target, format })
      .getTokens();
    assertEquals(copied.length, TOKENS);
    assertEquals(
      copied.map((t) => t.id).sort(),
      Array.from({ length: TOKENS }, (_, i) => `t${i}`).sort(),
    );
  });
}
