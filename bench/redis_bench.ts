/**
 * `RedisTokenStore.findToken` against the raw commands it replaces: a `GET`
 * and an `HGETALL` on the same node-redis client (one index key holding the
 * id, then the token's hash), the baseline. The store answers in one
 * `EVALSHA` (index set, candidates' fields compared, the hash) and parses
 * the token. Needs `REDIS_URL` (e.g. `redis://127.0.0.1:6379/0`; a
 * volatile test server is accepted); without it nothing is registered.
 * Keys live under a fresh prefix and are deleted at the end.
 *
 * Run: `REDIS_URL=… deno bench -A bench/redis_bench.ts`
 *
 * @module
 */

import { createClient } from "redis";
import { OAuthToken } from "../core/token.ts";
import { RedisTokenStore } from "../stores/redis.ts";
import { atUnload, CLIENT_ID, tokenValue } from "./_data.ts";

const REDIS_URL = Deno.env.get("REDIS_URL") || undefined;

if (REDIS_URL !== undefined) {
  const prefix = `bench_${crypto.randomUUID().slice(0, 8)}`;
  const client = await createClient({
    url: REDIS_URL,
    disableOfflineQueue: true,
  }).connect();
  const store = new RedisTokenStore({ client, prefix });
  const users = Array.from({ length: 100 }, (_, i) => `user${i}@example.com`);
  const saved: OAuthToken[] = [];
  for (const userName of users) {
    saved.push(
      await store.saveToken(
        new OAuthToken({
          userName,
          clientId: CLIENT_ID,
          refreshToken: tokenValue(),
          accessToken: tokenValue(),
          expiresAt: Date.now() + 3_600_000,
          apiDomain: "https://www.zohoapis.com",
        }),
      ),
    );
  }
  // the raw layout the baseline reads: an index key holding the id
  for (const token of saved) {
    await client.set(`{${prefix}}:raw_user:${token.userName}`, token.id!);
  }
  let n = 0;
  Deno.bench({
    name: "raw GET + HGETALL",
    group: "find by user",
    baseline: true,
    async fn() {
      const user = users[n++ % users.length];
      const id = await client.get(`{${prefix}}:raw_user:${user}`);
      const hash = await client.hGetAll(`{${prefix}}:token:${id}`);
      if (hash.user_name !== user) throw new Error("unexpected token");
    },
  });
  Deno.bench({
    name: "RedisTokenStore.findToken",
    group: "find by user",
    async fn() {
      const user = users[n++ % users.length];
      const token = await store.findToken({ userName: user });
      if (token?.userName !== user) throw new Error("unexpected token");
    },
  });
  Deno.bench({
    name: "raw HGETALL",
    group: "find by id",
    baseline: true,
    async fn() {
      const token = saved[n++ % saved.length];
      const hash = await client.hGetAll(`{${prefix}}:token:${token.id}`);
      if (hash.id !== token.id) throw new Error("unexpected token");
    },
  });
  Deno.bench({
    name: "RedisTokenStore.findTokenById",
    group: "find by id",
    async fn() {
      const token = saved[n++ % saved.length];
      if ((await store.findTokenById(token.id!))?.id !== token.id) {
        throw new Error("unexpected token");
      }
    },
  });
  atUnload(() => {
    new Deno.Command("redis-cli", {
      args: [
        "-u",
        REDIS_URL,
        "EVAL",
        "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end",
        "0",
        `{${prefix}}:*`,
      ],
      stdout: "null",
      stderr: "null",
    }).outputSync();
  });
}
