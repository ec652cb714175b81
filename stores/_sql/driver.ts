/**
 * Loads an SQL driver when a store is opened. The specifier reaches
 * `import()` as a value, not a literal, so that bundlers (esbuild, Wrangler,
 * Vite) do not pull the driver into a bundle that merely imports the
 * package: a Worker importing the root builds without `nodejs_compat`.
 * Deno resolves the bare name through the import map, Node and Bun through
 * `node_modules`.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";

/**
 * Imports a driver module.
 *
 * @example Usage
 * ```ts ignore
 * const { createClient } = await loadDriver<
 *   typeof import("@libsql/client")
 * >("@libsql/client", "libSQL");
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
    return await import(specifier) as T;
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
