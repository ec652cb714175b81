/**
 * TokenClient error handling against the fixture token server: Zoho's and
 * RFC 6749's errors, rate limits, retries with backoff, timeouts, malformed
 * bodies, and that no secret ever shows in an error.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  OAuthError,
  RateLimitError,
  TokenRevokedError,
} from "../core/errors.ts";
import { DEFAULT_CLIENT } from "./fixtures/token_server.ts";
import { setup, START, USER } from "./fixtures/client_setup.ts";

Deno.test("Zoho HTTP-200 errors and RFC 6749 400/401 errors become OAuthError subclasses, never retried", async () => {
  {
    await using s = await setup({ mode: "zoho" }, {
      retry: { maxAttempts: 5 },
    });
    await s.seed({ refreshToken: "1000.unknown-refresh-token" });
    const error = await assertRejects(
      () => s.client.getAccessToken({ userName: USER }),
      TokenRevokedError,
    );
    assertEquals([error.code, error.status], ["invalid_code", 200]);
    const wrong = s.clientWith({ clientSecret: "wrong-client-secret" });
    await s.seed();
    const denied = await assertRejects(
      () => wrong.getAccessToken({ userName: USER }),
      OAuthError,
    );
    assertEquals([denied.name, denied.code, denied.status], [
      "OAuthError",
      "invalid_client",
      200,
    ]);
    assertEquals(s.server.stats().refreshToken, 2);
    assertEquals(s.sleeps, []);
  }
  {
    await using s = await setup({ mode: "standard" }, {
      retry: { maxAttempts: 5 },
    });
    await s.seed({ refreshToken: "1000.unknown-refresh-token" });
    const error = await assertRejects(
      () => s.client.getAccessToken({ userName: USER }),
      TokenRevokedError,
    );
    assertEquals([error.code, error.status], ["invalid_grant", 400]);
    await s.seed();
    const wrong = s.clientWith({ clientSecret: "wrong-client-secret" });
    const denied = await assertRejects(
      () => wrong.getAccessToken({ userName: USER }),
      OAuthError,
    );
    assertEquals([denied.name, denied.code, denied.status], [
      "OAuthError",
      "invalid_client",
      401,
    ]);
    assertEquals(s.server.stats().refreshToken, 2);
    assertEquals(s.sleeps, []);
  }
});

Deno.test("Zoho's Access Denied beyond 10 tokens in 10 minutes is a RateLimitError, retried to the bound, lifted after the window", async () => {
  await using s = await setup({}, { retry: { maxAttempts: 3 } });
  await s.seed();
  for (let i = 0; i < 10; i++) {
    await s.client.refresh({ userName: USER });
    s.clock.now += 1000;
  }
  const error = await assertRejects(
    () => s.client.refresh({ userName: USER }),
    RateLimitError,
  );
  assertEquals(error.code, "access_denied");
  assertEquals(error.status, 200);
  assert(error.description?.includes("too many requests"));
  assertEquals(s.server.stats().refreshToken, 13);
  assertEquals(s.sleeps.length, 2);
  s.clock.now = START + 600_000;
  await s.client.refresh({ userName: USER });
  assertEquals(s.server.stats().issued, 11);
});

Deno.test("HTTP 429 Retry-After in seconds or as an HTTP date is waited for; a longer one than maxDelayMs is not", async () => {
  await using s = await setup({ mode: "standard" }, {
    retry: { maxDelayMs: 10_000 },
  });
  await s.seed();
  s.server.setFailures([{ status: 429, retryAfter: "2" }]);
  await s.client.refresh({ userName: USER });
  assertEquals(s.sleeps.length, 1);
  assert(
    s.sleeps[0] >= 2000 && s.sleeps[0] <= 10_000,
    `waited ${s.sleeps[0]} ms`,
  );

  const date = new Date(START + 5000).toUTCString();
  s.server.setFailures([{ status: 429, retryAfter: date }]);
  await s.client.refresh({ userName: USER });
  assert(s.sleeps[1] >= 5000, `waited ${s.sleeps[1]} ms for ${date}`);

  s.server.setFailures([{ status: 429, retryAfter: "3600" }]);
  const error = await assertRejects(
    () => s.client.refresh({ userName: USER }),
    RateLimitError,
  );
  assertEquals([error.status, error.retryAfterMs], [429, 3_600_000]);
  assertEquals(s.sleeps.length, 2);
  assertEquals(s.server.stats().refreshToken, 5);
});

Deno.test("network errors and 5xx are retried with capped exponential backoff; retries stop at the bound (server that does not rotate)", async () => {
  await using s = await setup({}, {
    retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 250 },
    rotation: false,
  });
  await s.seed();
  s.server.setFailures([{ status: 500 }, "drop", { status: 503 }]);
  const token = await s.client.refresh({ userName: USER });
  assert(s.server.isValid(token.accessToken!));
  assertEquals(s.server.stats().refreshToken, 4);
  assertEquals(s.sleeps.length, 3);
  const caps = [100, 200, 250];
  s.sleeps.forEach((ms, i) =>
    assert(ms >= 0 && ms < caps[i], `wait ${i + 1} was ${ms} ms`)
  );

  s.server.setFailures(Array(5).fill({ status: 502 }));
  const error = await assertRejects(
    () => s.client.refresh({ userName: USER }),
    OAuthError,
  );
  assertEquals([error.code, error.status], ["server_error", 502]);
  assertEquals(s.server.stats().refreshToken, 8);
  assertEquals(s.sleeps.length, 6);

  s.server.setFailures(Array(4).fill("drop"));
  const dropped = await assertRejects(
    () => s.client.refresh({ userName: USER }),
    OAuthError,
  );
  assertEquals(dropped.code, "network_error");
  assertEquals(s.server.stats().refreshToken, 12);
});

Deno.test("a garbage or HTML body is a clear invalid_response error, not retried", async () => {
  await using s = await setup();
  await s.seed();
  s.server.setFailures(["garbage"]);
  const garbage = await assertRejects(
    () => s.client.refresh({ userName: USER }),
    OAuthError,
  );
  assertEquals([garbage.code, garbage.status], ["invalid_response", 200]);
  assert(garbage.message.includes('"application/json"'), garbage.message);
  s.server.setFailures(["html"]);
  const html = await assertRejects(
    () => s.client.refresh({ userName: USER }),
    OAuthError,
  );
  assertEquals(html.code, "invalid_response");
  assert(html.message.includes('"text/html"'), html.message);
  assertEquals(s.server.stats().refreshToken, 2);
  assertEquals(s.sleeps, []);
  await s.client.refresh({ userName: USER });
});

Deno.test("a request slower than requestTimeoutMs is aborted and retried up to the bound (server that does not rotate)", async () => {
  await using s = await setup({ latencyMs: 400 }, {
    requestTimeoutMs: 50,
    retry: { maxAttempts: 2 },
    rotation: false,
  });
  await s.seed();
  const started = Date.now();
  const error = await assertRejects(
    () => s.client.refresh({ userName: USER }),
    OAuthError,
  );
  assertEquals(error.code, "timeout");
  assert(Date.now() - started < 400, `took ${Date.now() - started} ms`);
  assertEquals(s.server.stats().refreshToken, 2);
  s.server.setLatency(0);
});

Deno.test("no secret appears in any error message, description, inspection or cause", async () => {
  await using s = await setup({ mode: "standard" }, {
    retry: { maxAttempts: 1 },
  });
  const stored = await s.seed({
    accessToken: "1000.expired-access-token-value",
    expiresAt: START - 1,
  });
  const code = s.server.issueGrantCode();
  const secrets = [
    DEFAULT_CLIENT.clientSecret,
    stored.refreshToken!,
    stored.accessToken!,
    code,
  ];
  const echo = JSON.stringify({
    error: "invalid_request",
    error_description:
      `Bad ${stored.refreshToken} for ${DEFAULT_CLIENT.clientSecret} (${code})`,
  });
  const errors: unknown[] = [];
  const attempt = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      errors.push(new Error("expected a failure"));
    } catch (error) {
      errors.push(error);
    }
  };
  const query = { userName: USER };
  s.server.setFailures([{
    status: 400,
    body: echo.replace("invalid_request", "invalid_grant"),
  }]);
  await attempt(() => s.client.getAccessToken(query));
  for (
    const failure of [
      { status: 400, body: echo },
      { status: 500, body: echo },
      "drop",
      "garbage",
      "html",
      { status: 429 },
    ] as const
  ) {
    s.server.setFailures([failure]);
    await attempt(() => s.client.getAccessToken(query));
    s.server.setFailures([failure]);
    await attempt(() => s.client.exchangeGrantToken(code));
    s.server.setFailures([failure]);
    await attempt(() => s.client.revoke(query));
  }
  await attempt(() =>
    s.clientWith({ clientSecret: "another-client-secret" }).getAccessToken(
      query,
    )
  );
  await attempt(() =>
    s.client.getToken({
      refreshToken: stored.refreshToken,
      userName: "x@example.com",
    })
  );
  await attempt(() =>
    s.clientWith({ tokenUrl: "http://127.0.0.1:9/token" }).getAccessToken(query)
  );
  await attempt(() => s.client.exchangeGrantToken(`${code}0`));
  const lines: string[] = [];
  for (const caught of errors) {
    let error: unknown = caught;
    while (error !== undefined) {
      lines.push(
        String(error),
        Deno.inspect(error),
        JSON.stringify(error) ?? "",
      );
      if (error instanceof OAuthError) lines.push(error.description ?? "");
      error = error instanceof Error ? error.cause : undefined;
    }
  }
  assertEquals(
    errors.filter((e) =>
      !(e instanceof Error) || e.message === "expected a failure"
    ),
    [],
  );
  const text = lines.join("\n");
  for (const secret of secrets) {
    assert(
      !text.includes(secret),
      `a secret appeared in:\n${lines.find((l) => l.includes(secret))}`,
    );
  }
  assert(
    text.includes("(redacted)"),
    "the echoed secrets should show redacted",
  );
});
