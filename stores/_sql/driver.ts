/**
 * Loads an SQL driver when a store is opened. The specifier reaches
 * `import()` as a value, not a literal, so that bundlers (esbuild, Wrangler,
 * Vite) do not pull the driver into a bundle that merely imports the
 * package: a Worker importing the root builds without `nodejs_compat`.
 * Node and Bun resolve the package name through `node_modules`; Deno gets
 * an `npm:` specifier with the version range of deno.json's import map, as
 * JSR would have written it for a literal (so that a Deno user of the JSR
 * package needs no import map entry).
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";

/**
 * The npm drivers and their version ranges, as in deno.json `imports`
 * (tests/sql_driver_load_test.ts keeps the two the same).
 */
export const DRIVER_RANGES: Readonly<Record<string, string>> = {
  "@libsql/client": "^0.18",
  "mysql2": "^3",
  "postgres": "^3",
  "redis": "^5",
};

/**
 * The specifier `import()` gets: `npm:mysql2@^3/promise` on Deno,
 * `mysql2/promise` elsewhere.
 */
export function driverSpecifier(
  specifier: string,
  pkg: string,
  onDeno: boolean = ("Deno" in globalThis),
): string {
  const range = DRIVER_RANGES[pkg];
  if (!onDeno || range === undefined) return specifier;
  return `npm:${pkg}@${range}${specifier.slice(pkg.length)}`;
}

/**
 * Imports a driver module.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadDriver } from "./driver.ts";
 *
 * const { createClient } = await loadDriver<
 *   typeof import("@libsql/client")
 * >("@libsql/client", "libSQL");
 * assertEquals(typeof createClient, "function");
 * ```
 *
 * @param specifier The module to import, e.g. `"mysql2/promise"`.
 * @param label The database, for the message, e.g. `"MySQL"`.
 * @param pkg The npm package to install, when not the specifier itself.
 * @throws {TokenStoreError} `BACKEND` when the module cannot be loaded, with
 *   how to install it; a permission error (Deno's `NotCapable`) as it is.
 */
export async function loadDriver<T>(
  specifier: string,
  label: string,
  pkg: string = specifier,
): Promise<T> {
  try {
    return await import(driverSpecifier(specifier, pkg)) as T;
  } catch (error) {
    // a permission the process was not given (e.g. Deno's FFI for the
    // native libSQL client) is not fixed by installing anything
    const name = (error as { name?: unknown } | null)?.name;
    if (name === "NotCapable" || name === "PermissionDenied") throw error;
    throw new TokenStoreError(
      "BACKEND",
      `Cannot load the ${label} driver ${
        JSON.stringify(specifier)
      }: install it (npm install ${pkg}, or deno add npm:${pkg})`,
      { cause: error },
    );
  }
}
