/**
 * The commands that talk to the token endpoint: `exchange`, `refresh` and
 * `revoke`.
 *
 * @module
 */

import { DATA_CENTERS, type DataCenter } from "../core/data_centers.ts";
import type { OAuthToken } from "../core/token.ts";
import { TokenClient } from "../core/token_client.ts";
import type { TokenStore } from "../core/token_store.ts";
import { UsageError } from "./args.ts";
import type { Command } from "./command.ts";
import { PROGRAM } from "./command.ts";
import { type Context, noPositionals, oneId, withStore } from "./context.ts";
import { expiryText } from "./format.ts";

/** The options naming the client and its endpoint. */
export const ENDPOINT_OPTIONS = {
  "client-id": "string",
  "client-secret": "string",
  dc: "string",
  "token-url": "string",
} as const;

/** The help of {@linkcode ENDPOINT_OPTIONS}' `--dc` and `--token-url`. */
export function endpointHelp(dcDefault: string): string {
  return `  --dc DC                Zoho data center: ${
    Object.keys(DATA_CENTERS).join(", ")
  }
                         (default: ${dcDefault})
  --token-url URL        Token endpoint; overrides --dc (any RFC 6749 endpoint)`;
}

const ENDPOINT_HELP = endpointHelp(
  "the one of the token's API domain, else US",
);

const CREDENTIAL_HELP =
  `  --client-id ID         OAuth client id (default: the stored token's, then
                         TOKENSTORE_CLIENT_ID)
  --client-secret SECRET OAuth client secret (default: the stored token's, then
                         TOKENSTORE_CLIENT_SECRET)`;

/** The value of string option `--name`, if given. */
export function option(ctx: Context, name: string): string | undefined {
  return ctx.args.values[name] as string | undefined;
}

/** The data center named by `--dc`, or the one of an API domain. */
export function dataCenter(
  ctx: Context,
  apiDomain?: string,
): DataCenter | undefined {
  const dc = option(ctx, "dc");
  if (dc !== undefined) {
    const upper = dc.toUpperCase();
    if (!Object.hasOwn(DATA_CENTERS, upper)) {
      throw new UsageError(
        `Unknown data center "${dc.slice(0, 20)}": expected one of ${
          Object.keys(DATA_CENTERS).join(", ")
        }`,
        ctx.command,
      );
    }
    return upper as DataCenter;
  }
  if (apiDomain === undefined) return undefined;
  const found = Object.entries(DATA_CENTERS).find(([, info]) =>
    info.apiDomain === apiDomain.replace(/\/+$/, "")
  );
  return found?.[0] as DataCenter | undefined;
}

/**
 * `--client-id` / `--client-secret`, else `TOKENSTORE_CLIENT_ID` /
 * `TOKENSTORE_CLIENT_SECRET`; `undefined` where neither is given.
 */
export function givenCredentials(
  ctx: Context,
): { clientId?: string; clientSecret?: string } {
  return {
    clientId: option(ctx, "client-id") ??
      (ctx.env.TOKENSTORE_CLIENT_ID || undefined),
    clientSecret: option(ctx, "client-secret") ??
      (ctx.env.TOKENSTORE_CLIENT_SECRET || undefined),
  };
}

/** Fails with a usage error naming the first option of `required` without a value. */
export function requireOptions(
  ctx: Context,
  required: Record<string, string | undefined>,
): void {
  for (const [name, value] of Object.entries(required)) {
    if (value === undefined) {
      throw new UsageError(`Missing "--${name}"`, ctx.command);
    }
  }
}

/** `--token-url`, checked. */
export function tokenUrl(ctx: Context): string | undefined {
  return httpOption(ctx, "token-url");
}

/** The http(s) URL option `--name`, checked, if given. */
export function httpOption(ctx: Context, name: string): string | undefined {
  const url = option(ctx, name);
  if (url === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`Option "--${name}" is not a URL`, ctx.command);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UsageError(
      `Option "--${name}" must be an http(s) URL`,
      ctx.command,
    );
  }
  return url;
}

/**
 * Waits for `work` and for the client's saves still retried in the
 * background (a store outage): the process exits right after, so they must
 * land first. A save that gave up fails the command.
 */
export async function persisted<T>(
  client: TokenClient,
  work: Promise<T>,
): Promise<T> {
  let failure: unknown;
  const onFailed: EventListener = (event) => {
    failure ??= (event as CustomEvent<{ error: unknown }>).detail.error;
  };
  client.addEventListener("persistfailed", onFailed);
  try {
    const result = await work;
    await client.flush();
    if (failure !== undefined) throw failure;
    return result;
  } finally {
    client.removeEventListener("persistfailed", onFailed);
  }
}

/** A client for a stored token: credentials from options, token or env. */
function clientFor(
  ctx: Context,
  store: TokenStore,
  token: OAuthToken,
): TokenClient {
  const clientId = option(ctx, "client-id") ?? token.clientId ??
    (ctx.env.TOKENSTORE_CLIENT_ID || undefined);
  const clientSecret = option(ctx, "client-secret") ?? token.clientSecret ??
    (ctx.env.TOKENSTORE_CLIENT_SECRET || undefined);
  if (clientId === undefined || clientSecret === undefined) {
    throw new UsageError(
      `Token "${token.id}" has no stored ${
        clientId === undefined ? "client id" : "client secret"
      }: pass "--${clientId === undefined ? "client-id" : "client-secret"}"`,
      ctx.command,
    );
  }
  return new TokenClient({
    store,
    clientId,
    clientSecret,
    dataCenter: dataCenter(ctx, token.apiDomain),
    tokenUrl: tokenUrl(ctx),
  });
}

async function storedToken(
  store: TokenStore,
  id: string,
): Promise<OAuthToken> {
  const token = await store.findTokenById(id);
  if (token === null) throw new Error(`No token with id "${id}"`);
  return token;
}

/** `exchange --code CODE ...`. */
export const exchange: Command = {
  name: "exchange",
  summary: "Exchange a Zoho self-client grant token and store the tokens",
  options: {
    ...ENDPOINT_OPTIONS,
    code: "string",
    user: "string",
    "redirect-url": "string",
  },
  help:
    `Usage: ${PROGRAM} exchange --code CODE --client-id ID --client-secret SECRET
         [--dc DC] [--token-url URL] [--user NAME] [--redirect-url URL]
         [--store URL]

Exchanges a grant token (authorization code), such as one generated for a
Zoho self client in the API console, for a refresh and an access token, and
stores them with the client credentials. Prints the new token's id.

Options:
  --code CODE            The grant token (required)
  --client-id ID         OAuth client id (required; or TOKENSTORE_CLIENT_ID)
  --client-secret SECRET OAuth client secret (required; or
                         TOKENSTORE_CLIENT_SECRET)
  --user NAME            User name to store the token under, usually the
                         user's e-mail
  --redirect-url URL     Redirect URL registered for the client, if any
${endpointHelp("US")}`,
  async run(ctx) {
    noPositionals(ctx);
    const code = option(ctx, "code");
    const { clientId, clientSecret } = givenCredentials(ctx);
    requireOptions(ctx, {
      code,
      "client-id": clientId,
      "client-secret": clientSecret,
    });
    const dc = dataCenter(ctx);
    const url = tokenUrl(ctx);
    return await withStore(ctx, async (store) => {
      const client = new TokenClient({
        store,
        clientId: clientId!,
        clientSecret: clientSecret!,
        redirectUrl: option(ctx, "redirect-url"),
        dataCenter: dc,
        tokenUrl: url,
      });
      const token = await persisted(
        client,
        client.exchangeGrantToken(code!, { userName: option(ctx, "user") }),
      );
      const user = token.userName ? ` for "${token.userName}"` : "";
      ctx.print(
        `Stored token "${token.id}"${user}: access token expires ${
          expiryText(token, ctx.now())
        }`,
      );
      return 0;
    });
  },
};

/** `refresh <id>`. */
export const refresh: Command = {
  name: "refresh",
  summary: "Refresh one token's access token now",
  options: { ...ENDPOINT_OPTIONS },
  help:
    `Usage: ${PROGRAM} refresh <id> [--client-id ID] [--client-secret SECRET]
         [--dc DC] [--token-url URL] [--store URL]

Refreshes the access token of the token with this id now, whatever its
expiry, and stores the result (a rotated refresh token too).

Options:
${CREDENTIAL_HELP}
${ENDPOINT_HELP}`,
  async run(ctx) {
    const id = oneId(ctx);
    return await withStore(ctx, async (store) => {
      const token = await storedToken(store, id);
      const client = clientFor(ctx, store, token);
      const fresh = await persisted(client, client.refresh({ id }));
      ctx.print(
        `Refreshed token "${id}": access token expires ${
          expiryText(fresh, ctx.now())
        }`,
      );
      return 0;
    });
  },
};

/** `revoke <id>`. */
export const revoke: Command = {
  name: "revoke",
  summary: "Revoke one token at the token endpoint and delete it",
  options: { ...ENDPOINT_OPTIONS },
  help: `Usage: ${PROGRAM} revoke <id> [--client-id ID] [--client-secret SECRET]
         [--dc DC] [--token-url URL] [--store URL]

Revokes the token's refresh token (or, without one, its access token) at
the token endpoint (the token URL + "/revoke"), then deletes the token from
the store.

Options:
${CREDENTIAL_HELP}
${ENDPOINT_HELP}`,
  async run(ctx) {
    const id = oneId(ctx);
    return await withStore(ctx, async (store) => {
      const token = await storedToken(store, id);
      await clientFor(ctx, store, token).revoke({ id });
      ctx.print(`Revoked token "${id}" and deleted it from the store`);
      return 0;
    });
  },
};
