import { assert, assertEquals } from "@std/assert";
import { join } from "@std/path";
import { FileTokenStore } from "../stores/file.ts";
import { parseZohoCsv } from "../stores/_file/zoho_csv.ts";
import { parseTokenJson } from "../stores/_file/json.ts";
import { LineReader, spawnWorker, tempDir } from "./fixtures/file_helpers.ts";

const KILLS = 10;

for (const format of ["json", "zoho-csv"] as const) {
  Deno.test(`FileTokenStore ${format}: a writer killed ${KILLS} times with SIGKILL never leaves a partial file nor loses a saved token`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "sdk_tokens.txt");
    const parse = (text: string) =>
      format === "json"
        ? parseTokenJson(text, path)
        : parseZohoCsv(text, path).tokens;
    /** Users whose save the writer confirmed, from every round so far. */
    const confirmed: string[] = [];
    let midWrite = 0;
    for (let round = 0; round < KILLS; round++) {
      const writer = spawnWorker("file_crash_writer.ts", [
        path,
        format,
        String(round),
      ]);
      const output = new LineReader(writer.stdout);
      const first = await output.next();
      if (first !== "saved 0") {
        throw new Error(
          `writer did not start: ${await new Response(writer.stderr).text()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 80));
      writer.kill("SIGKILL");
      const status = await writer.status;
      assertEquals(status.signal, "SIGKILL");
      const lines = [first, ...await output.rest()];
      await writer.stderr.cancel();
      const last = Number(lines[lines.length - 1].slice("saved ".length));
      for (let i = 0; i <= last; i++) {
        confirmed.push(`r${round}-${i}@example.com`);
      }
      try {
        await Deno.stat(`${path}.tmp`);
        midWrite++; // killed between writing the temp file and the rename
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }

      const text = await Deno.readTextFile(path);
      assert(text.length > 0, "the file is not empty");
      const tokens = parse(text);
      const users = new Set(tokens.map((t) => t.userName));
      for (const user of confirmed) assert(users.has(user), `${user} was lost`);
      // nothing half-saved either: every row is whole
      for (const token of tokens) {
        if (token.userName === "counter@example.com") continue;
        const [, r, i] = /^r(\d+)-(\d+)@/.exec(token.userName!)!;
        assertEquals(token.refreshToken, `1000.r${r}-${i}`);
        assertEquals(token.accessToken, `1000.a${r}-${i}`);
      }
      const counter = tokens.filter((t) =>
        t.userName === "counter@example.com"
      );
      assertEquals(counter.length, 1);
      const [, r, i] = /^1000\.c(\d+)-(\d+)$/.exec(counter[0].refreshToken!)!;
      assertEquals(Number(r), round);
      assert(Number(i) >= last, `counter ${i} is older than confirmed ${last}`);
      // and the store itself opens it
      assertEquals(
        (await new FileTokenStore({ path, format }).getTokens()).length,
        tokens.length,
      );
      assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    }
    console.log(
      `${format}: ${KILLS} kills, ${confirmed.length} confirmed inserts kept, ${midWrite} kills landed between temp write and rename`,
    );
  });
}
