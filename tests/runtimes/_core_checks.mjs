/**
 * The `./core` smoke, the same on every runtime: it imports the package the
 * way a user of that runtime does (`@tokenstore/tokenstore/core`, resolved by
 * the runtime or bundled) and uses only Web APIs itself.
 *
 * Each check resolves to `{ name, ok, detail }`; none throws.
 *
 * @module
 */

import {
  EncryptedTokenStore,
  generateEncryptionKey,
  MemoryTokenStore,
  OAuthToken,
  TokenClient,
  TokenStoreError,
} from "@tokenstore/tokenstore/core";
import { CLIENT_SECRET, REFRESH_TOKEN } from "./_constants.mjs";

/** How long one check may take before it counts as failed. */
export const CHECK_TIMEOUT_MS = 20_000;

/**
 * Runs `fn` as the check `name`, bounded by {@linkcode CHECK_TIMEOUT_MS}.
 *
 * @param {string} name
 * @param {() => Promise<string | void>} fn resolves with a detail, throws on failure
 */
export async function check(name, fn) {
  let timer;
  try {
    const detail = await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { name, ok: true, detail: detail ?? "" };
  } catch (error) {
    return { name, ok: false, detail: describe(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** An error as one line: class, code, message. */
export function describe(error) {
  if (error instanceof Error) {
    const code = /** @type {{ code?: unknown }} */ (error).code;
    return `${error.name}${code === undefined ? "" : `(${String(code)})`}: ${
      error.message.split("\n")[0]
    }`;
  }
  return String(error);
}

/** Throws when `ok` is false. */
export function expect(ok, message) {
  if (!ok) throw new Error(message);
}

/**
 * The core checks.
 *
 * @param {{ tokenUrl: string, tag: string, fetch?: typeof fetch }} options
 *   `tag` makes the client ids unique to this run (the endpoint counts per
 *   client id); `fetch` is the runtime's, by default the global one.
 * @returns {Promise<{ name: string, ok: boolean, detail: string }[]>}
 */
export async function coreChecks({ tokenUrl, tag, fetch: baseFetch }) {
  const globalFetch = baseFetch ?? ((input, init) => fetch(input, init));
  const results = [];

  results.push(
    await check("memory save/find", async () => {
      const store = new MemoryTokenStore();
      const saved = await store.saveToken(
        new OAuthToken({
          userName: "ada@example.com",
          clientId: "1000.C",
          refreshToken: "1000.r",
        }),
      );
      expect(
        typeof saved.id === "string" && saved.id.length <= 10,
        `bad id ${saved.id}`,
      );
      const found = await store.findToken({ userName: "ada@example.com" });
      expect(found?.id === saved.id, "findToken by userName missed");
      expect(
        (await store.findTokenById(saved.id))?.refreshToken === "1000.r",
        "findTokenById missed",
      );
      await store.saveToken(
        new OAuthToken({
          userName: "ada@example.com",
          refreshToken: "1000.r2",
        }),
      );
      expect((await store.getTokens()).length === 1, "upsert made two rows");
      let code;
      try {
        await store.findToken({});
      } catch (error) {
        code = error instanceof TokenStoreError ? error.code : String(error);
      }
      expect(code === "INVALID_QUERY", `empty query gave ${code}`);
      return `id ${saved.id}`;
    }),
  );

  results.push(
    await check("secrets redacted", () => {
      const token = new OAuthToken({
        userName: "ada@example.com",
        refreshToken: "1000.supersecretrefresh",
        accessToken: "1000.supersecretaccess",
      });
      const shown = JSON.stringify(token) + String(token);
      expect(!shown.includes("supersecret"), "a secret shows in JSON/String");
      return Promise.resolve();
    }),
  );

  results.push(
    await check("refresh: 3 concurrent callers, 1 request", async () => {
      const clientId = `1000.${tag}-single`;
      const store = new MemoryTokenStore();
      await store.saveToken(
        new OAuthToken({
          userName: "ada@example.com",
          clientId,
          refreshToken: REFRESH_TOKEN,
        }),
      );
      let requests = 0;
      const client = new TokenClient({
        store,
        clientId,
        clientSecret: CLIENT_SECRET,
        tokenUrl,
        fetch: (input, init) => {
          requests++;
          return globalFetch(input, init);
        },
      });
      const tokens = await Promise.all(
        [1, 2, 3].map(() =>
          client.getAccessToken({ userName: "ada@example.com" })
        ),
      );
      const want = `${clientId}.access-1`;
      expect(
        tokens.every((t) => t === want),
        `tokens ${JSON.stringify(tokens)}, want ${want} ×3`,
      );
      expect(requests === 1, `${requests} token requests, want 1`);
      const stored = await store.findToken({ userName: "ada@example.com" });
      expect(stored?.accessToken === want, "refreshed token not persisted");
      return `${requests} request`;
    }),
  );

  results.push(
    await check("refresh: 2 clients on 1 store, 1 request", async () => {
      const clientId = `1000.${tag}-shared`;
      const store = new MemoryTokenStore();
      await store.saveToken(
        new OAuthToken({
          userName: "ada@example.com",
          clientId,
          refreshToken: REFRESH_TOKEN,
        }),
      );
      let requests = 0;
      const options = {
        store,
        clientId,
        clientSecret: CLIENT_SECRET,
        tokenUrl,
        fetch: (input, init) => {
          requests++;
          return globalFetch(input, init);
        },
      };
      // Two clients (as two isolates would have): the second waits for the
      // first one's lease, then reads the refreshed token from the store.
      const a = new TokenClient(options);
      const b = new TokenClient(options);
      const tokens = await Promise.all([
        a.getAccessToken({ userName: "ada@example.com" }),
        b.getAccessToken({ userName: "ada@example.com" }),
      ]);
      expect(
        tokens[0] === tokens[1],
        `clients got different tokens ${JSON.stringify(tokens)}`,
      );
      expect(requests === 1, `${requests} token requests, want 1`);
      return `${requests} request`;
    }),
  );

  results.push(
    await check("EncryptedTokenStore round trip", async () => {
      const inner = new MemoryTokenStore();
      const store = new EncryptedTokenStore(inner, {
        keys: [generateEncryptionKey()],
      });
      const saved = await store.saveToken(
        new OAuthToken({
          userName: "ada@example.com",
          refreshToken: "1000.plain-refresh",
          accessToken: "1000.plain-access",
        }),
      );
      const raw = await inner.findTokenById(saved.id ?? "");
      expect(
        raw?.refreshToken?.startsWith("enc1:") === true &&
          !raw.refreshToken.includes("plain"),
        "the inner store holds the refresh token unencrypted",
      );
      const found = await store.findToken({ userName: "ada@example.com" });
      expect(
        found?.refreshToken === "1000.plain-refresh" &&
          found.accessToken === "1000.plain-access",
        "decrypted token differs",
      );
      return "enc1: at rest";
    }),
  );

  return results;
}
