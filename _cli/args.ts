/**
 * A small command-line parser: `--name value`, `--name=value`, boolean
 * flags, `-h`, and `--` to end options. Error messages name the option but
 * never echo a value (values may be secrets).
 *
 * @module
 */

/** Bad usage: exit code 2. */
export class UsageError extends Error {
  /**
   * Creates a usage error.
   *
   * @param message What is wrong, one line.
   * @param command The command whose `--help` explains the usage.
   */
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Option names (without `--`) and whether each takes a value. */
export type OptionSpec = Record<string, "string" | "boolean">;

/** Parsed options and positional arguments. */
export interface ParsedArgs {
  /** Option values by name; booleans are `true` when given. */
  values: Record<string, string | boolean | undefined>;
  /** The arguments that are not options. */
  positionals: string[];
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: OptionSpec = {
  store: "string",
  encrypted: "boolean",
  help: "boolean",
};

/**
 * Parses `args` against `spec` (plus {@linkcode GLOBAL_OPTIONS}).
 *
 * @throws {UsageError} for an unknown option, a missing value, or a value
 * given to a flag.
 */
export function parseArgs(
  args: readonly string[],
  spec: OptionSpec,
  command?: string,
): ParsedArgs {
  const all: OptionSpec = { ...GLOBAL_OPTIONS, ...spec };
  const values: Record<string, string | boolean | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === "-h") {
      values.help = true;
      continue;
    }
    if (!arg.startsWith("--") || arg === "-") {
      if (arg.startsWith("-") && arg !== "-") {
        throw new UsageError(
          `Unknown option "${arg.slice(0, 2)}"`,
          command,
        );
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = Object.hasOwn(all, name) ? all[name] : undefined;
    if (kind === undefined) {
      const shown = name.length > 40 ? `${name.slice(0, 40)}…` : name;
      throw new UsageError(`Unknown option "--${shown}"`, command);
    }
    if (kind === "boolean") {
      if (eq >= 0) {
        throw new UsageError(`Option "--${name}" takes no value`, command);
      }
      values[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      value = args[i + 1];
      if (value === undefined || value.startsWith("--")) {
        throw new UsageError(`Option "--${name}" needs a value`, command);
      }
      i++;
    }
    if (value === "") {
      throw new UsageError(`Option "--${name}" needs a value`, command);
    }
    values[name] = value;
  }
  return { values, positionals };
}

/**
 * Splits the command name off the arguments: the first argument that is not
 * an option or the value of an option in `valued` (names without `--`).
 */
export function splitCommand(
  args: readonly string[],
  valued: ReadonlySet<string>,
): { command: string | undefined; rest: string[] } {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") break;
    if (
      arg.startsWith("--") && !arg.includes("=") && valued.has(arg.slice(2))
    ) {
      i++;
      continue;
    }
    if (arg.startsWith("-")) continue;
    return { command: arg, rest: [...args.slice(0, i), ...args.slice(i + 1)] };
  }
  return { command: undefined, rest: [...args] };
}
