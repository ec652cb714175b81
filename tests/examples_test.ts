import { assert, assertEquals } from "@std/assert";

const root = new URL("../", import.meta.url);

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

Deno.test("examples/quickstart.ts runs and prints only redacted secrets", async () => {
  const { code, stdout, stderr } = await runExample("examples/quickstart.ts");
  assertEquals(code, 0, stderr);
  assert(stdout.includes("ada@example.com"), stdout);
  assert(stdout.includes("redacted"), stdout);
  for (
    const secret of [
      "quickstart-client-secret",
      "quickstart-refresh-token",
      "quickstart-access-token",
      "quickstart-grant-token",
    ]
  ) {
    assert(
      !stdout.includes(secret) && !stderr.includes(secret),
      `${secret} printed`,
    );
  }
});
