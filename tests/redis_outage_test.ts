/**
 * Rule 4 on Redis: Redis cut through a TCP proxy right after the token
 * endpoint issued a rotated refresh token, restored 1–3 s later. Commands
 * fail at once while it is down (no offline queue), so the token is served
 * at once, saved once Redis is back, and no lease is left.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { createClient } from "redis";
import { TokenClient } from "../core/token_client.ts";
import { RedisTokenStore } from "../stores/redis.ts";
import { deletePrefix, REDIS_URL } from "./fixtures/redis_server.ts";
import { assertServedOnce, USER } from "./fixtures/stampede_harness.ts";
import { TcpProxy } from "./fixtures/tcp_proxy.ts";
import {
  DEFAULT_CLIENT,
  seedToken,
  startTokenServer,
} from "./fixtures/token_server.ts";

const ROTATING = { rotateRefreshTokens: true, reuseDetection: true } as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (REDIS_URL !== undefined) {
  const url = new URL(REDIS_URL);
  for (const outageMs of [1_000, 3_000]) {
    Deno.test({
      name:
        `durability: Redis cut for ${outageMs} ms right after the endpoint rotated the refresh token: served at once, saved after the outage, no lease left`,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        await using server = await startTokenServer({
          ...ROTATING,
          latencyMs: 300,
        });
        const prefix = `outage_${crypto.randomUUID().slice(0, 8)}`;
        const proxy = new TcpProxy(Number(url.port || 6379));
        proxy.start();
        const proxied = new URL(url);
        proxied.port = String(proxy.port);
        const store = await RedisTokenStore.open({
          url: proxied.href,
          prefix,
          allowVolatile: true,
        });
        const raw = await createClient({ url: REDIS_URL }).connect();
        try {
          const seeded = await seedToken(store, server, USER);
          const client = new TokenClient({
            store,
            clientId: DEFAULT_CLIENT.clientId,
            clientSecret: DEFAULT_CLIENT.clientSecret,
            tokenUrl: server.url,
            retry: { baseDelayMs: 100, maxDelayMs: 1_000 },
          });
          const failed: unknown[] = [];
          client.addEventListener("persistfailed", (e) => failed.push(e));
          const refreshing = client.getToken({ userName: USER });
          for (let i = 0; server.requests.length < 1; i++) {
            assert(i < 1000, "the token endpoint was never asked");
            await sleep(5);
          }
          await proxy.stop(); // the answer comes back to a store that is down
          const cut = Date.now();
          const token = await refreshing;
          const servedMs = Date.now() - cut;
          assert(servedMs < 1_000, `served ${servedMs} ms into the outage`);
          assert(server.isValid(token.refreshToken!));
          assertEquals(
            await client.getAccessToken({ userName: USER }),
            token.accessToken,
            "served from memory during the outage",
          );
          // while Redis is down, commands fail at once (no offline queue)
          const asked = Date.now();
          const down = await assertRejects(
            () => store.findTokenById(seeded.id!),
            TokenStoreError,
          );
          assertEquals(down.code, "BACKEND");
          assert(Date.now() - asked < 500, "a command waited for Redis");
          // still down: nothing saved yet
          assert(
            await raw.hGet(`{${prefix}}:token:${seeded.id}`, "access_token") !==
              token.accessToken,
          );
          await sleep(Math.max(0, outageMs - (Date.now() - cut)));
          proxy.start();
          await client.flush();
          const savedMs = Date.now() - cut;
          assertEquals(failed, []);
          const hash = await raw.hGetAll(`{${prefix}}:token:${seeded.id}`);
          assertEquals(hash.refresh_token, token.refreshToken);
          assertEquals(hash.access_token, token.accessToken);
          assertEquals(
            await raw.keys(`{${prefix}}:lock:*`),
            [],
            "a lease was left behind",
          );
          await assertServedOnce(store, server, token.accessToken);
          console.log(
            `[durability] Redis outage ${outageMs} ms after rotation: token served ${servedMs} ms into the outage, saved ${savedMs} ms after the cut, 1 token request, no lease left`,
          );
        } finally {
          await store.close();
          await proxy.stop();
          await raw.quit();
          await deletePrefix(url.href, prefix);
        }
      },
    });
  }
}
