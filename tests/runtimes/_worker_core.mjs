/**
 * A Cloudflare Worker (module syntax) that runs the `./core` smoke when it
 * gets a request: `GET /?tokenUrl=<url>&tag=<tag>` answers
 * `{ runtime, results }`. Bundled by esbuild with the Workers conditions and
 * run by workerd without `nodejs_compat`; workerd routes the Worker's
 * outgoing `fetch` to the token endpoint on the host's loopback.
 *
 * @module
 */

import { coreChecks } from "./_core_checks.mjs";

export default {
  /** @param {Request} request */
  async fetch(request) {
    const url = new URL(request.url);
    const results = await coreChecks({
      tokenUrl: url.searchParams.get("tokenUrl") ?? "",
      tag: url.searchParams.get("tag") ?? "workerd",
    });
    return Response.json({ runtime: "workerd", results });
  },
};
