import { assert, assertEquals, assertRejects } from "@std/assert";
import { Redis } from "@upstash/redis";
import { createClient } from "redis";
import { OAuthToken } from "../core/token.ts";
import { TokenStoreError } from "../core/errors.ts";
import { openStore } from "../stores/open_store.ts";
import { RedisTokenStore } from "../stores/redis.ts";
import { testTokenStore } from "./conformance.ts";
import { startUpstashShim } from "./fixtures/upstash_shim.ts";
import { deletePrefix, REDIS_URL } from "./fixtures/redis_server.ts";

const freshPrefix = () => `test_${crypto.randomUUID().slice(0, 8)}`;

if (REDIS_URL === undefined) {
  console.warn("REDIS_URL is not set: tests/redis_store_test.ts skipped");
} else {
  const url = REDIS_URL;

  testTokenStore("RedisTokenStore (node-redis)", async () => {
    const prefix = freshPrefix();
    const store = await RedisTokenStore.open({
      url,
      prefix,
      allowVolatile: true,
    });
    const close = store.close.bind(store);
    return Object.assign(store, {
      async close(): Promise<void> {
        await close();
        await deletePrefix(url, prefix);
      },
    });
  });

  testTokenStore("RedisTokenStore (Upstash REST)", async () => {
    const prefix = freshPrefix();
    const shim = await startUpstashShim(url);
    const client = new Redis({ url: shim.url, token: shim.token });
    const store = new RedisTokenStore({ client, prefix });
    return Object.assign(store, {
      async close(): Promise<void> {
        await RedisTokenStore.prototype.close.call(store);
        await shim.close();
        await deletePrefix(url, prefix);
      },
    });
  });

  Deno.test({
    name:
      "RedisTokenStore keeps Zoho's field names in one hash under {prefix}: with index sets, and openStore takes prefix and allowVolatile",
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const prefix = freshPrefix();
      const store = await openStore(
        `${url}?prefix=${prefix}&allowVolatile=true`,
      );
      const raw = await createClient({ url }).connect();
      try {
        assert(store instanceof RedisTokenStore);
        const saved = await store.saveToken(
          new OAuthToken({
            userName: "ada@example.com",
            clientId: "1000.C",
            refreshToken: "1000.r",
            accessToken: "1000.a",
            expiresAt: 1_800_000_000_123,
          }),
        );
        const hash = await raw.hGetAll(`{${prefix}}:token:${saved.id}`);
        assertEquals({ ...hash }, {
          id: saved.id!,
          user_name: "ada@example.com",
          client_id: "1000.C",
          refresh_token: "1000.r",
          access_token: "1000.a",
          expiry_time: "1800000000123",
        });
        const keys = (await raw.keys(`{${prefix}}:*`)).sort();
        // token, idx, tokens, 4 index sets: user, user + client, access, refresh
        assertEquals(keys.length, 7);
        assert(keys.every((key) => key.startsWith(`{${prefix}}:`)));
        assert(keys.some((key) => key.startsWith(`{${prefix}}:by_user:`)));
        const byUserClient = keys.filter((key) =>
          key.startsWith(`{${prefix}}:by_user_client:`)
        );
        assertEquals(byUserClient.length, 1);
        assertEquals(await raw.sMembers(byUserClient[0]), [saved.id!]);
        // a lookup by user and client reads that set, not the user's
        const byUser = keys.find((key) =>
          key.startsWith(`{${prefix}}:by_user:`)
        )!;
        await raw.del(byUser);
        const query = { userName: "ada@example.com", clientId: "1000.C" };
        assertEquals((await store.findToken(query))?.id, saved.id);
        assertEquals(
          await store.findToken({ userName: "ada@example.com" }),
          null,
        );
        await store.saveToken(saved); // the index sets back
        await store.status!.put({ id: saved.id!, state: "ok", failures: 0 });
        assertEquals(
          JSON.parse((await raw.get(`{${prefix}}:status:${saved.id}`))!),
          { id: saved.id!, state: "ok", failures: 0 },
        );
        const lease = await store.lock!.acquire("refresh:x", { ttlMs: 5_000 });
        const owner = await raw.get(`{${prefix}}:lock:refresh:x`);
        assert(owner !== null && owner.length > 10);
        assert((await raw.pTTL(`{${prefix}}:lock:refresh:x`)) > 4_000);
        await lease!.release();
        assertEquals(await raw.get(`{${prefix}}:lock:refresh:x`), null);
        await store.deleteToken(saved.id!);
        assertEquals(await raw.keys(`{${prefix}}:*`), []);
      } finally {
        await store.close?.();
        await raw.quit();
        await deletePrefix(url, prefix);
      }
    },
  });

  Deno.test({
    name:
      "RedisTokenStore.watchToken resolves on another store's save at once, by pub/sub",
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const prefix = freshPrefix();
      const a = await RedisTokenStore.open({
        url,
        prefix,
        allowVolatile: true,
      });
      const b = await RedisTokenStore.open({
        url,
        prefix,
        allowVolatile: true,
      });
      try {
        const saved = await a.saveToken(
          new OAuthToken({
            userName: "ada@example.com",
            refreshToken: "1000.r",
          }),
        );
        // subscribe first: the first wait opens the subscriber connection
        await a.watchToken(saved.id!, { signal: AbortSignal.timeout(300) });
        let wokeAt = 0;
        const woke = a.watchToken(saved.id!, {
          signal: AbortSignal.timeout(5_000),
        }).then(() => wokeAt = performance.now());
        await new Promise((r) => setTimeout(r, 50));
        assertEquals(wokeAt, 0, "woke before any save");
        const saving = performance.now();
        await b.saveToken(saved.with({ accessToken: "1000.a" }));
        await woke;
        const ms = wokeAt - saving;
        assert(ms < 50, `woke ${ms} ms after the save began`);
      } finally {
        await a.close();
        await b.close();
        await deletePrefix(url, prefix);
      }
    },
  });

  Deno.test({
    name:
      "RedisTokenStore.open refuses a volatile Redis without allowVolatile, accepts one with AOF, and never prints the password",
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const error = await assertRejects(
        () => RedisTokenStore.open({ url }),
        TokenStoreError,
        "keeps nothing on disk",
      );
      assertEquals(error.code, "BACKEND");
      const dir = await Deno.makeTempDir();
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      const server = new Deno.Command("redis-server", {
        args: [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--dir",
          dir,
          "--appendonly",
          "yes",
          "--save",
          "",
          "--requirepass",
          "s3cret-pass-word",
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        let store: RedisTokenStore | undefined;
        for (let i = 0; i < 50 && store === undefined; i++) {
          try {
            store = await RedisTokenStore.open({
              url: `redis://:s3cret-pass-word@127.0.0.1:${port}/0`,
            });
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        assert(store !== undefined, "the AOF server is accepted");
        const saved = await store.saveToken(
          new OAuthToken({ userName: "ada", refreshToken: "1000.r" }),
        );
        assertEquals((await store.findTokenById(saved.id!))?.userName, "ada");
        await store.close();
        // AOF off, an RDB save schedule: accepted; neither: refused
        const admin = await createClient({
          url: `redis://:s3cret-pass-word@127.0.0.1:${port}/0`,
        }).connect();
        try {
          await admin.configSet("appendonly", "no");
          await admin.configSet("save", "3600 1");
          await (await RedisTokenStore.open({
            url: `redis://:s3cret-pass-word@127.0.0.1:${port}/0`,
          })).close();
          await admin.configSet("save", "");
          const volatile = await assertRejects(
            () =>
              RedisTokenStore.open({
                url: `redis://:s3cret-pass-word@127.0.0.1:${port}/0`,
              }),
            TokenStoreError,
            "keeps nothing on disk",
          );
          assert(!Deno.inspect(volatile).includes("s3cret-pass-word"));
          await (await RedisTokenStore.open({
            url: `redis://:s3cret-pass-word@127.0.0.1:${port}/0`,
            allowVolatile: true,
          })).close();
        } finally {
          await admin.quit();
        }
        const wrong = await assertRejects(
          () =>
            RedisTokenStore.open({
              url: `redis://:wrong-pass-word-xyz@127.0.0.1:${port}/0`,
            }),
          TokenStoreError,
        );
        assert(!String(wrong.message).includes("wrong-pass-word-xyz"));
        assert(!Deno.inspect(wrong).includes("wrong-pass-word-xyz"));
        const down = await assertRejects(
          () =>
            RedisTokenStore.open({
              url: `redis://:s3cret-pass-word@127.0.0.1:1/0`,
            }),
          TokenStoreError,
        );
        assert(!Deno.inspect(down).includes("s3cret-pass-word"));
        assert(down.message.includes("***"), down.message);
      } finally {
        server.kill();
        await server.status;
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

if (REDIS_URL !== undefined) {
  const url = REDIS_URL;
  Deno.test({
    name:
      "RedisTokenStore over Upstash REST: no pub/sub, so watchToken ends only with its signal, and two TokenClients on it refresh an expired token once",
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const prefix = freshPrefix();
      const shim = await startUpstashShim(url);
      const store = new RedisTokenStore({
        client: new Redis({ url: shim.url, token: shim.token }),
        prefix,
      });
      try {
        const saved = await store.saveToken(
          new OAuthToken({
            userName: "ada@example.com",
            refreshToken: "1000.r",
            accessToken: "1000.old",
            expiresAt: Date.now() - 1_000,
          }),
        );
        const started = performance.now();
        const waiting = store.watchToken(saved.id!, {
          signal: AbortSignal.timeout(200),
        });
        await store.saveToken(saved.with({ apiDomain: "https://x.example" }));
        await waiting;
        assert(performance.now() - started >= 150, "woke without pub/sub");
        assert(
          shim.commands.some((c) => c[0].toLowerCase() === "evalsha"),
          "scripts go by EVALSHA",
        );
        let requests = 0;
        const fetch = async () => {
          requests++;
          await new Promise((r) => setTimeout(r, 100));
          return Response.json({ access_token: "1000.new", expires_in: 3600 });
        };
        const { TokenClient } = await import("../core/token_client.ts");
        const clients = [0, 1].map(() =>
          new TokenClient({
            store,
            clientId: "1000.C",
            clientSecret: "s",
            tokenUrl: "http://127.0.0.1:9/oauth/v2/token",
            fetch,
          })
        );
        const tokens = await Promise.all(
          Array.from(
            { length: 20 },
            (_, i) =>
              clients[i % 2].getAccessToken({ userName: "ada@example.com" }),
          ),
        );
        assertEquals(new Set(tokens), new Set(["1000.new"]));
        assertEquals(requests, 1);
        assertEquals(
          (await store.findTokenById(saved.id!))?.accessToken,
          "1000.new",
        );
      } finally {
        await store.close();
        await shim.close();
        await deletePrefix(url, prefix);
      }
    },
  });
}
