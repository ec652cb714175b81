import { assertEquals, assertStringIncludes } from "@std/assert";
import { DRIVER_RANGES, driverSpecifier } from "../stores/_sql/driver.ts";

Deno.test("SQL drivers load on Deno as npm: specifiers with deno.json's version ranges, elsewhere by package name", async () => {
  const denoJson = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  for (const [pkg, range] of Object.entries(DRIVER_RANGES)) {
    assertEquals(`npm:${pkg}@${range}`, denoJson.imports[pkg]);
  }
  for (
    const [specifier, pkg, onDeno, expected] of [
      ["mysql2/promise", "mysql2", true, "npm:mysql2@^3/promise"],
      [
        "@libsql/client/web",
        "@libsql/client",
        true,
        "npm:@libsql/client@^0.18/web",
      ],
      ["postgres", "postgres", true, "npm:postgres@^3"],
      ["mysql2/promise", "mysql2", false, "mysql2/promise"],
    ] as const
  ) {
    assertEquals(driverSpecifier(specifier, pkg, onDeno), expected);
  }
});

Deno.test("an SQL store whose driver cannot be loaded fails with a BACKEND error naming what to install", async () => {
  // `--no-npm`: every npm driver import fails, as it does when not installed
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-npm",
      "--no-prompt",
      "tests/fixtures/open_sql_no_npm.ts",
    ],
    cwd: new URL("../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  const stdout = new TextDecoder().decode(output.stdout);
  assertEquals(output.code, 0, stderr);
  const outcomes: {
    url: string;
    name?: string;
    code?: string | null;
    message?: string;
    cause?: string;
  }[] = JSON.parse(stdout);
  const hint = (label: string, specifier: string, pkg: string) =>
    `Cannot load the ${label} driver "${specifier}": install it (npm install ${pkg}, or deno add npm:${pkg})`;
  assertEquals(
    outcomes.map(({ name, code, message }) => ({ name, code, message })),
    [
      {
        name: "TokenStoreError",
        code: "BACKEND",
        message: hint("libSQL", "@libsql/client", "@libsql/client"),
      },
      {
        name: "TokenStoreError",
        code: "BACKEND",
        message: hint("libSQL", "@libsql/client/web", "@libsql/client"),
      },
      {
        name: "TokenStoreError",
        code: "BACKEND",
        message: hint("MySQL", "mysql2/promise", "mysql2"),
      },
      {
        name: "TokenStoreError",
        code: "BACKEND",
        message: hint("PostgreSQL", "postgres", "postgres"),
      },
    ],
  );
  // the resolver's error is kept as the cause
  for (const outcome of outcomes) {
    assertStringIncludes(outcome.cause ?? "", "npm");
  }
  // no password or auth token of the URLs is printed
  assertEquals(
    stdout.replaceAll(/"url":"[^"]*"/g, "").includes("s3cret"),
    false,
  );
});

/** The SQL stores whose constructors take a driver object they are given. */
const INJECTED = [
  {
    store: "MysqlTokenStore",
    module: "mysql.ts",
    options: "pool: { getConnection() {}, execute() {} } as never",
    open: "{ port: 1 }",
    message: 'Cannot load the MySQL driver "mysql2/promise": install it',
  },
  {
    store: "PostgresTokenStore",
    module: "postgres.ts",
    options: "sql: { unsafe() {}, reserve() {}, end() {} } as never",
    open: '{ url: "postgres://root@127.0.0.1:1/x" }',
    message: 'Cannot load the PostgreSQL driver "postgres": install it',
  },
];

for (const { store, module, options, open, message } of INJECTED) {
  Deno.test(`importing ${store} loads no driver; open() loads it (runs with --no-npm)`, async () => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--no-npm",
        `import { ${store} } from ${
          JSON.stringify(new URL(`../stores/${module}`, import.meta.url).href)
        };
         const store = new ${store}({ ${options}, table: "t" });
         console.log(store.lockTable);
         await ${store}.open(${open}).catch((e) => console.log(e.message));`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
    const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
    assertEquals(lines[0], "t_lock");
    assertStringIncludes(lines[1], message);
  });
}
