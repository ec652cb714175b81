/**
 * The Deno KV store's statuses (design "Health", "Storage layouts"): at
 * `[...prefix, "status", id]`; a put is one atomic set and no read; a
 * token's status is deleted in the very atomic operation that deletes the
 * token; a stored value that is not a status is `CORRUPT`.
 *
 * @module
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import type { TokenStatus } from "../core/token_status.ts";
import { KvTokenStore } from "../stores/kv.ts";

/** One call to the database: a read, or an atomic commit with its mutations. */
type Call =
  | { kind: "get" | "getMany" | "list" }
  | { kind: "commit"; sets: string[]; deletes: string[] };

/** A `Deno.Kv` that records every call made through it. */
function recording(kv: Deno.Kv): { kv: Deno.Kv; calls: Call[] } {
  const calls: Call[] = [];
  const key = (k: Deno.KvKey) => JSON.stringify(k);
  const counted = new Proxy(kv, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      if (name === "atomic") {
        return () => {
          const op = target.atomic();
          const sets: string[] = [];
          const deletes: string[] = [];
          const wrapped: Deno.AtomicOperation = new Proxy(op, {
            get(op, name) {
              const fn = Reflect.get(op, name, op);
              if (typeof fn !== "function") return fn;
              return (...args: unknown[]) => {
                if (name === "set") sets.push(key(args[0] as Deno.KvKey));
                if (name === "delete") deletes.push(key(args[0] as Deno.KvKey));
                if (name === "commit") {
                  calls.push({ kind: "commit", sets, deletes });
                  return fn.apply(op, args);
                }
                fn.apply(op, args);
                return wrapped;
              };
            },
          });
          return wrapped;
        };
      }
      return (...args: unknown[]) => {
        if (name === "get" || name === "getMany" || name === "list") {
          calls.push({ kind: name });
        }
        return value.apply(target, args);
      };
    },
  });
  return { kv: counted, calls };
}

const PREFIX = ["app", "tokens"];

Deno.test('KvTokenStore status: one atomic set per put at [...prefix, "status", id], one read per get', async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const { kv: recorded, calls } = recording(kv);
    const store = new KvTokenStore({ kv: recorded, prefix: PREFIX });
    const saved = await store.saveToken(
      new OAuthToken({ userName: "ada@example.com", refreshToken: "1000.r" }),
    );
    const status: TokenStatus = {
      id: saved.id!,
      state: "failing",
      lastFailureAt: 1_800_000_000_000,
      lastError: "invalid_client",
      failures: 1,
    };
    calls.length = 0;
    await store.status.put(status);
    assertEquals(calls, [{
      kind: "commit",
      sets: [JSON.stringify([...PREFIX, "status", saved.id!])],
      deletes: [],
    }]);
    assertEquals(
      (await kv.get([...PREFIX, "status", saved.id!])).value,
      status,
    );
    calls.length = 0;
    assertEquals(await store.status.get(saved.id!), status);
    assertEquals(calls, [{ kind: "get" }]);
    calls.length = 0;
    assertEquals(await store.status.list(), [status]);
    assertEquals(calls, [{ kind: "list" }]);
    // the token's own entries are untouched
    assertEquals(
      (await store.findTokenById(saved.id!))?.toRecord(),
      saved.toRecord(),
    );
  } finally {
    kv.close();
  }
});

Deno.test("KvTokenStore status: deleting a token deletes its status in the same atomic operation, at no extra round trip", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const { kv: recorded, calls } = recording(kv);
    const store = new KvTokenStore({ kv: recorded, prefix: PREFIX });
    const tokens = await Promise.all(
      ["ada", "bob", "cy", "dan"].map((user) =>
        store.saveToken(
          new OAuthToken({
            userName: `${user}@example.com`,
            refreshToken: `1000.r-${user}`,
          }),
        )
      ),
    );
    for (const token of tokens) {
      await store.status.put({ id: token.id!, state: "ok", failures: 0 });
    }
    const statusKey = (id: string) => JSON.stringify([...PREFIX, "status", id]);
    const tokenKey = (id: string) => JSON.stringify([...PREFIX, "token", id]);

    calls.length = 0;
    assertEquals(await store.deleteToken(tokens[0].id!), true);
    const commits = calls.filter((call) => call.kind === "commit");
    assertEquals(commits.length, 1, JSON.stringify(calls));
    const [commit] = commits as Extract<Call, { kind: "commit" }>[];
    assert(commit.deletes.includes(tokenKey(tokens[0].id!)));
    assert(commit.deletes.includes(statusKey(tokens[0].id!)));
    // reads: the token with its status (one getMany), then its index entries
    assertEquals(
      calls.filter((call) => call.kind !== "commit").map((call) => call.kind),
      ["getMany", "getMany"],
    );
    assertEquals(await store.status.get(tokens[0].id!), null);

    // deleteTokens: each token's status in its token's atomic operation
    calls.length = 0;
    await store.deleteTokens();
    const batch = calls.find((call) =>
      call.kind === "commit" && call.deletes.includes(tokenKey(tokens[1].id!))
    ) as Extract<Call, { kind: "commit" }> | undefined;
    assert(batch, "the tokens were deleted");
    for (const token of tokens.slice(1)) {
      assert(batch.deletes.includes(tokenKey(token.id!)));
      assert(batch.deletes.includes(statusKey(token.id!)));
    }
    assertEquals(await store.status.list(), []);
    const left: Deno.KvKey[] = [];
    for await (const entry of kv.list({ prefix: PREFIX })) left.push(entry.key);
    assertEquals(left, []);
  } finally {
    kv.close();
  }
});

Deno.test("KvTokenStore status: a stored value that is not a status is CORRUPT, and left as it is", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvTokenStore({ kv, prefix: PREFIX });
    for (
      const value of [
        "ok",
        { id: "a1", state: "fine", failures: 0 },
        { id: "a1", state: "ok", failures: -1 },
        { id: "b2", state: "ok", failures: 0 }, // stored under another id
      ]
    ) {
      await kv.set([...PREFIX, "status", "a1"], value);
      for (
        const read of [() => store.status.get("a1"), () => store.status.list()]
      ) {
        const error = await assertRejects(read, TokenStoreError);
        assertEquals(error.code, "CORRUPT", error.message);
        assert(error.message.includes('"a1"'), error.message);
      }
      assertEquals((await kv.get([...PREFIX, "status", "a1"])).value, value);
    }
    // a put replaces it
    await store.status.put({ id: "a1", state: "ok", failures: 0 });
    assertEquals(await store.status.list(), [
      { id: "a1", state: "ok", failures: 0 },
    ]);
  } finally {
    kv.close();
  }
});
