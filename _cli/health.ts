/**
 * The health commands: `status` (what the store knows of each token: state,
 * last refresh, failures, refresh-token expiry) and `keep-alive` (refresh
 * idle tokens before their refresh tokens die). Both exit with 3 when a
 * token is revoked, for cron jobs and monitoring.
 *
 * @module
 */

import type { TokenStatus } from "../core/token_status.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStore } from "../core/token_store.ts";
import { UsageError } from "./args.ts";
import { type Command, PROGRAM } from "./command.ts";
import { type Context, noPositionals, withStore } from "./context.ts";
import { sortTokens, table, whenText } from "./format.ts";
import {
  dataCenter,
  ENDPOINT_OPTIONS,
  endpointHelp,
  givenCredentials,
  option,
  persisted,
  tokenUrl,
} from "./oauth.ts";

/** The exit code when a token is revoked: its user must authorise again. */
export const REVOKED_EXIT = 3;

function statusesOf(store: TokenStore, ctx: Context) {
  if (store.status === undefined) {
    throw new UsageError(
      "This store keeps no token statuses",
      ctx.command,
    );
  }
  return store.status;
}

/** `status [--json]`. */
export const status: Command = {
  name: "status",
  summary: "Show each token's health; exit 3 when one is revoked",
  options: { json: "boolean" },
  help: `Usage: ${PROGRAM} status [--store URL] [--json]

Shows what the store knows of each token: its user, state (ok, failing,
revoked: the user must authorise again, or "-" when never refreshed through a
client), last successful refresh, last failure and its error code,
consecutive failures, and when the refresh token expires. Exits with 3 when a
token is revoked (for cron jobs and monitoring), else 0.

Options:
  --json   Print a JSON array of { id, userName, ...status }`,
  async run(ctx) {
    noPositionals(ctx);
    return await withStore(ctx, async (store) => {
      const statuses = new Map<string, TokenStatus>(
        (await statusesOf(store, ctx).list()).map((s) => [s.id, s]),
      );
      const tokens = sortTokens(await store.getTokens());
      const now = ctx.now();
      const entries = tokens.map((token) => ({
        id: token.id!,
        userName: token.userName,
        ...statuses.get(token.id!),
      }));
      const revoked = entries.some((e) => e.state === "revoked");
      if (ctx.args.values.json) {
        ctx.print(JSON.stringify(entries, null, 2));
      } else {
        const rows = entries.map((e) => [
          e.id,
          e.userName ?? "-",
          e.state ?? "-",
          whenText(e.lastRefreshAt, now),
          e.lastFailureAt === undefined
            ? "-"
            : `${whenText(e.lastFailureAt, now)} (${e.lastError ?? "?"})`,
          String(e.failures ?? 0),
          whenText(e.refreshTokenExpiresAt, now),
        ]);
        for (
          const line of table([
            "ID",
            "USER",
            "STATE",
            "LAST REFRESH",
            "LAST FAILURE",
            "FAILURES",
            "REFRESH TOKEN EXPIRES",
          ], rows)
        ) ctx.print(line);
      }
      return revoked ? REVOKED_EXIT : 0;
    });
  },
};

/** `keep-alive [--idle-ms MS] [--margin-ms MS] [--concurrency N]`. */
export const keepAlive: Command = {
  name: "keep-alive",
  summary: "Refresh idle tokens before their refresh tokens expire",
  options: {
    ...ENDPOINT_OPTIONS,
    "idle-ms": "string",
    "margin-ms": "string",
    concurrency: "string",
  },
  help:
    `Usage: ${PROGRAM} keep-alive [--idle-ms MS] [--margin-ms MS] [--concurrency N]
         [--client-id ID] [--client-secret SECRET] [--dc DC]
         [--token-url URL] [--store URL]

Refreshes every stored token with a refresh token that was not refreshed for
--idle-ms (default one day), or whose refresh token expires within
--margin-ms (default 7 days), skipping revoked ones, under the same leases as
any refresh (two runs at once refresh each token once). Prints what it did;
exits with 3 when a token is revoked, 1 when a refresh failed, else 0.

Options:
  --idle-ms MS           Refresh tokens idle this long (default 86400000)
  --margin-ms MS         ... or whose refresh token expires this soon
                         (default 604800000)
  --concurrency N        Refreshes at once (default 4)
  --client-id ID         OAuth client id for tokens that hold none (or
                         TOKENSTORE_CLIENT_ID)
  --client-secret SECRET OAuth client secret for tokens that hold none (or
                         TOKENSTORE_CLIENT_SECRET)
${endpointHelp("US")}`,
  async run(ctx) {
    noPositionals(ctx);
    const number = (name: string) => {
      const value = option(ctx, name);
      if (value === undefined) return undefined;
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) {
        throw new UsageError(
          `Option "--${name}" must be a number >= 0`,
          ctx.command,
        );
      }
      return n;
    };
    const options = {
      idleMs: number("idle-ms"),
      refreshTokenMarginMs: number("margin-ms"),
      concurrency: number("concurrency"),
    };
    const dc = dataCenter(ctx);
    const url = tokenUrl(ctx);
    return await withStore(ctx, async (store) => {
      // client credentials: given, else those the stored tokens hold
      const held = (await store.getTokens()).find((t) =>
        t.clientId !== undefined && t.clientSecret !== undefined
      );
      const given = givenCredentials(ctx);
      const clientId = given.clientId ?? held?.clientId;
      const clientSecret = given.clientSecret ?? held?.clientSecret;
      if (clientId === undefined || clientSecret === undefined) {
        throw new UsageError(
          `Missing "--${
            clientId === undefined ? "client-id" : "client-secret"
          }": no stored token holds one`,
          ctx.command,
        );
      }
      const client = new TokenClient({
        store,
        clientId,
        clientSecret,
        dataCenter: dc,
        tokenUrl: url,
      });
      const report = await persisted(client, client.keepAlive(options));
      ctx.print(
        `Checked ${report.checked}, refreshed ${report.refreshed}, failed ${report.failed}, revoked ${report.revoked}, skipped ${report.skipped}`,
      );
      if (report.revoked > 0) return REVOKED_EXIT;
      return report.failed > 0 ? 1 : 0;
    });
  },
};
