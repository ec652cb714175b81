/**
 * The shape of a CLI command.
 *
 * @module
 */

import type { OptionSpec } from "./args.ts";
import type { Context } from "./context.ts";

/** One CLI command. */
export interface Command {
  /** Its name, as typed. */
  name: string;
  /** One line for the global help. */
  summary: string;
  /** Its `--help` text (without the global options). */
  help: string;
  /** Its options (besides `--store` and `--help`). */
  options: OptionSpec;
  /** Runs it; resolves the exit code. */
  run(ctx: Context): Promise<number>;
}

/** How the CLI is run, for usage lines. */
export const PROGRAM = "tokenstore";
