/**
 * Tokens larger than one Deno KV value (private). Deno KV refuses a value
 * over 64 KiB, and V8 may serialise any string with two bytes per UTF-16
 * unit, so a token with eight fields of 4,096 characters (which the token
 * model accepts) can take 65.6 KiB. Such a record keeps its largest
 * unindexed fields apart, each at `[...prefix, "part", id, field]`, and
 * lists them under {@linkcode SPILLED}; the fields the indexes and the
 * matching rules read stay in the record, so lookups never need the parts.
 *
 * The parts are written in the same atomic operation as the record, so they
 * carry its versionstamp: a read takes the record and its parts in one
 * `getMany` and knows them consistent when every versionstamp is the same.
 * Records that fit (every token of a usual size) are stored as they are.
 *
 * @module
 */

import { TokenStoreError } from "../../core/errors.ts";
import {
  type OAuthToken,
  type OAuthTokenInit,
  TOKEN_FIELDS,
} from "../../core/token.ts";
import {
  decodeToken,
  type KvKeys,
  MAX_VALUE_BYTES,
  NATURAL_FIELDS,
} from "./keys.ts";
import type { KvConsistencyLevel, KvEntry, KvLike } from "./kv_like.ts";

/** Property of a stored record listing the fields stored apart. */
export const SPILLED = "$spilled";

/** Fields that may be stored apart: those no index or matching rule reads. */
export const SPILLABLE: readonly (keyof OAuthTokenInit)[] = TOKEN_FIELDS
  .filter((field) =>
    field !== "id" && field !== "expiresAt" && !NATURAL_FIELDS.includes(field)
  );

/**
 * An upper bound of the bytes V8 serialises a record into: two per UTF-16
 * unit of every string (whatever it holds, a string may be stored two-byte),
 * plus tags and lengths.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { valueBytes } from "./spill.ts";
 *
 * assertEquals(valueBytes({ userName: "ada" }), 54);
 * ```
 */
export function valueBytes(value: Readonly<Record<string, unknown>>): number {
  let total = 16;
  for (const [name, v] of Object.entries(value)) {
    total += 8 + name.length * 2;
    if (typeof v === "string") total += 8 + v.length * 2;
    else if (Array.isArray(v)) total += valueBytes({ ...v });
    else total += 9;
  }
  return total;
}

/** A record as stored: what fits in one value, and the fields stored apart. */
export interface SplitRecord {
  /** The stored record (with {@linkcode SPILLED} when `parts` is not empty). */
  readonly value: Record<string, unknown>;
  /** `[field, value]` of each field stored apart. */
  readonly parts: readonly (readonly [string, string])[];
}

/**
 * Splits a token's record so that every piece fits in a Deno KV value: the
 * largest of {@linkcode SPILLABLE} go apart until the rest fits.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OAuthToken } from "@tokenstore/tokenstore";
 * import { splitRecord } from "./spill.ts";
 *
 * // A usual token fits in one value, as it is.
 * const token = new OAuthToken({ userName: "ada", refreshToken: "1000.r" });
 * assertEquals(splitRecord(token.toRecord()).parts, []);
 *
 * // Eight fields of 4,096 characters do not: the largest unindexed go apart.
 * const wide = "x".repeat(4096);
 * const { value, parts } = splitRecord({
 *   userName: wide,
 *   clientId: wide,
 *   clientSecret: wide,
 *   refreshToken: wide,
 *   accessToken: wide,
 *   grantToken: wide,
 *   redirectUrl: wide,
 *   apiDomain: wide,
 * });
 * assertEquals(parts.map(([field]) => field), ["clientSecret"]);
 * assertEquals(value["$spilled"], ["clientSecret"]);
 * ```
 *
 * @throws {TokenStoreError} `INVALID_TOKEN` if even that does not fit (not
 * for a token the model accepts: the fields kept take 41 KiB at most).
 */
export function splitRecord(record: OAuthTokenInit): SplitRecord {
  const value: Record<string, unknown> = { ...record };
  const parts: [string, string][] = [];
  const candidates = SPILLABLE
    .filter((field) => typeof value[field] === "string")
    .sort((a, b) => (value[b] as string).length - (value[a] as string).length);
  const fits = () =>
    valueBytes(value) + (parts.length > 0 ? 64 : 0) <= MAX_VALUE_BYTES;
  while (!fits() && candidates.length > 0) {
    const field = candidates.shift()!;
    parts.push([field, value[field] as string]);
    delete value[field];
  }
  if (parts.length > 0) value[SPILLED] = parts.map(([field]) => field);
  if (!fits()) {
    throw new TokenStoreError(
      "INVALID_TOKEN",
      `Invalid token: it would take about ${
        Math.ceil(valueBytes(value) / 1024)
      } KiB in Deno KV, at most ${MAX_VALUE_BYTES / 1024} KiB fit`,
    );
  }
  return { value, parts };
}

/**
 * The fields a stored record keeps apart. Strict (for reads): a malformed
 * list is `CORRUPT`; otherwise (for deletes) only its valid names, so that a
 * corrupt token can still be deleted with everything it owns.
 */
export function spilledFields(
  id: string,
  value: unknown,
  strict: boolean,
): string[] {
  if (value === null || typeof value !== "object" || !(SPILLED in value)) {
    return [];
  }
  const list = (value as Record<string, unknown>)[SPILLED];
  const names = Array.isArray(list)
    ? list.filter((name): name is string =>
      (SPILLABLE as readonly unknown[]).includes(name)
    )
    : [];
  const valid = Array.isArray(list) && names.length === list.length &&
    new Set(names).size === names.length;
  if (strict && !valid) {
    throw new TokenStoreError(
      "CORRUPT",
      `Cannot read token "${id}" from Deno KV: its list of fields stored apart is malformed`,
    );
  }
  return [...new Set(names)];
}

/**
 * The whole token of a stored entry: the record, with its fields stored
 * apart read in one `getMany` with the record. `undefined` when the record
 * changed since `entry` was read (read it again). A record with nothing
 * stored apart costs no read: it is `decoded` when given, else decoded here.
 *
 * @throws {TokenStoreError} `CORRUPT` when a part is missing or was not
 * written with the record.
 */
export async function joinSpilled(
  kv: KvLike,
  keys: KvKeys,
  id: string,
  entry: KvEntry<unknown>,
  consistency: KvConsistencyLevel,
  decoded?: OAuthToken,
): Promise<OAuthToken | undefined> {
  const fields = spilledFields(id, entry.value, true);
  if (fields.length === 0) return decoded ?? decodeToken(id, entry.value);
  const [record, ...parts] = await kv.getMany(
    [keys.token(id), ...fields.map((field) => keys.part(id, field))],
    { consistency },
  );
  if (record.versionstamp !== entry.versionstamp) return undefined;
  const whole: Record<string, unknown> = {
    ...(entry.value as Record<string, unknown>),
  };
  delete whole[SPILLED];
  for (const [i, part] of parts.entries()) {
    if (part.versionstamp !== record.versionstamp) {
      // an eventual read may see the record and its parts at different times
      if (consistency === "eventual") return undefined;
      throw new TokenStoreError(
        "CORRUPT",
        `Cannot read token "${id}" from Deno KV: its field "${
          fields[i]
        }" stored apart is missing or was not written with it`,
      );
    }
    whole[fields[i]] = part.value;
  }
  return decodeToken(id, whole);
}
