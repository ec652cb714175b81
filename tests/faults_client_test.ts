/**
 * The refresh client when the token endpoint fails, over every persistent
 * store: an endpoint that times out, answers 500, drops the connection,
 * answers HTML or garbage, or refuses connections. Each gives its
 * OAuthError after bounded retries shared by every concurrent caller,
 * leaves the stored token exactly as it was and the refresh lease free, and
 * the next call after the endpoint recovers refreshes and persists.
 */

import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertNotEquals,
} from "@std/assert";
import { OAuthError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStore } from "../core/token_store.ts";
import { FileTokenStore } from "../stores/file.ts";
import { KvTokenStore } from "../stores/kv.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import { FaultProxy } from "./fixtures/fault_proxy.ts";
import {
  assertSecretFree,
  renderError,
  secretsOf,
} from "./fixtures/secret_scan.ts";
import {
  DEFAULT_CLIENT,
  startTokenServer,
  type TokenServer,
  type TokenServerFailure,
} from "./fixtures/token_server.ts";

const USER = "ada@example.com";
const ATTEMPTS = 3;
const CALLERS = 10;

const STORES: [string, (dir: string) => Promise<TokenStore>][] = [
  ["memory", () => Promise.resolve(new MemoryTokenStore())],
  ["kv", (dir) => KvTokenStore.open({ path: `${dir}/tokens.db` })],
  [
    "file",
    (dir) => Promise.resolve(new FileTokenStore({ path: `${dir}/t.json` })),
  ],
  ["libsql", (dir) => LibsqlTokenStore.open({ url: `file:${dir}/l.db` })],
];

interface Fault {
  name: string;
  /** Injects the fault. */
  start(server: TokenServer, proxy: FaultProxy): Promise<void> | void;
  /** Lifts it. */
  stop(server: TokenServer, proxy: FaultProxy): Promise<void> | void;
  code: string;
  status?: number;
  /** Requests that reach the server (refused connections do not). */
  requests: number;
}

const FAULTS: Fault[] = [
  {
    name: "answers 500",
    start: (server) =>
      server.setFailures(Array(ATTEMPTS).fill({ status: 500 })),
    stop: (server) => server.setFailures([]),
    code: "server_error",
    status: 500,
    requests: ATTEMPTS,
  },
  {
    name: "drops the connection",
    start: (server) =>
      server.setFailures(Array<TokenServerFailure>(ATTEMPTS).fill("drop")),
    stop: (server) => server.setFailures([]),
    code: "network_error",
    requests: ATTEMPTS,
  },
  {
    name: "times out",
    start: (server) => server.setLatency(2000),
    stop: (server) => server.setLatency(0),
    code: "timeout",
    requests: ATTEMPTS,
  },
  {
    name: "answers HTML",
    start: (server) => server.setFailures(["html"]),
    stop: (server) => server.setFailures([]),
    code: "invalid_response",
    status: 200,
    requests: 1,
  },
  {
    name: "answers garbage",
    start: (server) => server.setFailures(["garbage"]),
    stop: (server) => server.setFailures([]),
    code: "invalid_response",
    status: 200,
    requests: 1,
  },
  {
    name: "refuses connections",
    start: (_, proxy) => proxy.stop(),
    stop: (_, proxy) => proxy.start(),
    code: "network_error",
    requests: 0,
  },
];

for (const [kind, open] of STORES) {
  Deno.test(`TokenClient over the ${kind} store: a token endpoint that times out, answers 500, drops, answers HTML or garbage, or refuses gives its OAuthError, keeps the stored token, and the next call refreshes`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "tokenstore_client_faults_" });
    // no rate limit: requests the client gave up on may still be answered
    await using server = await startTokenServer({ rateLimit: false });
    await using proxy = new FaultProxy(Number(new URL(server.url).port));
    proxy.start();
    const store = await open(dir);
    try {
      const client = new TokenClient({
        store,
        clientId: DEFAULT_CLIENT.clientId,
        clientSecret: DEFAULT_CLIENT.clientSecret,
        tokenUrl: `http://127.0.0.1:${proxy.port}/oauth/v2/token`,
        requestTimeoutMs: 400,
        retry: { maxAttempts: ATTEMPTS, baseDelayMs: 5, maxDelayMs: 20 },
        // each round expires the stored token behind the client's back
        cache: false,
      });
      let stored = await store.saveToken(
        new OAuthToken({
          userName: USER,
          refreshToken: server.issueRefreshToken({ userName: USER }),
          accessToken: "1000.client-fault-expired-access-token",
          expiresAt: Date.now() - 1000,
        }),
      );
      const secrets = [DEFAULT_CLIENT.clientSecret, ...secretsOf(stored)];
      for (const fault of FAULTS) {
        const before = stored.toRecord();
        const requests = server.stats().token;
        await fault.start(server, proxy);
        const started = Date.now();
        const results = await Promise.allSettled(
          Array.from(
            { length: CALLERS },
            () => client.getAccessToken({ userName: USER }),
          ),
        );
        assert(Date.now() - started < 5000, `${fault.name}: not bounded`);
        for (const result of results) {
          assertEquals(result.status, "rejected", fault.name);
          const error = (result as PromiseRejectedResult).reason;
          assertInstanceOf(error, OAuthError, fault.name);
          assertEquals(
            error.code,
            fault.code,
            `${fault.name}: ${error.message}`,
          );
          if (fault.status !== undefined) {
            assertEquals(error.status, fault.status, fault.name);
          }
          assertSecretFree(renderError(error), secrets, fault.name);
        }
        // one flight for every caller, bounded retries
        assertEquals(
          server.stats().token - requests,
          fault.requests,
          `${fault.name}: requests`,
        );
        // the stored token is exactly as it was, and its lease is free
        assertEquals(
          (await store.findTokenById(stored.id!))?.toRecord(),
          before,
          fault.name,
        );
        const lease = await store.lock!.acquire(`refresh:${stored.id}`, {
          ttlMs: 1000,
        });
        assert(lease !== null, `${fault.name}: the refresh lease was kept`);
        await lease.release();

        // the endpoint recovers: the next call refreshes once and persists
        await fault.stop(server, proxy);
        const issued = server.stats().refreshToken;
        const accessToken = await client.getAccessToken({ userName: USER });
        assert(server.isValid(accessToken), fault.name);
        assertEquals(server.stats().refreshToken, issued + 1, fault.name);
        assertNotEquals(accessToken, before.accessToken);
        const refreshed = (await store.findTokenById(stored.id!))!;
        assertEquals(refreshed.accessToken, accessToken);
        assertEquals(refreshed.refreshToken, before.refreshToken);
        assert(refreshed.expiresAt! > Date.now() + 60_000);
        // expire it again for the next fault
        stored = await store.saveToken(
          refreshed.with({ expiresAt: Date.now() - 1000 }),
        );
        secrets.push(accessToken);
      }
      assertEquals((await store.getTokens()).length, 1);
      await client.flush(); // status records land before the store closes
    } finally {
      await store.close?.();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
