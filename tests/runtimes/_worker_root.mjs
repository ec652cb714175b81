/**
 * A Cloudflare Worker that imports the package root (`mod.ts`) and uses only
 * the memory store: whether it bundles for Workers without `nodejs_compat`,
 * and whether any driver code comes with it, is what this entry measures.
 *
 * @module
 */

import { MemoryTokenStore, OAuthToken } from "@tokenstore/tokenstore";

export default {
  async fetch() {
    const store = new MemoryTokenStore();
    const saved = await store.saveToken(
      new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
    );
    const found = await store.findToken({ userName: "ada@example.com" });
    return Response.json({
      runtime: "workerd",
      results: [{
        name: "root Worker runs",
        ok: found?.id === saved.id,
        detail: found?.id === saved.id ? "" : "findToken missed",
      }],
    });
  },
};
