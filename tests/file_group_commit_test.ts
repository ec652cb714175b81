/**
 * The file store's group commit: concurrent changes in one process share
 * one read-modify-write of the file, each settling on its own.
 *
 * @module
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { FileTokenStore } from "../stores/file.ts";
import { applyChanges, GroupCommit } from "../stores/_file/group_commit.ts";
import { LineReader, spawnWorker, tempDir } from "./fixtures/file_helpers.ts";

const FORMATS = ["json", "zoho-csv"] as const;

function user(name: string, refreshToken = `1000.r-${name}`): OAuthToken {
  return new OAuthToken({
    userName: name,
    clientId: "1000.CLIENT",
    clientSecret: "1000.secret",
    refreshToken,
    accessToken: `1000.a-${name}`,
    expiresAt: 1_800_000_000_000,
  });
}

/** Runs `fn` counting the renames onto `path` (each is one atomic write of it). */
async function countingWrites<T>(
  path: string,
  fn: () => Promise<T>,
): Promise<{ result: T; writes: number }> {
  const rename = Deno.rename;
  let writes = 0;
  Deno.rename = (from, to) => {
    if (String(to) === path) writes++;
    return rename(from, to);
  };
  try {
    return { result: await fn(), writes };
  } finally {
    Deno.rename = rename;
  }
}

for (const format of FORMATS) {
  Deno.test(`FileTokenStore ${format}: 1,000 concurrent saves into a 10,000-token file are one write of the file and one of its copy, each save settled on its own`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "tokens", "sdk_tokens.txt");
    const store = new FileTokenStore({ path, format });
    // seeding through the store: 10,000 concurrent saves, one write
    const seeded = await countingWrites(
      path,
      () =>
        Promise.all(
          Array.from(
            { length: 10_000 },
            (_, i) => store.saveToken(user(`seed${i}@example.com`)),
          ),
        ),
    );
    assertEquals(seeded.writes, 1);
    const ids = seeded.result.map((token) => token.id!);
    assertEquals(new Set(ids).size, 10_000);

    const bad = new OAuthToken({ userName: "none@example.com" });
    const comma = user("comma@example.com", "1000.r,with-comma");
    const saves: (() => Promise<OAuthToken>)[] = [];
    for (let i = 0; i < 1_000; i++) {
      if (i % 4 === 0) {
        // by id: a refresh
        saves.push(() =>
          store.saveToken(
            seeded.result[i].with({ accessToken: `1000.new-${i}` }),
          )
        );
      } else if (i % 4 === 1) {
        // by user name, no id: updates the seeded row
        saves.push(() =>
          store.saveToken(
            user(`seed${i}@example.com`).with({ accessToken: `1000.new-${i}` }),
          )
        );
      } else if (i % 4 === 2) {
        saves.push(() => store.saveToken(user(`new${i}@example.com`)));
      } else if (i % 100 === 3) {
        saves.push(() => store.saveToken(bad));
      } else if (i % 100 === 7 && format === "zoho-csv") {
        saves.push(() => store.saveToken(comma));
      } else {
        // 4 saves of one user: one row, the last one's values
        saves.push(() =>
          store.saveToken(user("same@example.com", `1000.same-${i}`))
        );
      }
    }
    const { result: settled, writes } = await countingWrites(
      path,
      () => Promise.allSettled(saves.map((save) => save())),
    );
    assertEquals(writes, 1);

    let same = "";
    const sameIds = new Set<string>();
    for (const [i, outcome] of settled.entries()) {
      if (
        i % 4 === 3 &&
        (i % 100 === 3 || (i % 100 === 7 && format === "zoho-csv"))
      ) {
        assertEquals(outcome.status, "rejected", String(i));
        const error = (outcome as PromiseRejectedResult).reason;
        assert(error instanceof TokenStoreError, String(error));
        assertEquals(error.code, "INVALID_TOKEN");
        continue;
      }
      assertEquals(outcome.status, "fulfilled", String(i));
      const saved = (outcome as PromiseFulfilledResult<OAuthToken>).value;
      if (i % 4 === 0 || i % 4 === 1) assertEquals(saved.id, ids[i]);
      if (i % 4 === 1) assertEquals(saved.accessToken, `1000.new-${i}`);
      if (i % 4 === 3) {
        sameIds.add(saved.id!);
        same = saved.refreshToken!;
      }
    }
    assertEquals(sameIds.size, 1);

    // what a fresh reader of the file sees
    const fresh = new FileTokenStore({ path, format });
    const tokens = await fresh.getTokens();
    const inserted = 250;
    assertEquals(tokens.length, 10_000 + inserted + 1);
    for (let i = 0; i < 1_000; i += 4) {
      assertEquals(
        (await fresh.findTokenById(ids[i]))?.accessToken,
        `1000.new-${i}`,
      );
    }
    const sameRows = tokens.filter((t) => t.userName === "same@example.com");
    assertEquals(sameRows.length, 1);
    assertEquals(sameRows[0].refreshToken, same);
    assertEquals(same, "1000.same-999");
    assertEquals(
      tokens.filter((t) => t.userName === "none@example.com").length,
      0,
    );
    // the last good copy is the file
    assertEquals(
      await Deno.readTextFile(`${path}.bak`),
      await Deno.readTextFile(path),
    );
  });

  Deno.test(`FileTokenStore ${format}: concurrent saves into a corrupt file all fail CORRUPT and leave it as it was`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "tokens");
    const store = new FileTokenStore({ path, format });
    await store.saveToken(user("ada@example.com"));
    const corrupt = format === "json" ? "{ not json" : "id,user\n1,ada\n";
    await Deno.writeTextFile(path, corrupt);
    const settled = await Promise.allSettled(
      Array.from(
        { length: 20 },
        (_, i) => store.saveToken(user(`u${i}@example.com`)),
      ),
    );
    for (const outcome of settled) {
      assertEquals(outcome.status, "rejected");
      assertEquals((outcome as PromiseRejectedResult).reason.code, "CORRUPT");
    }
    assertEquals(await Deno.readTextFile(path), corrupt);
  });

  Deno.test(`FileTokenStore ${format}: saves of one token made together apply in call order, by id or by user alike`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "tokens");
    const store = new FileTokenStore({ path, format });
    const ada = await store.saveToken(user("ada@example.com"));
    await store.deleteToken(
      (await store.saveToken(user("bob@example.com"))).id!,
    );
    const { result, writes } = await countingWrites(path, () =>
      Promise.all([
        store.saveToken(ada.with({ accessToken: "1000.first" })),
        store.saveToken(user("ada@example.com", "1000.by-name")),
        store.saveToken(user("bob@example.com", "1000.bob-again")),
        store.saveToken(ada.with({ accessToken: "1000.last" })),
      ]));
    assertEquals(writes, 1);
    assertEquals(result.map((t) => t.id === ada.id), [true, true, false, true]);
    const tokens = await new FileTokenStore({ path, format }).getTokens();
    assertEquals(
      tokens.map((t) => [t.userName, t.refreshToken, t.accessToken]).sort(),
      [
        ["ada@example.com", "1000.r-ada@example.com", "1000.last"],
        ["bob@example.com", "1000.bob-again", "1000.a-bob@example.com"],
      ],
    );
  });
}

Deno.test("applyChanges: a change that throws is that change's failure; the others apply, in order", () => {
  const state: string[] = [];
  const { outcomes, changed } = applyChanges(state, [
    (s) => (s.push("a"), { result: 1, changed: true }),
    () => {
      throw new Error("refused");
    },
    (s) => ({ result: s.length, changed: false }),
  ]);
  assertEquals(state, ["a"]);
  assertEquals(changed, true);
  assertEquals(outcomes[0], { ok: true, value: 1 });
  assertEquals(outcomes[1].ok, false);
  assertEquals(
    (outcomes[1] as { error: Error }).error.message,
    "refused",
  );
  assertEquals(outcomes[2], { ok: true, value: 1 });
  assertEquals(
    applyChanges(state, [() => ({ result: 0, changed: false })]).changed,
    false,
  );
});

Deno.test("GroupCommit: a change that fails is rejected alone, a commit that fails rejects its batch, and later changes commit anew", async () => {
  await using dir = await tempDir();
  const lockPath = join(dir.path, "lock");
  const batches: string[][] = [];
  let failNext = false;
  const commits = new GroupCommit<string, string>(
    lockPath,
    1_000,
    (changes) => {
      batches.push([...changes]);
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error("disk full"));
      }
      return Promise.resolve(
        changes.map((change) =>
          change === "bad"
            ? { ok: false, error: new Error(`refused ${change}`) }
            : { ok: true, value: change.toUpperCase() }
        ),
      );
    },
  );
  const first = await Promise.allSettled(
    ["a", "bad", "c"].map((c) => commits.submit(c)),
  );
  assertEquals(first.map((o) => o.status), [
    "fulfilled",
    "rejected",
    "fulfilled",
  ]);
  assertEquals((first[0] as PromiseFulfilledResult<string>).value, "A");
  assertEquals(
    (first[1] as PromiseRejectedResult).reason.message,
    "refused bad",
  );
  failNext = true;
  const second = await Promise.allSettled(
    ["d", "e"].map((c) => commits.submit(c)),
  );
  assertEquals(
    second.map((o) => (o as PromiseRejectedResult).reason?.message),
    ["disk full", "disk full"],
  );
  assertEquals(await commits.submit("f"), "F");
  assertEquals(batches, [["a", "bad", "c"], ["d", "e"], ["f"]]);
});

Deno.test("GroupCommit: while another process holds the lock, a change times out after its own wait and a younger one still commits", async () => {
  await using dir = await tempDir();
  const lockPath = join(dir.path, "lock");
  const release = join(dir.path, "release");
  const holder = spawnWorker("file_lock_holder.ts", [lockPath, release]);
  const output = new LineReader(holder.stdout);
  try {
    assertEquals(await output.next(), "locked");
    const batches: string[][] = [];
    const commits = new GroupCommit<string, string>(
      lockPath,
      1_000,
      (changes) => {
        batches.push([...changes]);
        return Promise.resolve(changes.map((c) => ({ ok: true, value: c })));
      },
    );
    const started = performance.now();
    const old = commits.submit("old");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const young = commits.submit("young");
    const error = await assertRejects(() => old, TokenStoreError);
    const waited = performance.now() - started;
    assertEquals(error.code, "BACKEND");
    assertEquals(
      error.message,
      `Cannot lock "${lockPath}": timed out after 1000 ms`,
    );
    assert(waited >= 995 && waited < 1_400, `waited ${waited} ms`);
    await Deno.writeTextFile(release, "");
    assertEquals(await young, "young");
    assertEquals(batches, [["young"]]);
  } finally {
    await Deno.writeTextFile(release, "");
    await output.rest();
    await holder.stderr.cancel();
    await holder.status;
  }
});
