/**
 * The file store (JSON and Zoho CSV) when its directory turns read-only or
 * its disk fills up, directly and through the refresh client. Tests run as
 * root, which ignores permission bits: there the directory is a tmpfs
 * remounted read-only; elsewhere it is a directory with mode 0500.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import { FileTokenStore } from "../stores/file.ts";
import { CAN_MOUNT, mountTmpfs } from "./fixtures/tmpfs.ts";
import {
  assertSecretFree,
  renderError,
  secretsOf,
} from "./fixtures/secret_scan.ts";
import { DEFAULT_CLIENT, startTokenServer } from "./fixtures/token_server.ts";

const FORMATS = ["json", "zoho-csv"] as const;

/** A directory that can be made read-only for real, even for root. */
async function readOnlyCapableDir(): Promise<
  { path: string; readOnly(on: boolean): Promise<void> } & AsyncDisposable
> {
  if (CAN_MOUNT) return await mountTmpfs(256);
  const path = await Deno.makeTempDir({ prefix: "tokenstore_ro_" });
  return {
    path,
    readOnly: (on) => Deno.chmod(path, on ? 0o500 : 0o700),
    async [Symbol.asyncDispose]() {
      await Deno.chmod(path, 0o700);
      await Deno.remove(path, { recursive: true });
    },
  };
}

function tok(user: string, extra = ""): OAuthToken {
  return new OAuthToken({
    userName: `${user}@example.com`,
    clientId: "1000.FILEFAULT",
    clientSecret: `file-fault-client-secret-${user}${extra}`,
    refreshToken: `1000.file-fault-refresh-${user}${extra}`,
    accessToken: `1000.file-fault-access-${user}${extra}`,
    expiresAt: 1_800_000_000_000,
  });
}

const byUser = (tokens: OAuthToken[]) =>
  tokens.map((t) => t.toRecord()).sort((a, b) =>
    a.userName! < b.userName! ? -1 : 1
  );

async function expectBackend(
  call: () => Promise<unknown>,
  path: string,
  secrets: string[],
  name: string,
): Promise<TokenStoreError> {
  const error = await assertRejects(call, TokenStoreError);
  assertEquals(error.code, "BACKEND", `${name}: ${error.message}`);
  assert(error.message.includes(path), error.message);
  assertSecretFree(renderError(error), secrets, name);
  return error;
}

for (const format of FORMATS) {
  Deno.test(`FileTokenStore ${format} in a read-only directory: BACKEND on every write, reads and the file intact, writes work again once writable`, async () => {
    await using dir = await readOnlyCapableDir();
    const path = `${dir.path}/tokens.${format === "json" ? "json" : "txt"}`;
    const store = new FileTokenStore({ path, format });
    const seeded = [
      await store.saveToken(tok("ada")),
      await store.saveToken(tok("bob")),
    ];
    const before = await Deno.readFile(path);
    const secrets = seeded.flatMap(secretsOf);
    await dir.readOnly(true);
    try {
      const calls: [string, () => Promise<unknown>][] = [
        [
          "update",
          () => store.saveToken(seeded[0].with(tok("ada", "-new").toRecord())),
        ],
        ["insert", () => store.saveToken(tok("cyd"))],
        ["deleteToken", () => store.deleteToken(seeded[1].id!)],
        ["deleteTokens", () => store.deleteTokens()],
        [
          "lock.acquire",
          () => store.lock.acquire("refresh:x", { ttlMs: 1000 }),
        ],
      ];
      for (const [name, call] of calls) {
        await expectBackend(
          call,
          dir.path,
          [
            ...secrets,
            ...secretsOf(tok("ada", "-new")),
            ...secretsOf(tok("cyd")),
          ],
          name,
        );
      }
      // readers are not affected, and the file is byte for byte the same
      assertEquals(byUser(await store.getTokens()), byUser(seeded));
      const fresh = new FileTokenStore({ path, format });
      assertEquals(
        (await fresh.findToken({ userName: "bob@example.com" }))?.toRecord(),
        seeded[1].toRecord(),
      );
      assertEquals(await Deno.readFile(path), before);
    } finally {
      await dir.readOnly(false);
    }
    const updated = await store.saveToken(
      seeded[0].with(tok("ada", "-new").toRecord()),
    );
    assertEquals(updated.id, seeded[0].id);
    assertEquals((await store.getTokens()).length, 2);
    assertEquals(
      (await new FileTokenStore({ path, format }).findTokenById(
        seeded[0].id!,
      ))?.refreshToken,
      tok("ada", "-new").refreshToken,
    );
  });
}

Deno.test("TokenClient over a read-only file store fails with BACKEND before spending the refresh token, and refreshes once writable", async () => {
  await using dir = await readOnlyCapableDir();
  await using server = await startTokenServer();
  const path = `${dir.path}/tokens.json`;
  const store = new FileTokenStore({ path });
  const stored = await store.saveToken(
    new OAuthToken({
      userName: "ada@example.com",
      refreshToken: server.issueRefreshToken({ userName: "ada@example.com" }),
      accessToken: "1000.file-fault-expired-access-token",
      expiresAt: Date.now() - 1000,
    }),
  );
  const client = new TokenClient({
    store,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: DEFAULT_CLIENT.clientSecret,
    tokenUrl: server.url,
  });
  const before = await Deno.readFile(path);
  await dir.readOnly(true);
  try {
    await expectBackend(
      () => client.getAccessToken({ userName: "ada@example.com" }),
      dir.path,
      [...secretsOf(stored), DEFAULT_CLIENT.clientSecret],
      "getAccessToken",
    );
    assertEquals(server.stats().token, 0);
    assertEquals(await Deno.readFile(path), before);
  } finally {
    await dir.readOnly(false);
  }
  const accessToken = await client.getAccessToken({
    userName: "ada@example.com",
  });
  assert(server.isValid(accessToken));
  assertEquals(server.stats().refreshToken, 1);
  assertEquals(
    (await new FileTokenStore({ path }).findTokenById(stored.id!))
      ?.accessToken,
    accessToken,
  );
});

if (!CAN_MOUNT) {
  console.log(
    "Notice: not root, so tests/faults_file_test.ts cannot mount a tmpfs: the disk-full tests are not registered",
  );
} else {
  for (const format of FORMATS) {
    Deno.test(`FileTokenStore ${format} on a full disk: BACKEND, the old file intact and no partial copy left, the next save after space is freed succeeds`, async () => {
      await using disk = await mountTmpfs(256);
      const path = `${disk.path}/tokens.${format === "json" ? "json" : "txt"}`;
      const store = new FileTokenStore({ path, format });
      const seeded = [
        await store.saveToken(tok("ada")),
        await store.saveToken(tok("bob")),
      ];
      const before = await Deno.readFile(path);
      // room for a part of the next file, not all of it
      await disk.fill(4096);
      const big = new OAuthToken({
        userName: "big@example.com",
        clientSecret: `file-fault-big-secret-${"s".repeat(4000)}`,
        refreshToken: `1000.file-fault-big-refresh-${"r".repeat(4000)}`,
        accessToken: `1000.file-fault-big-access-${"a".repeat(4000)}`,
      });
      const secrets = [...seeded.flatMap(secretsOf), ...secretsOf(big)];
      for (let attempt = 0; attempt < 3; attempt++) {
        const error = await expectBackend(
          () => store.saveToken(big),
          disk.path,
          secrets,
          "saveToken",
        );
        assert(/no space left/i.test(error.message), error.message);
        assertEquals(await Deno.readFile(path), before);
        // no half-written copy (holding secrets and the last free blocks)
        const names = [];
        for await (const entry of Deno.readDir(disk.path)) {
          names.push(entry.name);
        }
        assertEquals(
          names.filter((name) => name.endsWith(".tmp")),
          [],
          "a partial temp file was left",
        );
      }
      assertEquals(byUser(await store.getTokens()), byUser(seeded));
      assertEquals(
        byUser(await new FileTokenStore({ path, format }).getTokens()),
        byUser(seeded),
      );

      await disk.free();
      const saved = await store.saveToken(big);
      assertEquals(
        (await new FileTokenStore({ path, format }).findToken({
          userName: "big@example.com",
        }))?.toRecord(),
        saved.toRecord(),
      );
      assertEquals((await store.getTokens()).length, 3);
    });
  }
}
