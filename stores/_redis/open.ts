/**
 * Opening a Redis server (private): loading `npm:redis` on open, a client
 * that fails commands at once while the server is unreachable (no offline
 * queue) and reconnects within half a second, and the persistence check.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import { loadDriver } from "../_sql/driver.ts";
import { displayStoreUrl } from "../_store_url.ts";
import { backendError, type NodeRedisClientLike } from "./client.ts";
import { closeClient } from "./watch.ts";

/**
 * The password of a `redis://` URL, to scrub from messages.
 *
 * @throws {TypeError} for a URL that is not `redis://` or `rediss://`.
 */
export function checkRedisUrl(url: unknown): string | undefined {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === "string" ? new URL(url) : undefined;
  } catch {
    // below
  }
  if (
    parsed === undefined ||
    (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") ||
    parsed.hostname === ""
  ) {
    throw new TypeError(
      `Invalid Redis URL ${
        JSON.stringify(
          typeof url === "string" ? displayStoreUrl(url).slice(0, 80) : url,
        )
      }: expected redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://…`,
    );
  }
  try {
    return parsed.password ? decodeURIComponent(parsed.password) : undefined;
  } catch {
    return parsed.password;
  }
}

/**
 * Loads `npm:redis`, connects a client to `url`.
 *
 * @throws {TokenStoreError} `BACKEND` when the driver cannot be loaded or
 * the server cannot be reached.
 */
export async function connectRedis(
  url: string,
  password: string | undefined,
): Promise<NodeRedisClientLike> {
  const { createClient } = await loadDriver<
    { createClient(options: unknown): NodeRedisClientLike }
  >("redis", "Redis");
  let connected = false;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 10_000,
      // while opening, give up after three attempts; once open, retry
      // forever, at most 0.5 s apart, so that an outage ends quickly
      reconnectStrategy: (retries: number, cause: unknown) =>
        !connected && retries >= 2
          ? (cause instanceof Error ? cause : new Error(String(cause)))
          : Math.min(25 * 2 ** retries, 500),
    },
  });
  client.on("error", () => {});
  try {
    await client.connect();
    connected = true;
    return client;
  } catch (error) {
    await closeClient(client).catch(() => {});
    throw backendError(
      `connect to ${displayStoreUrl(url)}`,
      error,
      [password],
    );
  }
}

/**
 * Refuses a server that keeps nothing on disk: AOF off in `INFO
 * persistence` and an empty `CONFIG GET save` (a server that forbids
 * `CONFIG` is trusted).
 *
 * @throws {TokenStoreError} `BACKEND` saying so.
 */
export async function checkPersistence(
  client: NodeRedisClientLike,
  shown: string,
  password: string | undefined,
): Promise<void> {
  let info: string;
  try {
    info = String(await client.sendCommand(["INFO", "persistence"]));
  } catch (error) {
    throw backendError(`read the persistence of ${shown}`, error, [password]);
  }
  if (/^aof_enabled:1\s*$/m.test(info)) return;
  let save: unknown;
  try {
    save = await client.sendCommand(["CONFIG", "GET", "save"]);
  } catch {
    return; // CONFIG not allowed (managed servers): cannot tell
  }
  const value = Array.isArray(save)
    ? save[1]
    : (save as Record<string, unknown> | null)?.save;
  if (typeof value === "string" && value.trim() !== "") return;
  throw new TokenStoreError(
    "BACKEND",
    `Cannot use Redis at ${shown}: it keeps nothing on disk (AOF is off and "save" is empty), so every token would be lost at its next restart; enable "appendonly yes" or a "save" schedule, or pass allowVolatile: true`,
  );
}
