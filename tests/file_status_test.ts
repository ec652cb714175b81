/**
 * The file store's statuses (design "Health", "Storage layouts"): kept in
 * `<file>.status.json` beside a JSON or Zoho CSV token file, mode 0600,
 * replaced atomically under the store's lock file; a status file that
 * cannot be parsed is `CORRUPT` and left exactly as it is; the Zoho CSV
 * keeps the SDKs' layout byte for byte.
 *
 * @module
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import type { TokenStatus } from "../core/token_status.ts";
import { FileTokenStore } from "../stores/file.ts";
import { withFileLock } from "../stores/_file/lock_file.ts";
import { tempDir } from "./fixtures/file_helpers.ts";
import type { StoreSpec } from "./fixtures/store_specs.ts";

const FORMATS = ["json", "zoho-csv"] as const;
const HEADER =
  "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain";

function user(name: string): OAuthToken {
  return new OAuthToken({
    userName: `${name}@example.com`,
    clientId: "1000.CLIENT",
    refreshToken: `1000.status-refresh-${name}`,
  });
}

function ok(id: string, failures = 0): TokenStatus {
  return { id, state: failures === 0 ? "ok" : "failing", failures };
}

async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

for (const format of FORMATS) {
  Deno.test(`FileTokenStore ${format}: statuses live in <file>.status.json, mode 0600, replaced atomically`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "tokens", "sdk_tokens.txt");
    const statusFile = `${path}.status.json`;
    const store = new FileTokenStore({ path, format });
    // nothing is created until a status is written
    assertEquals(await store.status.list(), []);
    await store.status.delete("a1");
    await store.deleteTokens();
    assertEquals(await exists(statusFile), false);
    const ada = await store.saveToken(user("ada"));
    assertEquals(await exists(statusFile), false, "a token save writes none");
    await store.status.put(ok(ada.id!));
    assertEquals(await mode(statusFile), 0o600);
    assertEquals(JSON.parse(await Deno.readTextFile(statusFile)), {
      version: 1,
      statuses: { [ada.id!]: ok(ada.id!) },
    });
    // a file left with looser permissions is replaced by a 0600 one
    await Deno.chmod(statusFile, 0o644);
    await store.status.put(ok(ada.id!, 1));
    assertEquals(await mode(statusFile), 0o600);
    // replaced by rename (a new inode), no temp file left behind
    const before = (await Deno.stat(statusFile)).ino;
    await store.status.put(ok(ada.id!, 2));
    assert((await Deno.stat(statusFile)).ino !== before, "not replaced");
    assertEquals(await exists(`${statusFile}.tmp`), false);
    const names = [...Deno.readDirSync(join(dir.path, "tokens"))]
      .map((entry) => entry.name).sort();
    assertEquals(
      names.filter((name) => name.includes("status")),
      ["sdk_tokens.txt.status.json"],
    );
    // another store on the same file sees it at once
    const other = new FileTokenStore({ path, format });
    assertEquals(await other.status.get(ada.id!), ok(ada.id!, 2));
    // 50 concurrent puts from two stores: none lost
    const tokens = await Promise.all(
      Array.from({ length: 25 }, (_, i) => store.saveToken(user(`u${i}`))),
    );
    await Promise.all(
      tokens.flatMap((t, i) => [
        (i % 2 ? store : other).status.put(ok(t.id!, i + 1)),
      ]),
    );
    const listed = await store.status.list();
    assertEquals(listed.length, 26);
    for (const [i, t] of tokens.entries()) {
      assertEquals(await other.status.get(t.id!), ok(t.id!, i + 1));
    }
  });

  Deno.test(`FileTokenStore ${format}: a status file that cannot be parsed is CORRUPT and never overwritten`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "sdk_tokens.txt");
    const statusFile = `${path}.status.json`;
    const store = new FileTokenStore({ path, format });
    const ada = await store.saveToken(user("ada"));
    const bob = await store.saveToken(user("bob"));
    const tokenText = await Deno.readTextFile(path);
    const broken = [
      "",
      "{ not json",
      "[]",
      JSON.stringify({ version: 2, statuses: {} }),
      JSON.stringify({ version: 1, statuses: [] }),
      JSON.stringify({ version: 1 }),
      JSON.stringify({
        version: 1,
        statuses: { [ada.id!]: { id: ada.id, state: "fine", failures: 0 } },
      }),
      JSON.stringify({
        version: 1,
        statuses: { [ada.id!]: { id: ada.id, state: "ok", failures: -1 } },
      }),
      JSON.stringify({
        version: 1,
        statuses: { [ada.id!]: ok(bob.id!) }, // under another id
      }),
    ];
    for (const text of broken) {
      await Deno.writeTextFile(statusFile, text, { mode: 0o600 });
      const info = await Deno.stat(statusFile);
      const fresh = new FileTokenStore({ path, format });
      for (
        const [name, op] of [
          ["get", () => fresh.status.get(ada.id!)],
          ["list", () => fresh.status.list()],
          ["put", () => fresh.status.put(ok(bob.id!))],
          ["delete", () => fresh.status.delete(ada.id!)],
          ["deleteToken", () => fresh.deleteToken(ada.id!)],
          ["deleteTokens", () => fresh.deleteTokens()],
          ["put (store that read it before)", () => store.status.put(ok("c3"))],
        ] as const
      ) {
        const error = await assertRejects(
          op as () => Promise<unknown>,
          TokenStoreError,
          undefined,
          `${name} on ${JSON.stringify(text)}`,
        );
        assertEquals(error.code, "CORRUPT", `${name}: ${error.message}`);
        assert(
          error.message.includes(statusFile),
          `${name} names the file: ${error.message}`,
        );
      }
      // left exactly as it was, and the tokens too
      assertEquals(await Deno.readTextFile(statusFile), text);
      assertEquals((await Deno.stat(statusFile)).mtime, info.mtime);
      assertEquals(await Deno.readTextFile(path), tokenText);
      assertEquals((await fresh.getTokens()).length, 2);
    }
    // saves do not touch statuses: they still work, even committed in one
    // batch with a delete that fails for the status file (held back by the
    // lock until both are queued)
    let release!: () => void;
    const held = new Promise<void>((resolve) => release = resolve);
    const holding = withFileLock(`${path}.lock`, 10_000, () => held);
    const saving = store.saveToken(user("cy"));
    const deleting = store.deleteToken(ada.id!).catch((error) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await holding;
    const cy = await saving;
    const refused = await deleting;
    assert(refused instanceof TokenStoreError, String(refused));
    assertEquals(refused.code, "CORRUPT");
    assertEquals((await store.findTokenById(cy.id!))?.userName, cy.userName);
    assertEquals((await store.findTokenById(ada.id!))?.id, ada.id);
    assertEquals(await Deno.readTextFile(statusFile), broken.at(-1));
    // repaired by hand: everything works again
    await Deno.remove(statusFile);
    await store.status.put(ok(ada.id!));
    assertEquals(await store.deleteToken(ada.id!), true);
    assertEquals(await store.status.list(), []);
  });

  Deno.test(`FileTokenStore ${format}: deleting a token removes its status, in one locked commit with the delete`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "sdk_tokens.txt");
    const store = new FileTokenStore({ path, format });
    const [ada, bob, cy] = await Promise.all(
      ["ada", "bob", "cy"].map((name) => store.saveToken(user(name))),
    );
    for (const t of [ada, bob, cy]) await store.status.put(ok(t.id!));
    // a delete and a save batched together (group commit)
    const [deleted, dan] = await Promise.all([
      store.deleteToken(ada.id!),
      store.saveToken(user("dan")),
    ]);
    assertEquals(deleted, true);
    const other = new FileTokenStore({ path, format });
    assertEquals(await other.status.get(ada.id!), null);
    assertEquals(
      (await other.status.list()).map((s) => s.id).sort(),
      [bob.id!, cy.id!].sort(),
    );
    assertEquals((await other.findTokenById(dan.id!))?.userName, dan.userName);
    // a status whose token is gone (a write that raced the delete) goes
    // with the next delete of its id
    await store.status.put(ok(ada.id!, 3));
    assertEquals(await store.deleteToken(ada.id!), false);
    assertEquals(await other.status.get(ada.id!), null);
    // deleteTokens removes every status, even with no token file left
    await store.deleteTokens();
    assertEquals(await other.status.list(), []);
    await Deno.remove(path);
    await store.status.put(ok(bob.id!));
    await store.deleteTokens();
    assertEquals(await other.status.list(), []);
  });
}

Deno.test("FileTokenStore zoho-csv: statuses never change the CSV, which stays the SDKs' layout byte for byte", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "sdk_tokens.txt");
  // as the Zoho SDKs write it: ids 1 and 2, no trailing newline
  const sdkText = [
    HEADER,
    "1,ada@example.com,1000.ADACLIENT,csv-secret-ada,1000.csv-refresh-ada,1000.csv-access-ada,,1893456000000,https://app.example.com/callback,https://www.zohoapis.eu",
    "2,bob@example.com,1000.BOBCLIENT,csv-secret-bob,1000.csv-refresh-bob,,,,,https://www.zohoapis.com",
  ].join("\n");
  await Deno.writeTextFile(path, sdkText, { mode: 0o600 });
  const store = new FileTokenStore({ path, format: "zoho-csv" });
  const statuses: TokenStatus[] = [
    {
      id: "1",
      state: "failing",
      lastRefreshAt: 1_800_000_000_000,
      lastFailureAt: 1_800_000_000_500,
      lastError: "invalid_client",
      failures: 1,
      refreshTokenExpiresAt: 1_900_000_000_000,
    },
    { id: "2", state: "revoked", lastError: "invalid_grant", failures: 2 },
  ];
  for (const status of statuses) await store.status.put(status);
  await store.status.delete("2");
  await store.status.put(statuses[1]);
  assertEquals(await Deno.readTextFile(path), sdkText, "the CSV was written");
  assertEquals(await store.status.list(), statuses);
  // the token file the store writes itself: the same ten columns, no status
  const cy = await store.saveToken(user("cy"));
  const written = await Deno.readTextFile(path);
  const lines = written.trimEnd().split("\n");
  assertEquals(lines[0], HEADER);
  assertEquals(lines.length, 4);
  for (const line of lines) assertEquals(line.split(",").length, 10);
  assert(
    !/failing|revoked|invalid_grant|invalid_client|failures/.test(written),
  );
  await store.status.put(ok(cy.id!));
  assertEquals(await Deno.readTextFile(path), written);
  // deleting a token rewrites its row away and nothing else
  assertEquals(await store.deleteToken("2"), true);
  assertEquals(
    await Deno.readTextFile(path),
    written.replace(/^2,bob@example\.com,[^\n]*\n/m, ""),
  );
  assertEquals(
    (await store.status.list()).map((s) => s.id).sort(),
    ["1", cy.id!].sort(),
  );
});

Deno.test("FileTokenStore: 4 processes writing statuses at once through the lock file lose none", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "tokens.json");
  const spec: StoreSpec = { kind: "file", path };
  const store = new FileTokenStore({ path });
  const tokens = await Promise.all(
    Array.from({ length: 40 }, (_, i) => store.saveToken(user(`p${i}`))),
  );
  const worker = new URL("./fixtures/status_worker.ts", import.meta.url);
  const outputs = await Promise.all(
    [0, 1, 2, 3].map((w) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          worker.pathname,
          JSON.stringify(spec),
          "put-many",
          JSON.stringify(
            tokens.filter((_, i) => i % 4 === w).map((t, i) =>
              ok(t.id!, i + 1)
            ),
          ),
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output()
    ),
  );
  for (const output of outputs) {
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  }
  const listed = await store.status.list();
  assertEquals(listed.length, 40);
  assertEquals(
    listed.map((s) => s.id).sort(),
    tokens.map((t) => t.id!).sort(),
  );
  assertEquals(await mode(`${path}.status.json`), 0o600);
});
