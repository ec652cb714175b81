/**
 * The libSQL store and another process's write lock: saves wait for it
 * (bounded retries of SQLITE_BUSY) instead of failing. The store shared by 4
 * processes is in `tests/cross_process_test.ts`.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { BUSY_RETRIES, withRetry } from "../stores/_libsql/client.ts";
import { waitFor } from "./fixtures/cross_process_worker.ts";

Deno.test("LibsqlTokenStore waits for another process's write lock instead of failing with SQLITE_BUSY", async () => {
  const dir = await Deno.makeTempDir({ prefix: "libsql_busy_" });
  try {
    const path = join(dir, "tokens.db");
    const store = await LibsqlTokenStore.open({ url: `file:${path}` });
    try {
      const holder = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { createClient } from "@libsql/client";
           const client = createClient({ url: ${
            JSON.stringify(`file:${path}`)
          } });
           const tx = await client.transaction("write"); // BEGIN IMMEDIATE
           await tx.execute("INSERT INTO oauthtoken (id, user_name, refresh_token) VALUES ('held', 'held@example.com', '1000.h')");
           await Deno.writeTextFile(${JSON.stringify(join(dir, "locked"))}, "");
           await new Promise((r) => setTimeout(r, 400));
           await tx.commit();
           client.close();`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await waitFor([join(dir, "locked")], Date.now() + 30_000);
      const started = performance.now();
      const saved = await store.saveToken(
        new OAuthToken({
          userName: "busy@example.com",
          refreshToken: "1000.b",
        }),
      );
      const waited = performance.now() - started;
      const { code, stderr } = await holder.output();
      assertEquals(code, 0, new TextDecoder().decode(stderr));
      assert(waited > 150, `saved after ${waited} ms: it did not wait`);
      assertEquals(
        (await store.getTokens()).map((t) => t.id).sort(),
        ["held", saved.id!].sort(),
      );
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LibsqlTokenStore retries SQLITE_BUSY a bounded number of times, then reports BACKEND", async () => {
  const busy = Object.assign(new Error("SQLITE_BUSY: database is locked"), {
    code: "SQLITE_BUSY",
    rawCode: 5,
  });
  let calls = 0;
  assertEquals(
    await withRetry("save token", [], () => {
      calls++;
      return calls < 3 ? Promise.reject(busy) : Promise.resolve("done");
    }),
    "done",
  );
  assertEquals(calls, 3);
  calls = 0;
  const error = await assertRejects(
    () =>
      withRetry("save token", [], () => {
        calls++;
        return Promise.reject(busy);
      }),
    TokenStoreError,
  );
  assertEquals(calls, BUSY_RETRIES + 1);
  assertEquals(error.code, "BACKEND");
  assertEquals(error.cause, busy);
  assertEquals(
    error.message,
    "Cannot save token: SQLITE_BUSY: database is locked",
  );
  // other driver errors are not retried
  calls = 0;
  await assertRejects(
    () =>
      withRetry("save token", [], () => {
        calls++;
        return Promise.reject(new Error("SQLITE_ERROR: no such table"));
      }),
    TokenStoreError,
  );
  assertEquals(calls, 1);
});
