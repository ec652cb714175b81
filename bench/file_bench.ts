/**
 * `FileTokenStore` (JSON and Zoho CSV) against reading and parsing the file
 * directly, and writing it with the same atomic steps (temp file, fsync,
 * rename, fsync of the directory) — without the store's lock file or its
 * cache of the parsed file. Also 1,000 saves made at once into a
 * 10,000-token file (the store group-commits them) against the same 1,000
 * changes applied by hand in one read-modify-write.
 *
 * Run: `deno bench -A bench/file_bench.ts` (scaling:
 * `bench/file_scaling_bench.ts`)
 *
 * @module
 */

import { dirname } from "@std/path";
import type { OAuthToken, OAuthTokenInit } from "../core/token.ts";
import { COLUMNS } from "../stores/_sql/rows.ts";
import { FileTokenStore } from "../stores/file.ts";
import { newTokenId } from "../core/id.ts";
import {
  collectGarbage,
  makeTokens,
  newToken,
  refreshed,
  tempDir,
} from "./_data.ts";
import { type Addressed, type RawDriver, registerOperations } from "./_ops.ts";
import { OPERATION_TOKENS, writeTokenFile } from "./_seed.ts";

type Format = "json" | "zoho-csv";

interface FileKeys extends Addressed {
  id: string;
  record: OAuthTokenInit;
}

const HEADER = COLUMNS.map(([column]) => column);

/** The file read and written directly, as an application would. */
class RawFile implements RawDriver<FileKeys> {
  #path: string;
  #format: Format;

  constructor(path: string, format: Format) {
    this.#path = path;
    this.#format = format;
  }

  keys(token: OAuthToken): Promise<FileKeys> {
    return Promise.resolve({ token, id: token.id!, record: token.toRecord() });
  }

  async #read(): Promise<OAuthTokenInit[]> {
    const text = await Deno.readTextFile(this.#path);
    if (this.#format === "json") return JSON.parse(text).tokens;
    const lines = text.split("\n");
    return lines.slice(1).map((line) => {
      const fields = line.split(",");
      const record: Record<string, unknown> = {};
      COLUMNS.forEach(([, field], i) => {
        if (fields[i] === "" || fields[i] === undefined) return;
        record[field] = field === "expiresAt" ? Number(fields[i]) : fields[i];
      });
      return record as OAuthTokenInit;
    });
  }

  async #write(records: OAuthTokenInit[]): Promise<void> {
    const text = this.#format === "json"
      ? `${JSON.stringify({ version: 1, tokens: records }, null, 2)}\n`
      : [
        HEADER.join(","),
        ...records.map((record) =>
          COLUMNS.map(([, field]) => record[field] ?? "").join(",")
        ),
      ].join("\n");
    const temp = `${this.#path}.tmp`;
    const file = await Deno.open(temp, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    try {
      const bytes = new TextEncoder().encode(text);
      let written = 0;
      while (written < bytes.length) {
        written += await file.write(bytes.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, this.#path);
    const directory = await Deno.open(dirname(this.#path), { read: true });
    try {
      await directory.sync();
    } finally {
      directory.close();
    }
  }

  async findByUser(keys: FileKeys): Promise<string | null> {
    const name = keys.record.userName;
    return (await this.#read()).find((r) => r.userName === name)?.id ?? null;
  }
  async findByRefresh(keys: FileKeys): Promise<string | null> {
    const value = keys.record.refreshToken;
    return (await this.#read()).find((r) => r.refreshToken === value)?.id ??
      null;
  }
  async findById(keys: FileKeys): Promise<string | null> {
    return (await this.#read()).find((r) => r.id === keys.id)?.id ?? null;
  }
  async insert(keys: FileKeys): Promise<void> {
    const records = await this.#read();
    records.push(keys.record);
    await this.#write(records);
  }
  async remove(keys: FileKeys): Promise<void> {
    await this.#write((await this.#read()).filter((r) => r.id !== keys.id));
  }
  async update(_before: FileKeys, after: FileKeys): Promise<void> {
    const records = await this.#read();
    const at = records.findIndex((r) => r.id === after.id);
    records[at] = after.record;
    await this.#write(records);
  }
  async getAll(): Promise<number> {
    return (await this.#read()).length;
  }

  /**
   * What a batch of saves costs done by hand: one read and parse, every
   * change applied in memory (updates by id, inserts appended), one atomic
   * write.
   */
  async applyAll(
    updates: readonly OAuthTokenInit[],
    inserts: readonly OAuthTokenInit[],
  ): Promise<void> {
    const records = await this.#read();
    const at = new Map(records.map((record, i) => [record.id!, i]));
    for (const update of updates) records[at.get(update.id!)!] = update;
    records.push(...inserts);
    await this.#write(records);
  }

  /** Drops the records with these ids (untimed clean-up). */
  async removeAll(ids: ReadonlySet<string>): Promise<void> {
    await this.#write((await this.#read()).filter((r) => !ids.has(r.id!)));
  }
}

/** Tokens in the file the concurrent saves go into. */
const CONCURRENT_FILE_TOKENS = 10_000;
/** Saves made at once. */
const CONCURRENT_SAVES = 1_000;

/**
 * `<name> 1,000 concurrent saves into a 10,000-token file`: half refreshes
 * of stored tokens (by id), half new users, all made at once through one
 * store (which group-commits them), against the raw driver applying the
 * same 1,000 changes in one read-modify-write by hand. The inserted tokens
 * are deleted again untimed, so every iteration starts from 10,000 tokens.
 * The store's file is seeded through the store itself: 10,000 concurrent
 * saves.
 */
async function registerConcurrentSaves(
  name: string,
  format: Format,
  dir: string,
): Promise<void> {
  const storePath = `${dir}/concurrent-store.${format}`;
  const rawPath = `${dir}/concurrent-raw.${format}`;
  const store = new FileTokenStore({ path: storePath, format });
  const seeded = makeTokens(CONCURRENT_FILE_TOKENS, `${name}-concurrent`);
  const started = performance.now();
  await Promise.all(seeded.map((token) => store.saveToken(token)));
  const seedMs = performance.now() - started;
  if (
    (await new FileTokenStore({ path: storePath, format }).getTokens())
        .length !== CONCURRENT_FILE_TOKENS || seedMs > 10_000
  ) {
    throw new Error(`Seeding ${name} through the store failed or was slow`);
  }
  await writeTokenFile(rawPath, format, seeded);
  const raw = new RawFile(rawPath, format);

  const half = CONCURRENT_SAVES / 2;
  // each stored token flips between two states, built untimed
  const states = seeded.slice(0, half).map((token) => [
    token,
    refreshed(token),
  ]);
  let flip = 0;
  const group = `${name} ${
    CONCURRENT_SAVES.toLocaleString("en")
  } concurrent saves into a ${
    CONCURRENT_FILE_TOKENS.toLocaleString("en")
  }-token file`;
  const options = { group, n: 10, warmup: 2 };
  Deno.bench({
    ...options,
    name: "raw driver (one read-modify-write by hand)",
    baseline: true,
    async fn(b) {
      flip = 1 - flip;
      const updates = states.map((pair) => pair[flip].toRecord());
      const inserts = Array.from(
        { length: half },
        () => newToken().with({ id: newTokenId() }).toRecord(),
      );
      b.start();
      await raw.applyAll(updates, inserts);
      b.end();
      await raw.removeAll(new Set(inserts.map((record) => record.id!)));
    },
  });
  Deno.bench({
    ...options,
    name: "tokenstore (saveToken × 1,000 at once)",
    async fn(b) {
      flip = 1 - flip;
      const saves = [
        ...states.map((pair) => pair[flip]),
        ...Array.from({ length: half }, () => newToken()),
      ];
      b.start();
      const saved = await Promise.all(
        saves.map((token) => store.saveToken(token)),
      );
      b.end();
      await Promise.all(
        saved.slice(half).map((token) => store.deleteToken(token.id!)),
      );
    },
  });
}

const dir = await tempDir("file");
for (const format of ["json", "zoho-csv"] as const) {
  const name = `file-${format}`;
  const path = `${dir}/operations.${format}`;
  const tokens = makeTokens(OPERATION_TOKENS, name);
  await writeTokenFile(path, format, tokens);
  await registerOperations(
    name,
    new FileTokenStore({ path, format }),
    new RawFile(path, format),
    tokens,
    { read: 1000, write: 200, list: 1000 },
  );
  await registerConcurrentSaves(name, format, dir);
}
collectGarbage();
