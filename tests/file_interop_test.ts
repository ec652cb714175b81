import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { TokenStoreError } from "../core/errors.ts";
import { OAuthToken } from "../core/token.ts";
import { FileTokenStore } from "../stores/file.ts";
import { tempDir } from "./fixtures/file_helpers.ts";

const HEADER =
  "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain";
const PYTHON_HEADER = HEADER.replace("redirect_url", "redirect_uri");
const NINE_HEADER = HEADER.replace(",api_domain", "");

const ROW1 =
  "1,ada@example.com,1000.CLIENTA,secret-a,1000.refresh-a,1000.access-a,1000.grant-a,1800000000123,https://app.example.com/cb,https://www.zohoapis.eu";
const ROW2 = "2,bob@example.com,1000.CLIENTB,secret-b,1000.refresh-b,,,,,";

/** Reads the file the way the Zoho Node SDK does: split lines, split ",". */
function readLikeNodeSdk(text: string): (string | null)[][] {
  return text.split("\n").slice(1).map((line) =>
    line.split(",").map((value) => value.length > 0 ? value : null)
  );
}

const ADA = {
  id: "1",
  userName: "ada@example.com",
  clientId: "1000.CLIENTA",
  clientSecret: "secret-a",
  refreshToken: "1000.refresh-a",
  accessToken: "1000.access-a",
  grantToken: "1000.grant-a",
  expiresAt: 1_800_000_000_123,
  redirectUrl: "https://app.example.com/cb",
  apiDomain: "https://www.zohoapis.eu",
};

const LAYOUTS = [
  { name: "a Zoho 10-column LF file", header: HEADER, eol: "\n", final: false },
  {
    name: "a Python SDK redirect_uri CRLF file",
    header: PYTHON_HEADER,
    eol: "\r\n",
    final: true,
  },
  {
    name: "an older 9-column file",
    header: NINE_HEADER,
    eol: "\n",
    final: true,
  },
];

for (const layout of LAYOUTS) {
  Deno.test(`zoho-csv interop: ${layout.name} is read, updated in place and extended`, async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "sdk_tokens.txt");
    const nine = layout.header === NINE_HEADER;
    const row1 = nine ? ROW1.slice(0, ROW1.lastIndexOf(",")) : ROW1;
    const row2 = nine ? ROW2.slice(0, -1) : ROW2;
    const lines = [layout.header, row1, row2];
    const original = lines.join(layout.eol) + (layout.final ? layout.eol : "");
    await Deno.writeTextFile(path, original);
    const store = new FileTokenStore({ path, format: "zoho-csv" });

    // read: every field
    const ada = nine ? { ...ADA, apiDomain: undefined } : ADA;
    assertEquals(
      (await store.findTokenById("1"))?.toRecord(),
      new OAuthToken(ada).toRecord(),
    );
    assertEquals(
      (await store.findToken({ userName: "bob@example.com" }))?.toRecord(),
      {
        id: "2",
        userName: "bob@example.com",
        clientId: "1000.CLIENTB",
        clientSecret: "secret-b",
        refreshToken: "1000.refresh-b",
      },
    );
    assertEquals(
      (await store.findToken({ grantToken: "1000.grant-a" }))?.id,
      "1",
    );
    assertEquals(
      await Deno.readTextFile(path),
      original,
      "reading writes nothing",
    );

    // update in place: same id, same line, other lines byte for byte
    const updated = await store.saveToken(
      new OAuthToken({
        userName: "bob@example.com",
        clientId: "1000.CLIENTB",
        clientSecret: "secret-b",
        refreshToken: "1000.refresh-b",
        accessToken: "1000.access-b2",
        expiresAt: 1_800_000_000_456,
      }),
    );
    assertEquals(updated.id, "2");
    const row2b =
      `2,bob@example.com,1000.CLIENTB,secret-b,1000.refresh-b,1000.access-b2,,1800000000456,${
        nine ? "" : ","
      }`;
    assertEquals(
      await Deno.readTextFile(path),
      [layout.header, row1, row2b].join(layout.eol) +
        (layout.final ? layout.eol : ""),
    );

    // extend: a new line in the same layout, readable by splitting on ","
    const cy = await store.saveToken(
      new OAuthToken({
        userName: "cy@example.com",
        clientId: "1000.CLIENTC",
        refreshToken: "1000.refresh-c",
        redirectUrl: "https://c.example.com/cb",
      }),
    );
    const text = await Deno.readTextFile(path);
    const written = text.split(layout.eol);
    if (layout.final) assertEquals(written.pop(), "");
    assertEquals(written[0], layout.header, "header unchanged");
    assertEquals(written.length, 4);
    assertEquals(
      written[3],
      `${cy.id},cy@example.com,1000.CLIENTC,,1000.refresh-c,,,,https://c.example.com/cb${
        nine ? "" : ","
      }`,
    );
    for (const line of written) {
      assertEquals(line.split(",").length, nine ? 9 : 10);
    }

    // a token with an api domain widens the 9-column file (as Zoho's SDKs do)
    await store.saveToken(
      new OAuthToken({
        userName: "dee@example.com",
        refreshToken: "1000.refresh-d",
        apiDomain: "https://www.zohoapis.in",
      }),
    );
    const widened = (await Deno.readTextFile(path)).split(layout.eol);
    if (layout.final) widened.pop();
    assertEquals(widened[0], nine ? HEADER : layout.header);
    for (const line of widened) assertEquals(line.split(",").length, 10);
    assertEquals(
      (await new FileTokenStore({ path, format: "zoho-csv" }).getTokens())
        .map((t) => t.userName),
      [
        "ada@example.com",
        "bob@example.com",
        "cy@example.com",
        "dee@example.com",
      ],
    );
  });
}

Deno.test("zoho-csv interop: what the store writes reads back like the Node SDK reads it", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "new", "sdk_tokens.txt");
  const store = new FileTokenStore({ path, format: "zoho-csv" });
  const ada = await store.saveToken(new OAuthToken({ ...ADA, id: undefined }));
  const bob = await store.saveToken(
    new OAuthToken({ userName: "bob@example.com", grantToken: "1000.grant-b" }),
  );
  const text = await Deno.readTextFile(path);
  assert(!text.endsWith("\n"), "no final line break, like the Node SDK");
  assertEquals(text.split("\n")[0], HEADER);
  assertEquals(readLikeNodeSdk(text), [
    [ada.id!, ...ROW1.split(",").slice(1)],
    [
      bob.id!,
      "bob@example.com",
      null,
      null,
      null,
      null,
      "1000.grant-b",
      null,
      null,
      null,
    ],
  ]);
  await store.deleteTokens();
  assertEquals(await Deno.readTextFile(path), HEADER, "the header stays");
});

Deno.test("zoho-csv interop: older and quoted variants are read", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "sdk_tokens.txt");
  // SDK 2.x: user_mail header, rows without ids; a row short of api_domain
  const old = [
    "id,user_mail,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_uri,api_domain",
    ",ada@example.com,1000.C,s,1000.refresh-a,,,,",
    "",
    ",bob@example.com,1000.C,s,1000.refresh-b,1000.access-b,,1700000000000,",
  ].join("\n");
  await Deno.writeTextFile(path, old);
  const store = new FileTokenStore({ path, format: "zoho-csv" });
  const tokens = await store.getTokens();
  assertEquals(tokens.map((t) => t.userName), [
    "ada@example.com",
    "bob@example.com",
  ]);
  assertEquals(tokens[1].expiresAt, 1_700_000_000_000);
  // the ids given to id-less rows are written once and stay
  const lines = (await Deno.readTextFile(path)).split("\n");
  assertEquals(lines[0], old.split("\n")[0], "header kept, aliases included");
  assertEquals(
    lines.slice(1).map((l) => l.split(",")[0]),
    tokens.map((t) => t.id),
  );
  assertEquals(
    (await new FileTokenStore({ path, format: "zoho-csv" }).getTokens()).map((
      t,
    ) => t.id),
    tokens.map((t) => t.id),
  );

  // Java SDK (opencsv): every field quoted
  const quoted = [
    HEADER.split(",").map((name) => `"${name}"`).join(","),
    ROW1.split(",").map((value) => `"${value}"`).join(","),
    `"2","b""ob@example.com","","","1000.refresh-b","","","","",""`,
  ].join("\n") + "\n";
  await Deno.writeTextFile(path, quoted);
  const java = await new FileTokenStore({ path, format: "zoho-csv" })
    .getTokens();
  assertEquals(java[0].toRecord(), new OAuthToken(ADA).toRecord());
  assertEquals(java[1].userName, 'b"ob@example.com');
});

Deno.test("zoho-csv interop: a file that is not a Zoho token file is CORRUPT and left alone", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "sdk_tokens.txt");
  for (
    const [text, where] of [
      ["user,password\nx,y", "line 1: not a Zoho token file header"],
      [
        `${HEADER}\n${ROW1}\n"3,unterminated`,
        "line 3: unterminated quoted field",
      ],
      [
        `${HEADER}\n${ROW1}\n${ROW2},extra`,
        "line 3: expected 10 fields, found 11",
      ],
      [
        `${HEADER}\n${ROW2.replace(",,,,,", ",,,soon,,")}`,
        'line 2: "expiry_time" is not epoch milliseconds',
      ],
      [`${HEADER}\n${ROW2}\n${ROW2}`, 'line 3: id "2" appears twice'],
      [`${HEADER}\n12345678901,a,,,1000.r,,,,,`, 'Invalid token field "id"'],
    ]
  ) {
    await Deno.writeTextFile(path, text);
    const store = new FileTokenStore({ path, format: "zoho-csv" });
    for (
      const op of [
        () => store.getTokens(),
        () =>
          store.saveToken(
            new OAuthToken({ userName: "x", refreshToken: "1000.x" }),
          ),
      ]
    ) {
      const error = await assertRejects(op, TokenStoreError);
      assertEquals(error.code, "CORRUPT");
      assert(error.message.includes(`"${path}"`), error.message);
      assert(error.message.includes(where), `${error.message} / ${where}`);
    }
    assertEquals(await Deno.readTextFile(path), text);
  }
});
