/**
 * The state cookie of the authorization code flow (design "Connect" rules 2
 * and 3): what the callback needs — the state, the PKCE verifier, the
 * redirect URL, the user, when it was made — sealed with AES-GCM under a key
 * derived from the client secret, so the browser holds it and nothing lives
 * in a process's memory; a cookie made by a client with another secret, or
 * changed, does not open. `HttpOnly; SameSite=Lax; Path=/; Max-Age=600`,
 * `Secure` under a `__Host-` name unless the redirect URL is `http:` on a
 * loopback host.
 *
 * @module
 */

import { isLoopbackHost } from "../_client/origins.ts";
import { fromBase64, toBase64Url } from "../_crypto/aes.ts";

/** How long a state is good for, in ms (and the cookie's `Max-Age`). */
export const STATE_TTL_MS = 600_000;

/** What the cookie carries. */
export interface SealedState {
  /** The `state` sent to the provider. */
  state: string;
  /** The PKCE code verifier. */
  verifier: string;
  /** The redirect URL the code is issued for. */
  redirectUrl: string;
  /** The user to store the token under, if known. */
  userName?: string;
  /** When the flow started (epoch ms, the client's clock). */
  createdAt: number;
}

const COOKIE = "tokenstore_state";
const SECURE_COOKIE = `__Host-${COOKIE}`;

/** Whether `url` is `http:` on a loopback host. */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === "http:" && isLoopbackHost(url.hostname);
}

/** The cookie's name for a flow that comes back to `redirectUrl`. */
export function cookieName(redirectUrl: URL): string {
  return isLoopbackHttp(redirectUrl) ? COOKIE : SECURE_COOKIE;
}

/** The `Set-Cookie` value that stores `value` (`""` and `Max-Age=0` clear it). */
export function setCookie(redirectUrl: URL, value: string): string {
  const secure = !isLoopbackHttp(redirectUrl);
  const maxAge = value === "" ? 0 : STATE_TTL_MS / 1000;
  return `${
    cookieName(redirectUrl)
  }=${value}; HttpOnly; SameSite=Lax; Path=/; Max-Age=${maxAge}${
    secure ? "; Secure" : ""
  }`;
}

/** The state cookie's value in `request`'s `Cookie` header, if any. */
export function readCookie(request: Request): string | undefined {
  const header = request.headers.get("cookie");
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name === COOKIE || name === SECURE_COOKIE) {
      const value = part.slice(eq + 1).trim();
      if (value !== "") return value;
    }
  }
  return undefined;
}

/** Seals and opens state cookies with one client's key. */
export class StateSealer {
  #key: Promise<CryptoKey>;

  /** @param secret The client secret; @param clientId names the key's use. */
  constructor(secret: string, clientId: string) {
    this.#key = deriveKey(secret, clientId);
  }

  /** The cookie value carrying `sealed`. */
  async seal(sealed: SealedState): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const plain = new TextEncoder().encode(JSON.stringify(sealed));
    const cipher = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv },
        await this.#key,
        plain,
      ),
    );
    const out = new Uint8Array(iv.length + cipher.length);
    out.set(iv);
    out.set(cipher, iv.length);
    return toBase64Url(out);
  }

  /** What `value` carries, or `null` when it was not sealed by this client or is malformed. */
  async open(value: string): Promise<SealedState | null> {
    const bytes = fromBase64(value);
    if (bytes === null || bytes.length < 12 + 16) return null;
    let plain: ArrayBuffer;
    try {
      plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes.subarray(0, 12) },
        await this.#key,
        bytes.subarray(12),
      );
    } catch {
      return null;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(plain));
    } catch {
      return null;
    }
    const s = parsed as Partial<SealedState> | null;
    if (
      s === null || typeof s !== "object" || typeof s.state !== "string" ||
      typeof s.verifier !== "string" || typeof s.redirectUrl !== "string" ||
      typeof s.createdAt !== "number" ||
      (s.userName !== undefined && typeof s.userName !== "string")
    ) {
      return null;
    }
    return s as SealedState;
  }
}

async function deriveKey(secret: string, clientId: string): Promise<CryptoKey> {
  const encoder = new TextEncoder();
  const base = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    "HKDF",
    false,
    ["deriveKey"],
  );
  return await crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: encoder.encode(clientId),
      info: encoder.encode("tokenstore state cookie v1"),
    },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}
