import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertThrows,
} from "@std/assert";
import {
  decodeKeys,
  deriveFieldKey,
  fromBase64,
  toBase64Url,
} from "../core/_crypto/aes.ts";
import { EncryptedTokenStore } from "../core/encrypted_token_store.ts";
import { OAuthToken } from "../core/token.ts";
import type { TokenStore } from "../core/token_store.ts";
import { MemoryTokenStore } from "../stores/memory.ts";
import {
  expectCorrupt,
  full,
  KEY_A,
  KEY_B,
  putRaw,
} from "./fixtures/encrypted_helpers.ts";

Deno.test("EncryptedTokenStore: any changed character of a stored value is CORRUPT, never garbage", async () => {
  const inner = new MemoryTokenStore();
  const store = new EncryptedTokenStore(inner, { keys: [KEY_A] });
  const saved = await store.saveToken(full("ada@example.com"));
  const raw = (await inner.findTokenById(saved.id!))!;
  const value = raw.refreshToken!;
  const alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:";
  for (let i = 0; i < value.length; i++) {
    const replacement =
      alphabet[(alphabet.indexOf(value[i]) + 1 + (i % 7)) % alphabet.length];
    const tampered = value.slice(0, i) + replacement + value.slice(i + 1);
    await putRaw(inner, { ...raw.toRecord(), refreshToken: tampered });
    await expectCorrupt(() => store.findTokenById(saved.id!), [
      saved.refreshToken!,
      tampered,
    ]);
  }
  const variants = [
    value.slice(0, -1), // truncated
    value + "A", // extended
    value.slice(0, 14), // only the prefix and a little
    "enc1:", // empty
    raw.accessToken!, // a valid value moved from another field
  ];
  for (const tampered of variants) {
    await putRaw(inner, { ...raw.toRecord(), refreshToken: tampered });
    const error = await expectCorrupt(() => store.findTokenById(saved.id!));
    assertMatch(
      error.message,
      new RegExp(`token "${saved.id}": field "refreshToken"`),
    );
    await expectCorrupt(() => store.getTokens());
    await expectCorrupt(() => store.findToken({ userName: "ada@example.com" }));
    assertEquals((await store.rekey()).corrupt, [saved.id!]);
  }
  // put back, it reads again
  await putRaw(inner, raw.toRecord());
  assertEquals(
    (await store.findTokenById(saved.id!))?.toRecord(),
    saved.toRecord(),
  );
});

Deno.test("EncryptedTokenStore with a wrong key is CORRUPT", async () => {
  const inner = new MemoryTokenStore();
  const saved = await new EncryptedTokenStore(inner, { keys: [KEY_A] })
    .saveToken(full("ada@example.com"));
  const wrong = new EncryptedTokenStore(inner, { keys: [KEY_B] });
  await expectCorrupt(() => wrong.findTokenById(saved.id!), [
    saved.refreshToken!,
    KEY_A,
    KEY_B,
  ]);
  await expectCorrupt(() => wrong.getTokens());
  await expectCorrupt(() => wrong.findToken({ userName: "ada@example.com" }));
  // by token value the wrong key simply finds nothing
  assertEquals(
    await wrong.findToken({ refreshToken: saved.refreshToken }),
    null,
  );
});

Deno.test("EncryptedTokenStore rejects bad keys without showing them", () => {
  const short = btoa("0123456789abcdef");
  const hex = "ab".repeat(32);
  const cases: [unknown, RegExp, string[]][] = [
    [["not base64 at all!"], /^Invalid encryption key 1 of 1: not base64$/, [
      "not base64 at all!",
    ]],
    [
      [KEY_A, short],
      /^Invalid encryption key 2 of 2: 16 bytes, expected 32 \(AES-256\)/,
      [short, KEY_A],
    ],
    [[hex], /^Invalid encryption key 1 of 1: 48 bytes, expected 32/, [hex]],
    [
      [KEY_A, 42],
      /^Invalid encryption key 2 of 2: expected a base64 string or a Uint8Array, got number$/,
      [KEY_A],
    ],
    [[], /^No encryption key given/, []],
    [" , ", /^No encryption key given/, []],
    [undefined, /^No encryption key given/, []],
    [[new Uint8Array(31)], /^Invalid encryption key 1 of 1: 31 bytes/, []],
  ];
  for (const [keys, message, hidden] of cases) {
    const error = assertThrows(
      () =>
        new EncryptedTokenStore(new MemoryTokenStore(), {
          keys: keys as string[],
        }),
      TypeError,
    );
    assertMatch(error.message, message);
    for (const text of hidden) assertFalse(error.message.includes(text));
  }
  assertThrows(
    () =>
      new EncryptedTokenStore(null as unknown as TokenStore, { keys: [KEY_A] }),
    TypeError,
    "Invalid inner store: expected a TokenStore",
  );
  // URL-safe, unpadded and raw-byte forms of a key are the same key
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const standard = btoa(String.fromCharCode(...bytes));
  const urlSafe = standard.replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
  for (const keys of [[standard], [urlSafe], [bytes], `  ${standard} \n`]) {
    new EncryptedTokenStore(new MemoryTokenStore(), { keys });
  }
});

Deno.test("EncryptedTokenStore.fromEnv reads TOKENSTORE_KEY, several keys separated by commas", async () => {
  const inner = new MemoryTokenStore();
  const env = (vars: Record<string, string>) => ({
    get: (name: string) => vars[name],
  });
  const saved = await EncryptedTokenStore.fromEnv(inner, {
    env: env({ TOKENSTORE_KEY: KEY_A }),
  })
    .saveToken(full("ada@example.com"));
  const rotated = EncryptedTokenStore.fromEnv(inner, {
    env: env({ TOKENSTORE_KEY: `${KEY_B}, ${KEY_A}` }),
  });
  assertEquals(
    (await rotated.findTokenById(saved.id!))?.toRecord(),
    saved.toRecord(),
  );
  const custom = EncryptedTokenStore.fromEnv(inner, {
    env: env({ MY_KEYS: KEY_A }),
    variable: "MY_KEYS",
  });
  assertEquals((await custom.getTokens()).length, 1);
  const error = assertThrows(
    () => EncryptedTokenStore.fromEnv(inner, { env: env({}) }),
    TypeError,
  );
  assertEquals(
    error.message,
    'Cannot encrypt tokens: environment variable "TOKENSTORE_KEY" is not set',
  );
  assertThrows(
    () =>
      EncryptedTokenStore.fromEnv(inner, {
        env: env({ TOKENSTORE_KEY: "nope" }),
      }),
    TypeError,
    "key 1 of 1",
  );
});

Deno.test("EncryptedTokenStore: plaintext values are CORRUPT unless acceptPlaintext, which migrates them", async () => {
  const inner = new MemoryTokenStore();
  const legacy = await inner.saveToken(full("ada@example.com"));
  const other = await inner.saveToken(
    new OAuthToken({ refreshToken: "1000.plain-solo", clientId: "1000.X" }),
  );
  const strict = new EncryptedTokenStore(inner, { keys: [KEY_A] });
  const error = await expectCorrupt(() => strict.findTokenById(legacy.id!), [
    legacy.refreshToken!,
  ]);
  assertMatch(
    error.message,
    /is not encrypted \(open the store with acceptPlaintext to migrate it\)/,
  );

  const migrating = new EncryptedTokenStore(inner, {
    keys: [KEY_A],
    acceptPlaintext: true,
  });
  assertEquals(
    (await migrating.findTokenById(legacy.id!))?.toRecord(),
    legacy.toRecord(),
  );
  assertEquals(
    (await migrating.findToken({ refreshToken: "1000.plain-solo" }))?.id,
    other.id,
  );
  // the next save encrypts in place
  const saved = await migrating.saveToken(
    new OAuthToken({
      refreshToken: "1000.plain-solo",
      clientId: "1000.X",
      accessToken: "1000.a",
    }),
  );
  assertEquals(saved.id, other.id);
  assertEquals((await inner.getTokens()).length, 2);
  assert(
    (await inner.findTokenById(other.id!))!.refreshToken!.startsWith("enc1:"),
  );
  // rekey encrypts the rest
  assertEquals((await migrating.rekey()).rekeyed, 1);
  assertEquals((await strict.getTokens()).length, 2);
  assertEquals(
    (await strict.findTokenById(legacy.id!))?.toRecord(),
    legacy.toRecord(),
  );
});

Deno.test("EncryptedTokenStore: a value sealed by the key but not with its synthetic IV is CORRUPT", async () => {
  const inner = new MemoryTokenStore();
  const store = new EncryptedTokenStore(inner, { keys: [KEY_A] });
  const saved = await store.saveToken(full("ada@example.com"));
  const key = await deriveFieldKey(decodeKeys([KEY_A])[0]);
  const encoder = new TextEncoder();
  const seal = async (iv: Uint8Array<ArrayBuffer>) => {
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        {
          name: "AES-GCM",
          iv,
          additionalData: encoder.encode(`enc1:${key.id}:refreshToken`),
        },
        key.aes,
        encoder.encode(saved.refreshToken!),
      ),
    );
    return `enc1:${key.id}:${toBase64Url(new Uint8Array([...iv, ...sealed]))}`;
  };
  const raw = (await inner.findTokenById(saved.id!))!;
  // the stored value is exactly this construction with the synthetic IV…
  const iv = fromBase64(raw.refreshToken!.slice(10))!.slice(0, 12);
  assertEquals(await seal(iv), raw.refreshToken);
  // …and any other IV authenticates under GCM but fails the SIV check
  await putRaw(inner, {
    ...raw.toRecord(),
    refreshToken: await seal(crypto.getRandomValues(new Uint8Array(12))),
  });
  const error = await expectCorrupt(() => store.findTokenById(saved.id!));
  assertMatch(error.message, /cannot be decrypted \(synthetic IV mismatch\)/);
});
