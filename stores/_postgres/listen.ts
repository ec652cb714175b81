/**
 * Push wake-ups for PostgreSQL: every save notifies the channel of its
 * table with the token id (`save.ts`), and a store whose waiters wait
 * listens there on ONE connection, opened when the first waiter waits
 * (postgres.js `sql.listen`, which keeps a connection of its own for all
 * its channels). A listening connection that is lost is opened again: by
 * the driver right away, and, if that fails (the server is down), by the
 * next waiter, at most once a second. Notifications sent while nobody
 * listens are lost, which only costs time: the client's waiters poll too.
 *
 * @module
 */

import { TokenWaiters } from "../_watch.ts";

/** What `sql.listen` of postgres.js resolves. */
interface ListenHandle {
  unlisten(): Promise<void>;
}

/** The part of an `npm:postgres` client that listens. */
export interface PostgresListener {
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onListen?: () => void,
  ): Promise<ListenHandle>;
}

/** How long after a failed `LISTEN` the next waiter tries again. */
const RETRY_MS = 1_000;
/** How long `close` waits for a `LISTEN` still connecting. */
const CLOSE_WAIT_MS = 1_000;

/** Whether `sql` can listen (an injected client may lack `listen`). */
function canListen(sql: unknown): sql is PostgresListener {
  return typeof (sql as Partial<PostgresListener>)?.listen === "function";
}

/** The waiters of one store and its listening connection. */
export class PostgresWatch {
  #sql: unknown;
  #channel: string;
  #waiters = new TokenWaiters();
  #handle: Promise<ListenHandle | undefined> | undefined;
  /** Whether the channel is listened to now (false while reconnecting). */
  #listening = false;
  #failedAt = -Infinity;
  #listened = false;
  #closed = false;

  /**
   * @param sql The store's client.
   * @param channel The channel its saves notify.
   */
  constructor(sql: unknown, channel: string) {
    this.#sql = sql;
    this.#channel = channel;
  }

  /** Whether a `LISTEN` is in place now. */
  get listening(): boolean {
    return this.#listening;
  }

  /** Resolves when token `id` is saved after the call (or `signal` aborts). */
  watch(id: string, signal: AbortSignal): Promise<void> {
    this.#listen();
    return this.#waiters.wait(id, signal);
  }

  /** Stops listening; waiters are left to their polls and signals. */
  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#handle;
    this.#handle = undefined;
    this.#listening = false;
    if (pending === undefined) return;
    // a LISTEN still connecting (the server down) is undone when it lands
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((done) =>
      timer = setTimeout(() => done("late"), CLOSE_WAIT_MS)
    );
    const handle = await Promise.race([pending, late]);
    clearTimeout(timer);
    if (handle === "late") {
      pending.then((h) => h?.unlisten()).catch(() => {});
      return;
    }
    await handle?.unlisten().catch(() => {});
  }

  #listen(): void {
    if (this.#closed || !canListen(this.#sql)) return;
    // A listener whose connection dropped is listened again by the driver;
    // when that failed (an outage), by the first waiter a second later.
    if (this.#handle !== undefined) return;
    if (Date.now() - this.#failedAt < RETRY_MS) return;
    this.#handle = this.#sql.listen(
      this.#channel,
      (id) => this.#waiters.wake(id),
      () => {
        this.#listening = true;
        // listening again: a save may have landed while nobody listened
        if (this.#listened) this.#waiters.wakeAll();
        this.#listened = true;
      },
    ).then(
      (handle) => handle,
      () => {
        this.#failedAt = Date.now();
        this.#handle = undefined;
        this.#listening = false;
        return undefined;
      },
    );
  }
}
