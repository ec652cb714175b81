/**
 * The Deno KV store: one local file here, the managed database on Deno
 * Deploy (`KvTokenStore.open()` without a path). Many processes can share it.
 *
 *     deno run -A examples/kv_store.ts [./tokens.db]
 *
 * @module
 */

import { KvTokenStore, OAuthToken } from "../mod.ts";

const path = Deno.args[0] ??
  `${await Deno.makeTempDir({ prefix: "tokenstore-kv-" })}/tokens.db`;
const store = await KvTokenStore.open({ path, prefix: ["example"] });
try {
  await store.saveToken(
    new OAuthToken({
      userName: "ada@example.com",
      clientId: "1000.KVEXAMPLE",
      refreshToken: "1000.kv-example-refresh",
    }),
  );
  const lease = await store.lock.acquire("refresh:demo", { ttlMs: 5_000 });
  console.log(`KV file: ${path}`);
  console.log(
    "Found:",
    await store.findToken({
      userName: "ada@example.com",
      clientId: "1000.KVEXAMPLE",
    }),
  );
  console.log(
    `Lease taken: ${lease !== null}; taken twice: ${
      (await store.lock.acquire("refresh:demo", { ttlMs: 5_000 })) !== null
    }`,
  );
  await lease?.release();
} finally {
  await store.close();
}
