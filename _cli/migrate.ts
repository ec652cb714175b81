/**
 * The `migrate` command: copies every token from one store to another,
 * keeping ids, then reads each one back and compares every field; then the
 * same for the tokens' statuses, when both stores keep them.
 *
 * @module
 */

import { type OAuthToken, TOKEN_FIELDS } from "../core/token.ts";
import type { TokenStore } from "../core/token_store.ts";
import { TOKEN_STATUS_FIELDS, type TokenStatus } from "../core/token_status.ts";
import { parseStoreUrl } from "../stores/_store_url.ts";
import { UsageError } from "./args.ts";
import type { Command } from "./command.ts";
import { PROGRAM } from "./command.ts";
import {
  type Context,
  noPositionals,
  openCliStore,
  showUrl,
  storeUrl,
} from "./context.ts";

/** "1 token status", "2 token statuses". */
function statusCount(count: number): string {
  return `${count} token status${count === 1 ? "" : "es"}`;
}

/** A progress bar on standard error, drawn only on a terminal. */
function progressBar(ctx: Context, label: string, total: number) {
  const width = 30;
  return {
    update(done: number): void {
      if (!ctx.isTerminal || total === 0) return;
      const filled = Math.round((done / total) * width);
      ctx.progress(
        `\r${label} [${"#".repeat(filled)}${
          "-".repeat(width - filled)
        }] ${done}/${total}`,
      );
    },
    end(): void {
      if (ctx.isTerminal && total > 0) ctx.progress("\r\x1b[2K");
    },
  };
}

/** The first field in which `copy` differs from `original`, if any. */
function differingField(
  original: OAuthToken,
  copy: OAuthToken | null,
): string | undefined {
  if (copy === null) return "(missing)";
  return TOKEN_FIELDS.find((field) => original[field] !== copy[field]);
}

/**
 * Saves in flight at once. A file store writes the saves that reach it
 * together in one rewrite of the file (group commit), so copying 10,000
 * tokens into it is a few rewrites rather than 10,000; other stores simply
 * overlap their round trips.
 */
const IN_FLIGHT = 500;

/**
 * Writes every item with `write`, {@linkcode IN_FLIGHT} at a time, calling
 * `written` after each; rethrows the first failure once the writes under way
 * have settled.
 */
async function writeAll<T>(
  items: readonly T[],
  write: (item: T) => Promise<unknown>,
  written: () => void,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const item = items[next++];
      try {
        await write(item);
        written();
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(IN_FLIGHT, items.length) }, worker),
  );
  if (failure !== undefined) throw failure.error;
}

/**
 * The statuses of the tokens being copied (a status whose token is gone is
 * left behind), in id order; `null` when the source keeps none.
 */
async function statusesOf(
  source: TokenStore,
  tokens: readonly OAuthToken[],
): Promise<TokenStatus[] | null> {
  if (source.status === undefined) return null;
  const ids = new Set(tokens.map((token) => token.id));
  return (await source.status.list())
    .filter((status) => ids.has(status.id))
    .sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Copies `statuses` into `target`'s status store, then reads each back and
 * compares it.
 */
async function copyStatuses(
  ctx: Context,
  statuses: readonly TokenStatus[],
  target: TokenStore,
): Promise<void> {
  const store = target.status!;
  const copying = progressBar(ctx, "Statuses ", statuses.length);
  copying.update(0);
  let done = 0;
  await writeAll(
    statuses,
    (status) => store.put(status),
    () => copying.update(++done),
  );
  copying.end();
  for (const status of statuses) {
    const copy = await store.get(status.id);
    const field = copy === null
      ? undefined
      : TOKEN_STATUS_FIELDS.find((field) => copy[field] !== status[field]);
    if (copy === null || field !== undefined) {
      throw new Error(
        copy === null
          ? `Verification failed: the status of token "${status.id}" is missing from the target after copying`
          : `Verification failed: the status of token "${status.id}" differs in field "${field}" after copying`,
      );
    }
  }
}

async function copyAll(
  ctx: Context,
  tokens: OAuthToken[],
  target: TokenStore,
): Promise<void> {
  const copying = progressBar(ctx, "Copying  ", tokens.length);
  copying.update(0);
  let done = 0;
  await writeAll(
    tokens,
    (token) => target.saveToken(token),
    () => copying.update(++done),
  );
  copying.end();
  const verifying = progressBar(ctx, "Verifying", tokens.length);
  verifying.update(0);
  for (const [i, token] of tokens.entries()) {
    const field = differingField(token, await target.findTokenById(token.id!));
    if (field !== undefined) {
      verifying.end();
      throw new Error(
        field === "(missing)"
          ? `Verification failed: token "${token.id}" is missing from the target after copying`
          : `Verification failed: token "${token.id}" differs in field "${field}" after copying`,
      );
    }
    verifying.update(i + 1);
  }
  verifying.end();
}

/** `migrate --from URL --to URL`. */
export const migrate: Command = {
  name: "migrate",
  summary: "Copy every token from one store to another, verified",
  options: {
    from: "string",
    to: "string",
    "dry-run": "boolean",
    "from-encrypted": "boolean",
    "to-encrypted": "boolean",
  },
  help: `Usage: ${PROGRAM} migrate --from URL --to URL [--dry-run]

Copies every token from one store to another, keeping each token's id, then
reads every copied token back from the target and compares all fields. Running
it again is safe: tokens with the same id are updated, not duplicated. Tokens
in the target that are not in the source are left alone. The tokens' statuses
(their health: see "status") are copied and verified too, and counted when
there are any. Shows a progress bar on a terminal and prints the number of
tokens copied.

Examples:
  ${PROGRAM} migrate --from zoho-csv:./sdk_tokens.txt --to kv:./tokens.db
  ${PROGRAM} migrate --from "mysql://root:pw@127.0.0.1:3306/zoho?table=oauthtoken" \\
    --to libsql:file:./tokens.db

Options:
  --from URL        The source store (default: --store, then TOKEN_STORE_URL)
  --to URL          The target store (required)
  --dry-run         Read the source and list what would be copied; the target
                    is not opened and nothing is written
  --from-encrypted  The source is an EncryptedTokenStore: decrypt it with the
                    keys in TOKENSTORE_KEY (also implied by --encrypted when
                    the source is --store)
  --to-encrypted    Encrypt the secrets written to the target with the first
                    key in TOKENSTORE_KEY (verified after decrypting)`,
  async run(ctx) {
    noPositionals(ctx);
    const from = (ctx.args.values.from as string | undefined) ??
      (ctx.args.values.store === undefined && !ctx.env.TOKEN_STORE_URL
        ? undefined
        : storeUrl(ctx));
    const to = ctx.args.values.to as string | undefined;
    if (from === undefined) {
      throw new UsageError('Missing "--from URL"', ctx.command);
    }
    if (to === undefined) {
      throw new UsageError('Missing "--to URL"', ctx.command);
    }
    if (from === to) {
      throw new UsageError(
        '"--from" and "--to" name the same store',
        ctx.command,
      );
    }
    try {
      parseStoreUrl(to);
    } catch (error) {
      throw new UsageError((error as Error).message, ctx.command);
    }
    const source = await openCliStore(ctx, from, {
      encrypted: ctx.args.values["from-encrypted"] === true ||
        (ctx.args.values.from === undefined &&
          ctx.args.values.encrypted === true),
    });
    try {
      const tokens = await source.getTokens();
      const missing = tokens.find((token) => token.id === undefined);
      if (missing !== undefined) {
        throw new Error("Cannot migrate: a source token has no id");
      }
      const plural = tokens.length === 1 ? "" : "s";
      const statuses = await statusesOf(source, tokens);
      const counted = statuses === null || statuses.length === 0
        ? ""
        : ` and ${statusCount(statuses.length)}`;
      if (ctx.args.values["dry-run"]) {
        for (const token of tokens) {
          ctx.print(`would copy ${token.id} ${token.userName ?? "-"}`);
        }
        ctx.print(
          `Dry run: would copy ${tokens.length} token${plural}${counted} from ${
            showUrl(from)
          } to ${showUrl(to)}; nothing was written`,
        );
        return 0;
      }
      const target = await openCliStore(ctx, to, {
        encrypted: ctx.args.values["to-encrypted"] === true,
      });
      let copied = 0;
      try {
        await copyAll(ctx, tokens, target);
        if (statuses !== null && target.status !== undefined) {
          await copyStatuses(ctx, statuses, target);
          copied = statuses.length;
        }
      } finally {
        await target.close?.();
      }
      ctx.print(
        `Migrated ${tokens.length} token${plural} from ${showUrl(from)} to ${
          showUrl(to)
        }; all ${tokens.length} verified`,
      );
      if (copied > 0) {
        ctx.print(
          `Copied ${statusCount(copied)}; all ${copied} verified`,
        );
      }
      return 0;
    } finally {
      await source.close?.();
    }
  },
};
