/**
 * The commands that look at and remove stored tokens: `list`, `show`,
 * `delete` and `purge`.
 *
 * @module
 */

import { UsageError } from "./args.ts";
import type { Command } from "./command.ts";
import { PROGRAM } from "./command.ts";
import {
  noPositionals,
  oneId,
  showUrl,
  storeUrl,
  withStore,
} from "./context.ts";
import {
  expiryText,
  listEntry,
  secretsText,
  showLines,
  sortTokens,
  table,
} from "./format.ts";

/** `list`: a table of the stored tokens. */
export const list: Command = {
  name: "list",
  summary: "List stored tokens (id, user, client, expiry, secrets held)",
  options: { json: "boolean" },
  help: `Usage: ${PROGRAM} list [--store URL] [--json]

Lists every stored token: id, user, client id, when the access token
expires (relative, e.g. "in 59 min" or "expired 3 h ago") and which secrets
are stored (refresh, access, grant, client-secret). Secret values are never
shown.

Options:
  --json   Print a JSON array instead of a table: id, userName, clientId,
           redirectUrl, apiDomain, expiresAt (epoch ms), expires, expired,
           secrets (the names of the secret fields present)`,
  async run(ctx) {
    noPositionals(ctx);
    return await withStore(ctx, async (store) => {
      const tokens = sortTokens(await store.getTokens());
      const now = ctx.now();
      if (ctx.args.values.json) {
        ctx.print(
          JSON.stringify(tokens.map((t) => listEntry(t, now)), null, 2),
        );
        return 0;
      }
      if (tokens.length === 0) {
        ctx.print(`No tokens in ${showUrl(storeUrl(ctx))}`);
        return 0;
      }
      const rows = tokens.map((t) => [
        t.id ?? "-",
        t.userName ?? "-",
        t.clientId ?? "-",
        expiryText(t, now),
        secretsText(t),
      ]);
      for (
        const line of table(
          ["ID", "USER", "CLIENT", "EXPIRES", "SECRETS"],
          rows,
        )
      ) ctx.print(line);
      return 0;
    });
  },
};

/** `show <id>`: one token, secrets redacted. */
export const show: Command = {
  name: "show",
  summary: "Show one token's fields, secrets redacted",
  options: { json: "boolean" },
  help: `Usage: ${PROGRAM} show <id> [--store URL] [--json]

Shows every field of the token with this id. Secrets (client secret,
refresh, access and grant tokens) are redacted to a short prefix.
Exits with 1 when there is no such token.

Options:
  --json   Print the token as JSON (secrets redacted)`,
  async run(ctx) {
    const id = oneId(ctx);
    return await withStore(ctx, async (store) => {
      const token = await store.findTokenById(id);
      if (token === null) throw new Error(`No token with id "${id}"`);
      if (ctx.args.values.json) {
        ctx.print(JSON.stringify(token.toJSON(), null, 2));
      } else {
        for (const line of showLines(token, ctx.now())) ctx.print(line);
      }
      return 0;
    });
  },
};

/** `delete <id>`: removes one token. */
export const remove: Command = {
  name: "delete",
  summary: "Delete one token",
  options: {},
  help: `Usage: ${PROGRAM} delete <id> [--store URL]

Deletes the token with this id from the store (it is not revoked at the
token endpoint: use "revoke" for that). Exits with 1 when there is no such
token.`,
  async run(ctx) {
    const id = oneId(ctx);
    return await withStore(ctx, async (store) => {
      if (!await store.deleteToken(id)) {
        throw new Error(`No token with id "${id}"`);
      }
      ctx.print(`Deleted token "${id}"`);
      return 0;
    });
  },
};

/** `purge --yes`: removes every token. */
export const purge: Command = {
  name: "purge",
  summary: "Delete every token in the store (needs --yes)",
  options: { yes: "boolean" },
  help: `Usage: ${PROGRAM} purge --yes [--store URL]

Deletes every token in the store. Tokens are not revoked at the token
endpoint.

Options:
  --yes    Required: confirms that every token is to be deleted`,
  async run(ctx) {
    noPositionals(ctx);
    if (!ctx.args.values.yes) {
      throw new UsageError(
        'Refusing to delete every token without "--yes"',
        ctx.command,
      );
    }
    return await withStore(ctx, async (store) => {
      const count = (await store.getTokens()).length;
      await store.deleteTokens();
      ctx.print(
        `Deleted ${count} token${count === 1 ? "" : "s"} from ${
          showUrl(storeUrl(ctx))
        }`,
      );
      return 0;
    });
  },
};
