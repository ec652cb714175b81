/**
 * `connect`: connects one account from a terminal — prints the authorization
 * URL, takes the provider's callback on the redirect URL's loopback port,
 * and stores the token (authorization code flow with PKCE, as
 * `client.authorize` / `client.handleCallback` do in a web app).
 *
 * @module
 */

import { isLoopbackHost } from "../core/_client/origins.ts";
import { OAuthError } from "../core/errors.ts";
import { TokenClient } from "../core/token_client.ts";
import { UsageError } from "./args.ts";
import { type Command, PROGRAM } from "./command.ts";
import { noPositionals, withStore } from "./context.ts";
import { expiryText } from "./format.ts";
import {
  dataCenter,
  ENDPOINT_OPTIONS,
  endpointHelp,
  givenCredentials,
  httpOption,
  option,
  persisted,
  requireOptions,
  tokenUrl,
} from "./oauth.ts";

/** Where the provider sends the browser back unless told otherwise. */
const DEFAULT_REDIRECT = "http://localhost:8000/callback";
/** How long the command waits for the callback (the state's lifetime). */
const WAIT_MS = 600_000;

/** `connect --user NAME [--scope S] ...`. */
export const connect: Command = {
  name: "connect",
  summary: "Connect an account in the browser and store its tokens",
  options: {
    ...ENDPOINT_OPTIONS,
    user: "string",
    scope: "string",
    "redirect-url": "string",
    "authorize-url": "string",
  },
  help:
    `Usage: ${PROGRAM} connect --user NAME --client-id ID --client-secret SECRET
         [--scope SCOPES] [--redirect-url URL] [--dc DC]
         [--authorize-url URL --token-url URL] [--store URL]

Prints the provider's authorization URL: open it in a browser, sign in and
allow. The provider sends the browser back to the redirect URL, which must be
http on this machine (localhost or 127.0.0.1, with a port) and registered for
the client; this command listens there, exchanges the code (PKCE) and stores
the token under NAME. It waits up to 10 minutes.

Options:
  --user NAME            User name to store the token under (required)
  --scope SCOPES         Scopes, separated by commas or spaces
                         (default: ZohoCRM.users.READ)
  --client-id ID         OAuth client id (required; or TOKENSTORE_CLIENT_ID)
  --client-secret SECRET OAuth client secret (required; or
                         TOKENSTORE_CLIENT_SECRET)
  --redirect-url URL     The client's redirect URL (default ${DEFAULT_REDIRECT})
  --authorize-url URL    Authorization endpoint (default: the data center's;
                         required with --token-url)
${endpointHelp("US")}`,
  async run(ctx) {
    noPositionals(ctx);
    const user = option(ctx, "user");
    const { clientId, clientSecret } = givenCredentials(ctx);
    requireOptions(ctx, {
      user,
      "client-id": clientId,
      "client-secret": clientSecret,
    });
    const redirect = new URL(
      httpOption(ctx, "redirect-url") ?? DEFAULT_REDIRECT,
    );
    if (
      redirect.protocol !== "http:" || !isLoopbackHost(redirect.hostname) ||
      redirect.port === ""
    ) {
      throw new UsageError(
        'Option "--redirect-url" must be http on localhost or 127.0.0.1 with a port',
        ctx.command,
      );
    }
    const url = tokenUrl(ctx);
    const authorizeUrl = httpOption(ctx, "authorize-url");
    if (url !== undefined && authorizeUrl === undefined) {
      throw new UsageError(
        'Missing "--authorize-url": it is needed with "--token-url"',
        ctx.command,
      );
    }
    const scope = (option(ctx, "scope") ?? "ZohoCRM.users.READ")
      .split(/[\s,]+/).filter((s) => s !== "");
    const dc = dataCenter(ctx);
    return await withStore(ctx, async (store) => {
      const client = new TokenClient({
        store,
        clientId: clientId!,
        clientSecret: clientSecret!,
        redirectUrl: redirect.href,
        dataCenter: dc,
        tokenUrl: url,
        authorizeUrl,
      });
      const { url: authorization, cookie } = await client.authorize({
        scope,
        userName: user,
      });
      const token = await persisted(
        client,
        awaitCallback(client, redirect, cookie.split(";")[0], () =>
          ctx.print(
            `Open this URL in a browser to connect "${user}":\n${authorization.href}`,
          )),
      );
      ctx.print(
        `Stored token "${token.id}" for "${token.userName}": access token expires ${
          expiryText(token, ctx.now())
        }`,
      );
      return 0;
    });
  },
};

/**
 * Listens on `redirect`'s loopback port (calling `listening` once it does)
 * until a callback there completes, or is refused: the error ends the
 * command. Then stops.
 */
async function awaitCallback(
  client: TokenClient,
  redirect: URL,
  cookie: string,
  listening: () => void,
) {
  const controller = new AbortController();
  const { promise, resolve, reject } = Promise.withResolvers<
    Awaited<ReturnType<TokenClient["handleCallback"]>>["token"]
  >();
  const timer = setTimeout(
    () => reject(new Error("No callback came within 10 minutes: run it again")),
    WAIT_MS,
  );
  const server = Deno.serve({
    hostname: redirect.hostname.replace(/^\[|\]$/g, ""),
    port: Number(redirect.port),
    signal: controller.signal,
    onListen: listening,
  }, async (request) => {
    const url = new URL(request.url);
    if (url.pathname !== redirect.pathname) {
      return new Response("Not found", { status: 404 });
    }
    try {
      // the flow is bound to this process: its cookie stands for the browser's
      const { token } = await client.handleCallback(
        new Request(request.url, { headers: { cookie } }),
      );
      resolve(token);
      return page("Connected. You can close this window.", 200);
    } catch (error) {
      reject(error);
      const code = error instanceof OAuthError ? error.code : "error";
      return page(`Not connected: ${code}. See the terminal.`, 400);
    }
  });
  try {
    return await promise;
  } finally {
    clearTimeout(timer);
    // let the page reach the browser, then stop listening
    setTimeout(() => controller.abort(), 100);
    await server.finished;
  }
}

function page(text: string, status: number): Response {
  return new Response(
    `<!doctype html><meta charset="utf-8"><title>tokenstore</title><p>${text}</p>`,
    { status, headers: { "content-type": "text/html; charset=utf-8" } },
  );
}
