/**
 * The `tokenstore` command-line tool: list, inspect, delete, migrate,
 * exchange, refresh and revoke OAuth tokens in any store this package
 * supports, named by a store URL (the forms `openStore` accepts).
 *
 * ```sh
 * deno run -A --unstable-kv jsr:@tokenstore/tokenstore/cli <command> [--store URL] [options]
 * ```
 *
 * (`--unstable-kv` is needed for `kv:` stores only.)
 *
 * Commands: `list`, `show <id>`, `delete <id>`, `purge --yes`,
 * `migrate --from URL --to URL`, `exchange --code CODE ...`,
 * `connect --user NAME ...`, `refresh <id>`, `status`, `keep-alive`,
 * `revoke <id>`, `rekey`, `help [command]`. `--store` defaults to the
 * `TOKEN_STORE_URL` environment variable. Exit codes: 0 on success, 1 on
 * failure, 2 on bad usage; errors are one line on standard error. Secret
 * values (client secrets, tokens, passwords, auth tokens) are never printed.
 *
 * @example Run the CLI from code
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { main } from "@tokenstore/tokenstore/cli";
 *
 * const lines: string[] = [];
 * const code = await main(["list", "--store", "memory:"], {
 *   stdout: (text) => lines.push(text),
 * });
 * assertEquals(code, 0);
 * assertEquals(lines.join(""), "No tokens in memory:\n");
 * ```
 *
 * @module
 */

import { scrub } from "./core/_redact.ts";
import { parseArgs, splitCommand, UsageError } from "./_cli/args.ts";
import { type Command, PROGRAM } from "./_cli/command.ts";
import {
  type CliIo,
  type Context,
  resolveIo,
  urlSecrets,
} from "./_cli/context.ts";
import { connect } from "./_cli/connect.ts";
import { keepAlive, status } from "./_cli/health.ts";
import { migrate } from "./_cli/migrate.ts";
import { exchange, refresh, revoke } from "./_cli/oauth.ts";
import { rekey } from "./_cli/rekey.ts";
import { list, purge, remove, show } from "./_cli/tokens.ts";

export type { CliIo };

const COMMANDS: readonly Command[] = [
  list,
  show,
  remove,
  purge,
  migrate,
  exchange,
  connect,
  refresh,
  revoke,
  status,
  keepAlive,
  rekey,
];

/** Options that take a value, in any command (to find the command name). */
const VALUED = new Set<string>(
  COMMANDS.flatMap((c) =>
    Object.entries(c.options).filter(([, kind]) => kind === "string").map((
      [name],
    ) => name)
  ).concat("store"),
);

const GLOBAL_HELP = `Usage: ${PROGRAM} <command> [--store URL] [options]

Run it with: deno run -A --unstable-kv jsr:@tokenstore/tokenstore/cli <command> ...
(--unstable-kv is needed for kv: stores only.)

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(12)}${c.summary}`).join("\n")}
  help [cmd]  Show help for a command

Global options:
  --store URL   The token store (default: the TOKEN_STORE_URL environment
                variable). One of:
                  memory:
                  kv:                      the default Deno KV database
                  kv:./tokens.db           a Deno KV file
                  file:./tokens.json       a JSON file
                  zoho-csv:./sdk_tokens.txt  the Zoho SDKs' token file
                  libsql:file:./tokens.db  libSQL / SQLite file
                  libsql::memory:
                  libsql:libsql://HOST?authToken=TOKEN  (Turso)
                  mysql://USER:PASSWORD@HOST:3306/DATABASE?table=oauthtoken
                  postgres://USER:PASSWORD@HOST:5432/DATABASE?table=oauthtoken
                  redis://:PASSWORD@HOST:6379/0?prefix=tokenstore  (rediss:// for TLS;
                    &allowVolatile=true for a Redis that keeps nothing on disk)
  --encrypted   The store is an EncryptedTokenStore: secrets are encrypted
                with the first key in TOKENSTORE_KEY, decrypted with any
                of its keys (base64, 32 bytes, separated by commas)
  -h, --help    Show help (also "${PROGRAM} <command> --help")

Exit codes: 0 success, 1 failure, 2 bad usage. Secret values are never
printed.`;

const GLOBAL_FOOTER = `
Global options:
  --store URL   The token store (default: TOKEN_STORE_URL); see "${PROGRAM} --help"
  --encrypted   The store is encrypted with the keys in TOKENSTORE_KEY
  -h, --help    Show this help`;

function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The secrets an invocation carries, to scrub from any message. */
function invocationSecrets(
  args: readonly string[],
  env: Record<string, string | undefined>,
): string[] {
  const secrets: string[] = [];
  for (const [i, arg] of args.entries()) {
    for (const name of ["client-secret", "code", "store", "from", "to"]) {
      let value: string | undefined;
      if (arg === `--${name}`) value = args[i + 1];
      else if (arg.startsWith(`--${name}=`)) value = arg.slice(name.length + 3);
      if (value === undefined) continue;
      if (name === "client-secret" || name === "code") secrets.push(value);
      else secrets.push(...urlSecrets(value));
    }
  }
  if (env.TOKENSTORE_CLIENT_SECRET) secrets.push(env.TOKENSTORE_CLIENT_SECRET);
  if (env.TOKENSTORE_KEY) {
    secrets.push(...env.TOKENSTORE_KEY.split(/[\s,]+/).filter((k) => k));
  }
  secrets.push(...urlSecrets(env.TOKEN_STORE_URL || undefined));
  return secrets;
}

function oneLine(message: string, secrets: string[]): string {
  const line = scrub(message, secrets).replace(/\s*\n\s*/g, " ").trim();
  return line === "" ? "Unknown error" : line;
}

/**
 * Runs the CLI with `args` (without the program name) and resolves the exit
 * code: 0 on success, 1 on failure, 2 on bad usage. Errors are written to
 * standard error as one line, without stack traces or secrets.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { main } from "@tokenstore/tokenstore/cli";
 *
 * const errors: string[] = [];
 * const code = await main(["purge", "--store", "memory:"], {
 *   stderr: (text) => errors.push(text),
 * });
 * assertEquals(code, 2); // purge needs --yes
 * assertEquals(errors.join("").includes("--yes"), true);
 * ```
 *
 * @param args The arguments, e.g. `Deno.args`.
 * @param io Output writers, terminal detection, environment and clock;
 * default `Deno`'s.
 * @returns The exit code.
 */
export async function main(
  args: readonly string[],
  io: CliIo = {},
): Promise<number> {
  const resolved = resolveIo(io);
  const secrets = invocationSecrets(args, resolved.env);
  const out = (line: string) => resolved.stdout(`${line}\n`);
  const fail = (message: string, command?: string) => {
    const hint = command
      ? ` (see "${PROGRAM} ${command} --help")`
      : ` (see "${PROGRAM} --help")`;
    resolved.stderr(`error: ${oneLine(message, secrets)}${hint}\n`);
  };
  let { command: name, rest } = splitCommand(args, VALUED);
  if (name === "help") {
    const [topic, ...extra] = rest.filter((a) => !a.startsWith("-"));
    name = topic;
    rest = ["--help", ...extra];
  }
  if (name === undefined) {
    if (rest.includes("--help") || rest.includes("-h")) {
      out(GLOBAL_HELP);
      return 0;
    }
    fail("Missing command");
    return 2;
  }
  const command = findCommand(name);
  if (command === undefined) {
    fail(`Unknown command "${name.slice(0, 40)}"`);
    return 2;
  }
  try {
    const parsed = parseArgs(rest, command.options, command.name);
    if (parsed.values.help) {
      out(`${command.help}\n${GLOBAL_FOOTER}`);
      return 0;
    }
    const ctx: Context = {
      command: command.name,
      args: parsed,
      env: resolved.env,
      print: out,
      progress: resolved.stderr,
      isTerminal: resolved.isTerminal,
      now: resolved.now,
    };
    return await command.run(ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      fail(error.message, error.command ?? command.name);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    resolved.stderr(`error: ${oneLine(message, secrets)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
