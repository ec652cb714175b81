/**
 * Moves the tokens an app kept with the official Zoho SDKs — their
 * `sdk_tokens.txt` file or their `oauthtoken` MySQL table — into Deno KV or
 * libSQL, keeping every id and field, so users stay logged in.
 *
 *     deno run -A examples/migrate_from_zoho_sdk.ts zoho-csv:./sdk_tokens.txt kv:./tokens.db
 *     deno run -A examples/migrate_from_zoho_sdk.ts "mysql://root@127.0.0.1:3306/zohooauth?table=oauthtoken" libsql:file:./tokens.db
 *
 * Running it again is harmless: tokens are saved by id, so a rerun updates
 * in place. For more (dry runs, progress, any direction) use the CLI's
 * `migrate` command.
 *
 * @module
 */

import { openStore } from "../mod.ts";

const [from, to] = Deno.args;
if (!from || !to) {
  console.error(
    "Usage: migrate_from_zoho_sdk.ts <zoho-csv:PATH | mysql://...> <kv:PATH | libsql:URL>",
  );
  Deno.exit(2);
}

const source = await openStore(from);
const target = await openStore(to);
try {
  const tokens = await source.getTokens();
  for (const token of tokens) await target.saveToken(token);
  let verified = 0;
  for (const token of tokens) {
    const copy = await target.findTokenById(token.id!);
    if (JSON.stringify(copy?.toRecord()) !== JSON.stringify(token.toRecord())) {
      throw new Error(`Token "${token.id}" differs after the copy`);
    }
    verified++;
  }
  console.log(
    `Migrated ${verified} of ${tokens.length} tokens, every field verified`,
  );
} finally {
  await source.close?.();
  await target.close?.();
}
