import { assert, assertEquals } from "@std/assert";

const root = new URL("../", import.meta.url);

const FIXTURE_SECRETS = [
  "fixture-client-secret-0123456789abcdef",
  "quickstart-client-secret",
];

/** No client secret and no full Zoho-shaped token (1000.<hex>) is printed. */
function assertNoSecrets(output: string): void {
  for (const secret of FIXTURE_SECRETS) {
    assert(!output.includes(secret), `secret printed: ${secret}`);
  }
  const token = output.match(/1000\.[0-9a-f]{16,}/);
  assert(token === null, `token printed: ${token?.[0].slice(0, 12)}…`);
}

async function runExample(
  path: string,
  options: { env?: Record<string, string>; args?: string[] } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path, ...(options.args ?? [])],
    cwd: root,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("examples/quickstart.ts exchanges, lists redacted tokens and refreshes at expiry", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { code, stdout, stderr } = await runExample(
      "examples/quickstart.ts",
      {
        env: { QUICKSTART_KV: `${dir}/tokens.db` },
      },
    );
    assertEquals(code, 0, stderr);
    assert(stdout.includes(`${dir}/tokens.db`), stdout);
    assert(
      stdout.includes("Exchanged a grant token for ada@example.com"),
      stdout,
    );
    assert(stdout.includes("grace@example.com"), stdout);
    assert(
      stdout.includes("so the client refreshed it: new access token"),
      stdout,
    );
    assert(
      stdout.includes("Token endpoint requests: 1 grant exchange, 1 refresh"),
      stdout,
    );
    assert(stdout.includes("redacted"), stdout);
    assertNoSecrets(stdout + stderr);
    // the tokens really are in the KV file the example names
    const kv = await Deno.openKv(`${dir}/tokens.db`);
    let records = 0;
    for await (const _ of kv.list({ prefix: ["tokenstore", "token"] })) {
      records++;
    }
    kv.close();
    assertEquals(records, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
