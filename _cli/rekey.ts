/**
 * The `rekey` command: re-encrypts every token of an encrypted store with the
 * first key in `TOKENSTORE_KEY` (key rotation), or encrypts a plaintext store
 * in place.
 *
 * @module
 */

import type { EncryptedTokenStore } from "../core/encrypted_token_store.ts";
import { UsageError } from "./args.ts";
import type { Command } from "./command.ts";
import { PROGRAM } from "./command.ts";
import { noPositionals, openCliStore, storeUrl } from "./context.ts";

/** `rekey [--accept-plaintext]`. */
export const rekey: Command = {
  name: "rekey",
  summary: "Re-encrypt every token with the first key in TOKENSTORE_KEY",
  options: { "accept-plaintext": "boolean", "wait-ms": "string" },
  help:
    `Usage: ${PROGRAM} rekey [--store URL] [--accept-plaintext] [--wait-ms MS]

Re-encrypts the secrets of every token in an encrypted store with the first
key in TOKENSTORE_KEY (base64 keys of 32 bytes, separated by commas; every
key decrypts). To rotate keys: put a new key first, run rekey, then drop the
old key. Tokens being refreshed by another process are skipped after
--wait-ms; run rekey again for them. Exits with 1 when a token was skipped or
cannot be decrypted with any configured key.

Options:
  --accept-plaintext  Also encrypt secrets stored without encryption (turns
                      a plaintext store into an encrypted one, in place)
  --wait-ms MS        How long to wait for a token's refresh lease; default
                      30000`,
  async run(ctx) {
    noPositionals(ctx);
    const waitText = ctx.args.values["wait-ms"] as string | undefined;
    const waitMs = waitText === undefined ? undefined : Number(waitText);
    if (waitMs !== undefined && !(Number.isInteger(waitMs) && waitMs >= 0)) {
      throw new UsageError(
        'Option "--wait-ms" must be a whole number of milliseconds',
        ctx.command,
      );
    }
    const store = await openCliStore(ctx, storeUrl(ctx), {
      encrypted: true,
      acceptPlaintext: ctx.args.values["accept-plaintext"] === true,
    }) as EncryptedTokenStore;
    try {
      const result = await store.rekey({ waitMs });
      ctx.print(
        `Re-encrypted ${result.rekeyed} of ${result.scanned} token${
          result.scanned === 1 ? "" : "s"
        } with key "${result.keyId}"`,
      );
      if (result.skipped.length > 0) {
        throw new Error(
          `Skipped tokens being refreshed (run rekey again): ${
            result.skipped.map((id) => `"${id}"`).join(", ")
          }`,
        );
      }
      if (result.corrupt.length > 0) {
        throw new Error(
          `Cannot decrypt tokens with any key in "TOKENSTORE_KEY": ${
            result.corrupt.map((id) => `"${id}"`).join(", ")
          }`,
        );
      }
      return 0;
    } finally {
      await store.close();
    }
  },
};
