/**
 * The file store on Node and Bun (`node:fs/promises`), imported through its
 * package entry as a user on that runtime would:
 *
 * - `file store`: save and find across two stores on one file, mode 0600, a
 *   lease exclusive between them;
 * - `file store: .bak, truncation, no litter`: the last good copy (mode
 *   0600), a truncated file refused with `CORRUPT` and left alone, a relative
 *   path resolved against the current directory, and no temp or lock owner
 *   file left behind;
 * - `file store lock: live owner waits, stale owner taken over`: an owner
 *   file naming a live process on this host (the parent) holds the lock
 *   until the timeout; one naming a process that is gone, or untouched for
 *   longer than the stale age, is taken over at once;
 * - `file store: 2 processes × 50 saves, none lost`: two child processes of
 *   this runtime (`_file_writer.mjs`) save 50 users each into one file.
 *
 * @module
 */

import { spawn } from "node:child_process";
import {
  mkdir,
  readdir,
  readFile,
  stat,
  truncate,
  utimes,
  writeFile,
} from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { check, expect } from "./_core_checks.mjs";
import { REFRESH_TOKEN } from "./_constants.mjs";

const WRITERS = 2;
const SAVES = 50;

/** Runs a child of this runtime; resolves its exit code and output. */
function child(args) {
  return new Promise((done) => {
    const proc = spawn(process.execPath, args, {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout.on("data", (chunk) => out += chunk);
    proc.stderr.on("data", (chunk) => out += chunk);
    proc.on("close", (code) => done({ code, out, pid: proc.pid }));
  });
}

/** The file store checks; `dir` is an empty scratch folder. */
export async function fileChecks({ dir, here }) {
  const { FileTokenStore } = await import("@tokenstore/tokenstore/file");
  const { OAuthToken, TokenStoreError } = await import(
    "@tokenstore/tokenstore/core"
  );
  const user = (name) =>
    new OAuthToken({
      userName: `${name}@example.com`,
      refreshToken: REFRESH_TOKEN,
    });
  const mode = async (path) => (await stat(path)).mode & 0o777;
  const results = [];

  results.push(
    await check("file store", async () => {
      const path = join(dir, "tokens.json");
      const store = new FileTokenStore({ path });
      const saved = await store.saveToken(user("ada"));
      const again = new FileTokenStore({ path });
      expect(
        (await again.findTokenById(saved.id ?? ""))?.refreshToken ===
          REFRESH_TOKEN,
        "another store on the file did not read the token",
      );
      expect(
        (await mode(path)) === 0o600,
        `file mode ${(await mode(path)).toString(8)}, want 600`,
      );
      const lease = await store.lock.acquire("k", { ttlMs: 5_000 });
      expect(lease != null, "lease not granted");
      expect(
        (await again.lock.acquire("k", { ttlMs: 5_000 })) == null,
        "second lease granted",
      );
      await lease?.release();
      expect(
        (await again.lock.acquire("k", { ttlMs: 5_000 })) != null,
        "lease not granted after release",
      );
      await store.close?.();
      await again.close?.();
    }),
  );

  results.push(
    await check(
      "file store: watchToken wakes on a save (fs watch)",
      async () => {
        const path = join(dir, "watched.json");
        const store = new FileTokenStore({ path });
        const saved = await store.saveToken(user("wat"));
        const other = new FileTokenStore({ path });
        const changed = store.watchToken(saved.id ?? "", {
          signal: AbortSignal.timeout(5_000),
        });
        await new Promise((done) => setTimeout(done, 50));
        const started = Date.now();
        await other.saveToken(saved.with({ accessToken: "1000.watched" }));
        await changed;
        const ms = Date.now() - started;
        expect(ms < 1_000, `woken ${ms} ms after the save, not by the watch`);
        await store.close?.();
        await other.close?.();
      },
    ),
  );

  results.push(
    await check("file store: .bak, truncation, no litter", async () => {
      const sub = join(dir, "bak");
      await mkdir(sub);
      const cwd = process.cwd();
      process.chdir(sub);
      let store;
      try {
        store = new FileTokenStore({
          path: "sdk_tokens.txt",
          format: "zoho-csv",
        });
      } finally {
        process.chdir(cwd);
      }
      const path = join(sub, "sdk_tokens.txt");
      expect(store.path === path, `relative path resolved to ${store.path}`);
      await store.saveToken(user("ada"));
      await store.saveToken(user("bob"));
      expect((await mode(`${path}.bak`)) === 0o600, ".bak mode is not 600");
      expect(
        (await readFile(`${path}.bak`, "utf8")) ===
          (await readFile(path, "utf8")),
        ".bak differs from the file",
      );
      const header = (await readFile(path, "utf8")).split("\n")[0];
      await truncate(path, header.length + 1);
      const truncated = await readFile(path, "utf8");
      let error;
      try {
        await new FileTokenStore({ path, format: "zoho-csv" }).saveToken(
          user("cyd"),
        );
      } catch (e) {
        error = e;
      }
      expect(
        error instanceof TokenStoreError && error.code === "CORRUPT",
        `a save into the truncated file: want CORRUPT, got ${error}`,
      );
      expect(
        (await readFile(path, "utf8")) === truncated,
        "the truncated file was overwritten",
      );
      const litter = (await readdir(sub)).filter((name) =>
        name.endsWith(".tmp") || name.includes(".owner")
      );
      expect(litter.length === 0, `left behind: ${litter.join(", ")}`);
      return (await readdir(sub)).sort().join(" ");
    }),
  );

  results.push(
    await check(
      "file store lock: live owner waits, stale owner taken over",
      async () => {
        const path = join(dir, "owned.json");
        const owner = `${path}.lock.owner`;
        const store = new FileTokenStore({ path, lockTimeoutMs: 300 });
        const record = (pid) =>
          `${
            JSON.stringify({ pid, host: hostname(), flock: false, nonce: "x" })
          }\n`;
        // the parent process lives: its owner file holds the lock
        await writeFile(owner, record(process.ppid));
        const started = Date.now();
        let error;
        try {
          await store.saveToken(user("ada"));
        } catch (e) {
          error = e;
        }
        const waited = Date.now() - started;
        expect(
          error instanceof TokenStoreError && error.code === "BACKEND" &&
            /timed out after 300 ms/.test(error.message),
          `a live owner: want BACKEND timed out, got ${error}`,
        );
        expect(waited >= 290, `gave up after ${waited} ms`);
        // a process that is gone
        const gone = await child(["-e", "0"]);
        await writeFile(owner, record(gone.pid));
        await store.saveToken(user("ada"));
        // a live process, but untouched for a minute: its holder hung or the
        // pid was reused
        await writeFile(owner, record(process.ppid));
        const old = new Date(Date.now() - 60_000);
        await utimes(owner, old, old);
        await store.saveToken(user("bob"));
        const lease = await store.lock.acquire("k", { ttlMs: 1_000 });
        expect(lease != null, "lease not granted");
        await lease.release();
        const left = (await readdir(dir)).filter((n) => n.includes(".owner"));
        expect(left.length === 0, `left behind: ${left.join(", ")}`);
        return `live owner: timed out after ${waited} ms`;
      },
    ),
  );

  results.push(
    await check(
      `file store: ${WRITERS} processes × ${SAVES} saves, none lost`,
      async () => {
        const path = join(dir, "shared.json");
        const started = Date.now();
        const runs = await Promise.all(
          Array.from(
            { length: WRITERS },
            (_, i) =>
              child([
                join(here, "_file_writer.mjs"),
                path,
                `w${i}`,
                String(SAVES),
              ]),
          ),
        );
        for (const run of runs) {
          expect(run.code === 0, `a writer exited ${run.code}: ${run.out}`);
        }
        const tokens = await new FileTokenStore({ path }).getTokens();
        const names = new Set(tokens.map((t) => t.userName));
        expect(
          tokens.length === WRITERS * SAVES && names.size === WRITERS * SAVES,
          `${tokens.length} tokens, ${names.size} users, want ${
            WRITERS * SAVES
          }`,
        );
        return `${tokens.length} tokens in ${Date.now() - started} ms`;
      },
    ),
  );
  return results;
}
