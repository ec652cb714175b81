/**
 * The `./core` smoke as Vercel's edge runtime gets it: bundled (esbuild,
 * `edge-light` conditions) into a script that defines `__tokenstoreSmoke`.
 *
 * @module
 */

import { coreChecks } from "./_core_checks.mjs";

/**
 * Runs the checks and answers them as JSON text (plain data crosses the VM
 * boundary).
 *
 * @param {string} tokenUrl
 * @param {string} tag
 * @returns {Promise<string>}
 */
export async function run(tokenUrl, tag) {
  return JSON.stringify(await coreChecks({ tokenUrl, tag }));
}
