/**
 * `FileTokenStore` (JSON and Zoho CSV) against reading and parsing the file
 * directly, and writing it with the same atomic steps (temp file, fsync,
 * rename, fsync of the directory) — without the store's lock file or its
 * cache of the parsed file.
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
import { collectGarbage, makeTokens, tempDir } from "./_data.ts";
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
}
collectGarbage();
