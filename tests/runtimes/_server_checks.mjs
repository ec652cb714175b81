/**
 * The Node and Bun checks: the `./core` smoke against a token endpoint this
 * process starts on 127.0.0.1, then the stores a server runtime can have
 * (libSQL `file:`, the file store (`_file_checks.mjs`), Deno KV's refusal
 * off Deno), each imported
 * through its package entry as a user on that runtime would.
 *
 * Run from the build folder (so that `@tokenstore/tokenstore` resolves to the
 * transpiled package): `node _server_checks.mjs <runtime>`. Prints one JSON
 * line `{ runtime, version, results }`.
 *
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { check, coreChecks, expect } from "./_core_checks.mjs";
import { fileChecks } from "./_file_checks.mjs";
import { REFRESH_TOKEN } from "./_constants.mjs";
import { startTokenEndpoint } from "./_token_endpoint.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const runtime = process.argv[2] ?? "node";
const version = typeof globalThis.Bun === "object"
  ? `bun ${globalThis.Bun.version}`
  : `node ${process.version}`;

const endpoint = await startTokenEndpoint();
const dir = await mkdtemp(join(tmpdir(), `tokenstore-${runtime}-`));
const results = [];
try {
  const tag = `${runtime}-${process.pid}`;
  results.push(...await coreChecks({ tokenUrl: endpoint.url, tag }));
  results.push(
    await check("endpoint saw 1 request per refresh", () => {
      const counts = ["single", "shared"].map((name) =>
        endpoint.requests(`1000.${tag}-${name}`)
      );
      expect(
        counts.every((n) => n === 1),
        `endpoint counted ${counts.join(" and ")}`,
      );
      return Promise.resolve(`${counts.join(" + ")}`);
    }),
  );

  results.push(
    await check("root import (mod.ts)", async () => {
      const mod = await import("@tokenstore/tokenstore");
      for (
        const name of [
          "MemoryTokenStore",
          "TokenClient",
          "KvTokenStore",
          "LibsqlTokenStore",
          "FileTokenStore",
          "MysqlTokenStore",
          "openStore",
        ]
      ) {
        expect(typeof mod[name] === "function", `no export ${name}`);
      }
    }),
  );

  results.push(
    await check("libSQL file:", async () => {
      const { LibsqlTokenStore } = await import(
        "@tokenstore/tokenstore/libsql"
      );
      const { OAuthToken } = await import("@tokenstore/tokenstore/core");
      const url = `file:${join(dir, "tokens.db")}`;
      const store = await LibsqlTokenStore.open({ url });
      try {
        const saved = await store.saveToken(
          new OAuthToken({
            userName: "ada@example.com",
            refreshToken: REFRESH_TOKEN,
          }),
        );
        const found = await store.findToken({ userName: "ada@example.com" });
        expect(found?.id === saved.id, "findToken missed");
        const lease = await store.lock?.acquire("k", { ttlMs: 5_000 });
        expect(lease != null, "lease not granted");
        expect(
          (await store.lock?.acquire("k", { ttlMs: 5_000 })) == null,
          "second lease granted",
        );
        await lease?.release();
      } finally {
        await store.close?.();
      }
      const again = await LibsqlTokenStore.open({ url });
      try {
        expect(
          (await again.findToken({ userName: "ada@example.com" }))
            ?.refreshToken === REFRESH_TOKEN,
          "token not found after reopening",
        );
      } finally {
        await again.close?.();
      }
    }),
  );

  results.push(...await fileChecks({ dir, here: HERE }));

  results.push(
    await check("KV off Deno: TokenStoreError(BACKEND)", async () => {
      const { KvTokenStore } = await import("@tokenstore/tokenstore/kv");
      const { TokenStoreError } = await import("@tokenstore/tokenstore/core");
      const describe = (error) =>
        error instanceof Error
          ? `${error.name}: ${error.message}`
          : String(error);
      const refusal =
        /^Deno KV needs the Deno runtime: there is no "Deno" global/;
      const attempts = [
        ["KvTokenStore.open", async () => {
          const store = await KvTokenStore.open({ path: join(dir, "kv.db") });
          await store.close?.();
        }],
        ["new KvTokenStore", () => {
          new KvTokenStore({ kv: {} });
          return Promise.resolve();
        }],
      ];
      let message = "";
      for (const [name, attempt] of attempts) {
        let error;
        try {
          await attempt();
        } catch (e) {
          error = e;
        }
        expect(error !== undefined, `${name} succeeded off Deno`);
        expect(
          error instanceof TokenStoreError && error.code === "BACKEND" &&
            refusal.test(error.message),
          `${name}: want TokenStoreError(BACKEND) "Deno KV needs the Deno runtime: …", got ${
            describe(error)
          }`,
        );
        message = error.message;
      }
      return message;
    }),
  );
} finally {
  await endpoint.close();
  await rm(dir, { recursive: true, force: true });
}

console.log(JSON.stringify({ runtime, version, results }));
// A store left open (a failing check) must not keep the process alive.
process.exit(0);
