/**
 * The events of a {@linkcode TokenClient}, typed: each a `CustomEvent` whose
 * `detail` holds ids, counts and errors, never a secret (the errors of this
 * package redact them). `addEventListener` and `removeEventListener` take a
 * listener whose `event.detail` is typed by the event's name.
 *
 * @example Listen to refreshes
 * ```ts
 * import { TokenClientEventTarget } from "@tokenstore/tokenstore";
 * import { assertEquals } from "@std/assert";
 *
 * const events = new TokenClientEventTarget();
 * const took: number[] = [];
 * events.addEventListener("refresh", (event) => took.push(event.detail.durationMs));
 * events.dispatchEvent(new CustomEvent("refresh", { detail: { id: "a1", rotated: false, durationMs: 42 } }));
 * assertEquals(took, [42]);
 * ```
 *
 * @module
 */

/**
 * `detail` of each event type of a {@linkcode TokenClient}.
 *
 * @example Usage
 * ```ts
 * import type { TokenClientEventMap } from "@tokenstore/tokenstore";
 * import { assertEquals } from "@std/assert";
 *
 * const detail: TokenClientEventMap["revoked"] = { id: "a1" };
 * assertEquals(detail.id, "a1");
 * ```
 */
export interface TokenClientEventMap {
  /** A token was refreshed (or a grant exchanged) and the answer accepted. */
  refresh: { id?: string; rotated: boolean; durationMs: number };
  /** A refresh failed. */
  refresherror: { id?: string; error: unknown };
  /** The server refused the stored refresh token: the user must authorise again. */
  revoked: { id: string };
  /** Issued tokens could not be saved within `persistTimeoutMs` (or not at all). */
  persistfailed: { id?: string; error: unknown };
  /** The token endpoint rate-limited a request. */
  ratelimited: { id?: string; retryAfterMs?: number };
  /** A token whose status was `failing` or `revoked` refreshed, or was authorised again. */
  recovered: { id: string };
}

/**
 * The type of a {@linkcode TokenClient} event.
 *
 * @example Usage
 * ```ts
 * import type { TokenClientEventType } from "@tokenstore/tokenstore";
 * import { assertEquals } from "@std/assert";
 *
 * const type: TokenClientEventType = "persistfailed";
 * assertEquals(type, "persistfailed");
 * ```
 */
export type TokenClientEventType = keyof TokenClientEventMap;

/**
 * A listener of the {@linkcode TokenClient} event `K`: a function or an
 * object with `handleEvent`, given a `CustomEvent` whose `detail` is typed.
 *
 * @example Usage
 * ```ts
 * import type { TokenClientListener } from "@tokenstore/tokenstore";
 * import { assertEquals } from "@std/assert";
 *
 * const ids: string[] = [];
 * const listener: TokenClientListener<"revoked"> = (event) => ids.push(event.detail.id);
 * if (typeof listener === "function") {
 *   listener(new CustomEvent("revoked", { detail: { id: "a1" } }));
 * }
 * assertEquals(ids, ["a1"]);
 * ```
 */
export type TokenClientListener<K extends TokenClientEventType> =
  | ((event: CustomEvent<TokenClientEventMap[K]>) => void)
  | { handleEvent(event: CustomEvent<TokenClientEventMap[K]>): void };

/**
 * An `EventTarget` whose `addEventListener` and `removeEventListener` are
 * typed by {@linkcode TokenClientEventMap}: `event.detail` needs no cast.
 * {@linkcode TokenClient} extends it.
 *
 * @example Usage
 * ```ts
 * import { TokenClientEventTarget } from "@tokenstore/tokenstore";
 * import { assertEquals } from "@std/assert";
 *
 * const events = new TokenClientEventTarget();
 * let seen: string | undefined;
 * events.addEventListener("revoked", (event) => seen = event.detail.id);
 * events.dispatchEvent(new CustomEvent("revoked", { detail: { id: "a1" } }));
 * assertEquals(seen, "a1");
 * ```
 */
export class TokenClientEventTarget extends EventTarget {
  /**
   * Adds a listener of event `type`, typed by {@linkcode TokenClientEventMap}:
   * `event.detail` needs no cast.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, TokenClient } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const client = new TokenClient({ store: new MemoryTokenStore(), clientId: "1000.C", clientSecret: "s" });
   * let seen: string | undefined;
   * client.addEventListener("revoked", (event) => seen = event.detail.id);
   * client.dispatchEvent(new CustomEvent("revoked", { detail: { id: "a1" } }));
   * assertEquals(seen, "a1");
   * ```
   *
   * @param type The event type.
   * @param listener Called with the `CustomEvent`.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener<K extends TokenClientEventType>(
    type: K,
    listener: TokenClientListener<K> | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Adds a listener of any other event type.
   *
   * @param type The event type.
   * @param listener Called with the event.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes a listener added with `addEventListener`.
   *
   * @example Usage
   * ```ts
   * import { MemoryTokenStore, TokenClient, type TokenClientListener } from "@tokenstore/tokenstore";
   * import { assertEquals } from "@std/assert";
   *
   * const client = new TokenClient({ store: new MemoryTokenStore(), clientId: "1000.C", clientSecret: "s" });
   * let calls = 0;
   * const listener: TokenClientListener<"refresh"> = () => calls++;
   * client.addEventListener("refresh", listener);
   * client.removeEventListener("refresh", listener);
   * client.dispatchEvent(new CustomEvent("refresh", { detail: { rotated: false, durationMs: 1 } }));
   * assertEquals(calls, 0);
   * ```
   *
   * @param type The event type.
   * @param listener The listener added.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener<K extends TokenClientEventType>(
    type: K,
    listener: TokenClientListener<K> | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes a listener of any other event type.
   *
   * @param type The event type.
   * @param listener The listener added.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }
}
