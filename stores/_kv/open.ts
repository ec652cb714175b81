/**
 * Opening the Deno KV token store (private): its options checked, and the
 * database opened, with a `BACKEND` error naming what is missing when the
 * runtime has no Deno KV (Node, Bun, Workers; Deno without KV enabled).
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import type { KvConsistencyLevel, KvLike } from "./kv_like.ts";

/** The globals this module looks at; none may exist. */
interface Runtime {
  Deno?: {
    openKv?: (path?: string) => Promise<KvLike>;
    version?: { deno?: string };
  };
  process?: { version?: string; versions?: { bun?: string } };
  navigator?: { userAgent?: string };
}

/** The runtime this is, for error messages: `Node.js v20.1.0`, `Bun 1.1.0`. */
function runtimeName({ process, navigator }: Runtime): string {
  if (typeof process?.versions?.bun === "string") {
    return `Bun ${process.versions.bun}`;
  }
  if (typeof process?.version === "string") return `Node.js ${process.version}`;
  const agent = navigator?.userAgent;
  return typeof agent === "string" && agent !== ""
    ? JSON.stringify(agent)
    : "this runtime";
}

/**
 * `Deno.openKv`, or a `BACKEND` error naming what is missing: the `Deno`
 * global (Node, Bun, Workers), or `Deno.openKv` (Deno without KV enabled).
 * Reads `globalThis.Deno` only when called, so that importing the store
 * works anywhere.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { denoOpenKv } from "./open.ts";
 *
 * const openKv = denoOpenKv(); // on Node or Bun: TokenStoreError "BACKEND"
 * const kv = await openKv(":memory:");
 * assertEquals((await kv.get(["missing"])).value, null);
 * kv.close();
 * ```
 *
 * @throws {TokenStoreError} `BACKEND` when Deno KV is not available here.
 */
export function denoOpenKv(): (path?: string) => Promise<KvLike> {
  const runtime = globalThis as Runtime;
  const deno = runtime.Deno;
  if (typeof deno?.openKv === "function") return deno.openKv.bind(deno);
  throw new TokenStoreError(
    "BACKEND",
    deno === undefined || deno === null
      ? `Deno KV needs the Deno runtime: there is no "Deno" global on ${
        runtimeName(runtime)
      } (use the file, libSQL, MySQL or PostgreSQL store there)`
      : `Deno KV needs the Deno runtime with KV enabled: "Deno.openKv" is missing (run with --unstable-kv or add "unstable": ["kv"] to deno.json)`,
  );
}

/**
 * Checks the runtime, the database and the read consistency given to the
 * store.
 *
 * @example Usage
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { checkStoreOptions } from "./open.ts";
 *
 * const kv = await Deno.openKv(":memory:");
 * assertEquals(checkStoreOptions(kv, "eventual"), "eventual");
 * assertThrows(() => checkStoreOptions(kv, "weak"), TypeError);
 * kv.close();
 * ```
 *
 * @returns The consistency.
 * @throws {TokenStoreError} `BACKEND` when Deno KV is not available here.
 * @throws {TypeError} naming the bad option.
 */
export function checkStoreOptions(
  kv: unknown,
  consistency: unknown,
): KvConsistencyLevel {
  denoOpenKv();
  if (kv === null || typeof kv !== "object") {
    throw new TypeError("Invalid Deno KV store options: expected a Deno.Kv");
  }
  if (consistency !== "strong" && consistency !== "eventual") {
    throw new TypeError(
      `Invalid Deno KV consistency ${
        JSON.stringify(String(consistency))
      }: expected "strong" or "eventual"`,
    );
  }
  return consistency;
}

/**
 * Checks `path` and opens the database there (the default one without it).
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { openDatabase } from "./open.ts";
 *
 * const kv = await openDatabase(":memory:");
 * assertEquals((await kv.get(["missing"])).versionstamp, null);
 * kv.close();
 * ```
 *
 * @throws {TypeError} when `path` is not a string.
 * @throws {TokenStoreError} `BACKEND` when Deno KV is not available here or
 * the database cannot be opened.
 */
export async function openDatabase(path: unknown): Promise<KvLike> {
  if (path !== undefined && typeof path !== "string") {
    throw new TypeError(
      `Invalid Deno KV path: expected a string, got ${typeof path}`,
    );
  }
  const openKv = denoOpenKv();
  try {
    return await openKv(path);
  } catch (error) {
    throw new TokenStoreError(
      "BACKEND",
      `Cannot open Deno KV${
        path === undefined ? "" : ` ${JSON.stringify(path)}`
      }`,
      { cause: error },
    );
  }
}
