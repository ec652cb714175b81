/**
 * What every CLI command gets: output streams, the environment, parsed
 * arguments, and opening stores with URL errors turned into usage errors.
 *
 * @module
 */

import { EncryptedTokenStore } from "../core/encrypted_token_store.ts";
import type { TokenStore } from "../core/token_store.ts";
import { openStore } from "../stores/open_store.ts";
import { displayStoreUrl, parseStoreUrl } from "../stores/_store_url.ts";
import { type ParsedArgs, UsageError } from "./args.ts";

/**
 * Where the CLI writes and what it reads from its surroundings.
 *
 * @example Capture the output
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type CliIo, main } from "@tokenstore/tokenstore/cli";
 *
 * let out = "";
 * const io: CliIo = { stdout: (text) => out += text, env: {} };
 * await main(["list", "--store", "memory:"], io);
 * assertEquals(out, "No tokens in memory:\n");
 * ```
 */
export interface CliIo {
  /** Writes text to standard output as it is (no newline added). */
  stdout?: (text: string) => void;
  /** Writes text to standard error as it is (no newline added). */
  stderr?: (text: string) => void;
  /** Whether standard error is a terminal (progress bars are shown then). */
  isTerminal?: boolean;
  /** Environment variables; default `Deno.env`. */
  env?: Record<string, string | undefined>;
  /** The current time in epoch milliseconds; default `Date.now`. */
  now?: () => number;
}

/** A command's view of the invocation. */
export interface Context {
  /** The command name. */
  command: string;
  /** Options and positionals. */
  args: ParsedArgs;
  /** Environment variables. */
  env: Record<string, string | undefined>;
  /** Writes a line to standard output. */
  print(line: string): void;
  /** Writes raw text to standard error (progress). */
  progress(text: string): void;
  /** Whether standard error is a terminal. */
  isTerminal: boolean;
  /** The current time. */
  now(): number;
}

function writer(stream: { writeSync(p: Uint8Array): number }) {
  const encoder = new TextEncoder();
  return (text: string): void => {
    let bytes = encoder.encode(text);
    while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
  };
}

/** Fills in the defaults of {@linkcode CliIo} from `Deno`. */
export function resolveIo(io: CliIo = {}): Required<CliIo> {
  let env = io.env;
  if (env === undefined) {
    try {
      env = Deno.env.toObject();
    } catch {
      env = {};
    }
  }
  let isTerminal = io.isTerminal;
  if (isTerminal === undefined) {
    try {
      isTerminal = Deno.stderr.isTerminal();
    } catch {
      isTerminal = false;
    }
  }
  return {
    stdout: io.stdout ?? writer(Deno.stdout),
    stderr: io.stderr ?? writer(Deno.stderr),
    isTerminal,
    env,
    now: io.now ?? Date.now,
  };
}

/** The secret parts of a store URL: its password and `authToken`. */
export function urlSecrets(url: string | undefined): string[] {
  if (url === undefined) return [];
  try {
    const spec = parseStoreUrl(url);
    if (spec.kind === "mysql" || spec.kind === "postgres") {
      return spec.password ? [spec.password] : [];
    }
    if (spec.kind === "libsql") return spec.authToken ? [spec.authToken] : [];
  } catch {
    // A malformed URL: hide everything after the scheme that looks secret.
    const at = url.lastIndexOf("@");
    if (at > 0) return [url.slice(0, at)];
  }
  return [];
}

/** The store URL of `--store`, else `TOKEN_STORE_URL`. */
export function storeUrl(ctx: Context, option = "store"): string {
  const url = (ctx.args.values[option] as string | undefined) ??
    (ctx.env.TOKEN_STORE_URL || undefined);
  if (url === undefined) {
    throw new UsageError(
      `No token store: pass "--${option} URL" or set "TOKEN_STORE_URL"`,
      ctx.command,
    );
  }
  return url;
}

/** How {@linkcode openCliStore} wraps the store it opens. */
export interface OpenCliStoreOptions {
  /** Wrap it in an {@linkcode EncryptedTokenStore} keyed by `TOKENSTORE_KEY`. */
  encrypted?: boolean;
  /** With `encrypted`: read secrets that are not encrypted as plaintext. */
  acceptPlaintext?: boolean;
}

/**
 * Opens a store, turning a bad URL or a missing or bad `TOKENSTORE_KEY`
 * into a {@linkcode UsageError}.
 *
 * @param ctx The invocation (environment, command).
 * @param url The store URL.
 * @param options Encryption.
 */
export async function openCliStore(
  ctx: Context,
  url: string,
  options: OpenCliStoreOptions = {},
): Promise<TokenStore> {
  try {
    parseStoreUrl(url);
  } catch (error) {
    throw new UsageError((error as Error).message, ctx.command);
  }
  let keys: string | undefined;
  if (options.encrypted) {
    keys = ctx.env.TOKENSTORE_KEY;
    if (!keys || keys.trim() === "") {
      throw new UsageError(
        'Cannot encrypt tokens: set "TOKENSTORE_KEY" to base64 keys of 32 bytes, separated by commas',
        ctx.command,
      );
    }
  }
  const store = await openStore(url);
  if (keys === undefined) return store;
  try {
    return new EncryptedTokenStore(store, {
      keys,
      acceptPlaintext: options.acceptPlaintext,
    });
  } catch (error) {
    await store.close?.();
    throw new UsageError(
      `Invalid "TOKENSTORE_KEY": ${(error as Error).message}`,
      ctx.command,
    );
  }
}

/** A store URL safe to print. */
export function showUrl(url: string): string {
  return displayStoreUrl(url);
}

/**
 * Runs `body` with the store named by `--store` (or `TOKEN_STORE_URL`) and
 * closes it afterwards.
 */
export async function withStore<T>(
  ctx: Context,
  body: (store: TokenStore) => Promise<T>,
): Promise<T> {
  const store = await openCliStore(ctx, storeUrl(ctx), {
    encrypted: ctx.args.values.encrypted === true,
  });
  try {
    return await body(store);
  } finally {
    await store.close?.();
  }
}

/** The single positional `<id>` a command takes. */
export function oneId(ctx: Context): string {
  const [id, ...extra] = ctx.args.positionals;
  if (id === undefined) {
    throw new UsageError(
      `Missing token id: "${ctx.command} <id>"`,
      ctx.command,
    );
  }
  if (extra.length > 0) {
    throw new UsageError(
      `Too many arguments: "${ctx.command}" takes one token id`,
      ctx.command,
    );
  }
  if (!/^[A-Za-z0-9_-]{1,10}$/.test(id)) {
    throw new UsageError(
      `Invalid token id: expected 1 to 10 characters of A-Z, a-z, 0-9, "_" or "-"`,
      ctx.command,
    );
  }
  return id;
}

/** Fails with a usage error when positionals were given. */
export function noPositionals(ctx: Context): void {
  if (ctx.args.positionals.length > 0) {
    throw new UsageError(
      `Unexpected argument: "${ctx.command}" takes no positional arguments`,
      ctx.command,
    );
  }
}
