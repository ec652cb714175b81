/**
 * `tokenstore connect` in a real subprocess: it prints the authorization
 * URL, the consent happens at the fixture's authorization endpoint, the
 * provider's redirect reaches the command's loopback port, and the token is
 * stored; a forged callback on that port stores nothing and fails with 1.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { join } from "@std/path";
import { openStore } from "../stores/open_store.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";

const root = new URL("../", import.meta.url);

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Runs `connect` against `server`; resolves once it printed the authorization URL. */
async function spawnConnect(
  server: { origin: string; url: string },
  redirect: string,
  store: string,
  extra: string[] = [],
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "cli.ts",
      "connect",
      "--user",
      "ada@example.com",
      "--client-id",
      DEFAULT_CLIENT.clientId,
      "--client-secret",
      DEFAULT_CLIENT.clientSecret,
      "--authorize-url",
      `${server.origin}/oauth/v2/auth`,
      "--token-url",
      server.url,
      "--redirect-url",
      redirect,
      "--store",
      store,
      ...extra,
    ],
    cwd: root,
    env: { TOKEN_STORE_URL: "", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/\nhttp\S+\n/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`connect exited: ${out} ${await stderr}`);
    out += value;
  }
  const url = new URL(out.match(/\n(http\S+)\n/)![1]);
  /** The rest of stdout, the exit code and stderr, once it exits. */
  const finish = async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    return { code: (await child.status).code, out, stderr: await stderr };
  };
  return { url, finish };
}

Deno.test("cli connect: prints the URL, takes the callback on the loopback port, stores the token", async () => {
  await using server = await startTokenServer({ mode: "standard" });
  const redirect = `http://127.0.0.1:${freePort()}/callback`;
  server.registerClient({ ...DEFAULT_CLIENT, redirectUrl: redirect });
  const dir = await Deno.makeTempDir();
  const store = `kv:${join(dir, "tokens.db")}`;
  try {
    const { url, finish } = await spawnConnect(server, redirect, store, [
      "--scope",
      "openid,email",
    ]);
    assertEquals(url.searchParams.get("code_challenge_method"), "S256");
    assertEquals(url.searchParams.get("redirect_uri"), redirect);
    const callback = await server.approve(url, { user: "ada@example.com" });
    const page = await fetch(callback);
    assertEquals(page.status, 200);
    assertMatch(await page.text(), /Connected/);
    const { code, out, stderr: errors } = await finish();
    assertEquals(code, 0, errors);
    assertMatch(
      out,
      /Stored token "[A-Za-z0-9_-]{1,10}" for "ada@example\.com"/,
    );
    for (const secret of [DEFAULT_CLIENT.clientSecret]) {
      assert(!(out + errors).includes(secret));
    }
    const opened = await openStore(store);
    const tokens = await opened.getTokens();
    await opened.close?.();
    assertEquals(tokens.map((t) => [t.userName, t.redirectUrl]), [[
      "ada@example.com",
      redirect,
    ]]);
    assertEquals(server.stats().authorizationCode, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli connect: a forged callback on its port stores nothing and fails with 1", async () => {
  await using server = await startTokenServer({ mode: "standard" });
  const redirect = `http://127.0.0.1:${freePort()}/callback`;
  const dir = await Deno.makeTempDir();
  const store = `kv:${join(dir, "tokens.db")}`;
  try {
    const { finish } = await spawnConnect(server, redirect, store);
    // an attacker's code and state sent to the command's port
    const forged = await fetch(`${redirect}?code=1000.stolen&state=guessed`);
    assertEquals(forged.status, 400);
    assertMatch(await forged.text(), /invalid_state/);
    const { code, stderr } = await finish();
    assertEquals(code, 1);
    assertMatch(stderr, /invalid_state/);
    assertEquals(server.stats().token, 0);
    const opened = await openStore(store);
    assertEquals(await opened.getTokens(), []);
    await opened.close?.();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
