import { assert, assertEquals } from "@std/assert";

Deno.test("importing mod.ts loads no npm driver and exports every store", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-npm", "--no-prompt", "tests/fixtures/import_mod.ts"],
    cwd: new URL("../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 0, stderr);
  const names: string[] = JSON.parse(new TextDecoder().decode(output.stdout));
  for (
    const name of [
      "OAuthToken",
      "TokenStoreError",
      "OAuthError",
      "RateLimitError",
      "TokenRevokedError",
      "MemoryTokenStore",
      "KvTokenStore",
      "LibsqlTokenStore",
      "FileTokenStore",
      "MysqlTokenStore",
      "PostgresTokenStore",
      "RedisTokenStore",
      "SqlTokenStore",
      "TokenClient",
      "EncryptedTokenStore",
      "openStore",
      "planQuery",
    ]
  ) {
    assert(names.includes(name), `mod.ts does not export ${name}`);
  }
});
