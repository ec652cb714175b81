/**
 * libSQL stores for the benchmarks: a local database file holding given
 * tokens in the store's table and indexes, closed when the module unloads.
 *
 * @module
 */

import { createClient } from "@libsql/client";
import type { OAuthToken } from "../core/token.ts";
import type { LibsqlClient } from "../stores/_libsql/client.ts";
import { LibsqlTokenStore } from "../stores/libsql.ts";
import { atUnload } from "./_data.ts";
import { seedLibsql } from "./_seed.ts";

/** The token table of the benchmarks (the store's default). */
export const TABLE = "oauthtoken";

/**
 * A database file at `path` holding `tokens`, its client and a store over it.
 *
 * @param path The database file.
 * @param tokens What it holds.
 * @returns The client and the store.
 */
export async function seededLibsql(
  path: string,
  tokens: readonly OAuthToken[],
): Promise<{ client: LibsqlClient; store: LibsqlTokenStore }> {
  const client = createClient({ url: `file:${path}` });
  atUnload(() => client.close());
  const store = new LibsqlTokenStore({ client, table: TABLE });
  await store.getTokens(); // creates the table and its lookup indexes
  await seedLibsql(client, TABLE, tokens);
  return { client, store };
}
