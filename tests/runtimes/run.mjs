#!/usr/bin/env node
/**
 * Runs the package on the runtimes JSR serves it to, from npm packages only:
 *
 * 1. installs the tools (bun, workerd, @edge-runtime/vm, esbuild, typescript)
 *    and the drivers named in deno.json `imports` into a cache folder
 *    (`.ci/cache/runtimes`, or `TOKENSTORE_RUNTIMES_CACHE`), once;
 * 2. builds the package as JSR serves it to npm users (`_build.mjs`) into
 *    `<cache>/build`, outside the work tree's tracked files;
 * 3. Node and Bun: the `./core` smoke (memory store, `TokenClient` refresh
 *    against a node:http token endpoint on 127.0.0.1 with concurrent
 *    callers, `EncryptedTokenStore`), the root import, libSQL `file:`, the
 *    file store and Deno KV's refusal off Deno (`_server_checks.mjs`); and
 *    the Zoho SDK bridge (`./zoho-sdk`) under the official Zoho CRM Node.js
 *    SDK (installed from deno.json `imports`): initialised on a stored token
 *    whose access token has expired, 25 concurrent real SDK API calls against
 *    the loopback endpoint, all answered 200 after exactly 1 refresh
 *    (`_zoho_sdk_checks.mjs`);
 * 4. workerd: a Worker importing `./core`, bundled by esbuild with the
 *    `workerd,worker,browser` conditions, no `nodejs_compat`, answering one
 *    HTTP request by running the smoke; its outgoing `fetch` is routed by
 *    workerd's config (`globalOutbound`, an external service) to the token
 *    endpoint on the host's loopback, so the refresh is a real HTTP request.
 *    Also bundles a Worker importing the package root, and runs it if it builds;
 * 5. Vercel's edge runtime (`@edge-runtime/vm`): the smoke, bundled with the
 *    `edge-light` conditions, against the loopback endpoint;
 * 6. `tsc --noEmit` of a TypeScript user's code importing the declarations of
 *    `./core`, of `./kv` and `./file`, and of the root, with `types: []` and
 *    lib es2022 + dom.
 *
 * Prints a table runtime × check and the bundle sizes; exits 1 on any failure
 * that is not in {@linkcode KNOWN_FAILING}, and on any check listed there
 * that passes (take it off the list).
 *
 * Usage: `node tests/runtimes/run.mjs`
 *
 * @module
 */

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { buildPackage } from "./_build.mjs";
import { startTokenEndpoint } from "./_token_endpoint.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const CACHE = resolve(
  process.env.TOKENSTORE_RUNTIMES_CACHE ?? join(ROOT, ".ci/cache/runtimes"),
);
const NODE_MODULES = join(CACHE, "node_modules");
const BUILD = join(CACHE, "build");

/** The tools, pinned (bump deliberately). */
const TOOLS = {
  "bun": "1.4.5",
  "workerd": "1.20261117.1",
  "@edge-runtime/vm": "5.0.0",
  "esbuild": "0.28.2",
  "typescript": "7.0.2",
};

/**
 * Failures expected until the named work lands: `runtime|check` → [why, what
 * the failure must look like]. A listed check that passes, or fails some
 * other way, fails the run, so that the list stays short and true.
 *
 * @type {Map<string, [string, RegExp]>}
 */
const KNOWN_FAILING = new Map([]);

/** Whether a result is an expected failure (listed, and failing as listed). */
function isKnown(r) {
  const entry = KNOWN_FAILING.get(`${r.runtime}|${r.name}`);
  return entry !== undefined && !r.ok && entry[1].test(r.detail);
}

const COLUMNS = ["build", "node", "bun", "workerd", "edge-runtime", "tsc"];

/** @type {{ runtime: string, name: string, ok: boolean, detail: string }[]} */
const results = [];
/** @type {[string, number][]} */
const timings = [];
/** @type {[string, { raw: number, min: number, gzip: number } | string][]} */
const sizes = [];
const notes = [];

function record(runtime, name, ok, detail = "") {
  results.push({ runtime, name, ok, detail });
}

/** Runs a command; never throws, resolves with its exit code and output. */
function run(command, args, { cwd = ROOT, timeoutMs = 120_000, env } = {}) {
  return new Promise((done) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => stdout += chunk);
    child.stderr.on("data", (chunk) => stderr += chunk);
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      done({ code: -1, stdout, stderr: `${stderr}${error.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code: code ?? -1, stdout, stderr });
    });
  });
}

async function timed(label, fn) {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings.push([label, performance.now() - start]);
  }
}

/** The npm dependencies to install: the tools and deno.json's npm: imports. */
function wantedPackages() {
  const denoJson = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
  const packages = { ...TOOLS };
  for (const value of Object.values(denoJson.imports ?? {})) {
    const match = /^npm:\/?(@[^/@]+\/[^/@]+|[^/@]+)(?:@([^/]+))?/.exec(value);
    if (match) packages[match[1]] = match[2] ?? "*";
  }
  return packages;
}

async function install() {
  const packages = wantedPackages();
  const manifest = JSON.stringify(
    {
      private: true,
      name: "tokenstore-runtimes-cache",
      dependencies: packages,
    },
    null,
    2,
  );
  const stamp = join(CACHE, ".installed.json");
  const installed = existsSync(stamp) && existsSync(NODE_MODULES)
    ? readFileSync(stamp, "utf8")
    : "";
  if (installed === manifest) return "cached";
  await mkdir(CACHE, { recursive: true });
  await writeFile(join(CACHE, "package.json"), manifest);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = await run(npm, [
    "install",
    "--prefix",
    CACHE,
    "--no-audit",
    "--no-fund",
    "--no-package-lock",
    "--loglevel=error",
  ], { timeoutMs: 600_000 });
  if (result.code !== 0) {
    throw new Error(
      `npm install into ${CACHE} failed (${result.code}):\n${result.stderr}`,
    );
  }
  await writeFile(stamp, manifest);
  return `installed ${Object.keys(packages).length} packages`;
}

function versionOf(name) {
  try {
    return JSON.parse(
      readFileSync(join(NODE_MODULES, name, "package.json"), "utf8"),
    ).version;
  } catch {
    return "?";
  }
}

/** The lines of a crash report that say what happened, as one line. */
function errorLines(text) {
  const lines = text.trim().split("\n").map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) =>
    /\b\w*Error\b|error:/.test(l) && !/^at /.test(l)
  );
  return (errors.length > 0 ? errors.slice(0, 3) : lines.slice(-5)).join(" | ")
    .slice(0, 600);
}

/** Parses the last JSON line a runtime printed into results. */
function collect(runtime, outcome, runsName = "runs") {
  const line = outcome.stdout.trim().split("\n").reverse().find((l) =>
    l.startsWith("{")
  );
  let report;
  try {
    report = line === undefined ? undefined : JSON.parse(line);
  } catch {
    report = undefined;
  }
  if (report === undefined || !Array.isArray(report.results)) {
    record(
      runtime,
      runsName,
      false,
      `exit ${outcome.code}: ${errorLines(outcome.stderr || outcome.stdout)}`,
    );
    return;
  }
  for (const r of report.results) record(runtime, r.name, r.ok, r.detail);
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function bundle(esbuild, label, entry, options) {
  const common = {
    entryPoints: [join(BUILD, entry)],
    bundle: true,
    write: false,
    logLevel: "silent",
    metafile: true,
    ...options,
  };
  try {
    const plain = await esbuild.build(common);
    const min = await esbuild.build({ ...common, minify: true });
    const text = plain.outputFiles[0].text;
    const minText = min.outputFiles[0].contents;
    sizes.push([label, {
      raw: plain.outputFiles[0].contents.length,
      min: minText.length,
      gzip: gzipSync(minText).length,
    }]);
    return { ok: true, text, inputs: Object.keys(plain.metafile.inputs) };
  } catch (error) {
    const errors = error.errors ?? [];
    // "Could not resolve" errors grouped by the package whose code needs it.
    const byPackage = new Map();
    for (const e of errors) {
      const file = e.location?.file ?? "";
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ??
        file;
      const what = /Could not resolve "([^"]+)"/.exec(e.text)?.[1] ?? e.text;
      if (!byPackage.has(pkg)) byPackage.set(pkg, new Set());
      byPackage.get(pkg).add(what);
    }
    const first = errors[0];
    const detail = errors.length > 0
      ? `${errors.length} errors, first: ${first.text} in ${
        (first.location?.file ?? "?").replace(/^.*node_modules\//, "")
      }; unresolved by package: ${
        [...byPackage].map(([pkg, names]) =>
          `${pkg} (${[...names].join(", ")})`
        )
          .join("; ")
      }`
      : String(error.message ?? error).split("\n")[0];
    sizes.push([label, "does not build"]);
    return { ok: false, detail };
  }
}

const DRIVERS = /node_modules\/(mysql2|postgres|@libsql|libsql|@neon-rs)\//;

async function runWorkerd(workers) {
  const workerdBin = join(NODE_MODULES, ".bin", "workerd");
  const endpoint = await startTokenEndpoint();
  const date = /^1\.(\d{4})(\d{2})(\d{2})/.exec(versionOf("workerd"));
  const compatibilityDate = date
    ? `${date[1]}-${date[2]}-${date[3]}`
    : "2025-01-01";
  const sockets = [];
  const services = [];
  for (const [name, file] of workers) {
    const port = await freePort();
    sockets.push({ name, port });
    services.push(
      `    (name = "${name}", worker = (
      modules = [(name = "worker.js", esModule = embed "${file}")],
      compatibilityDate = "${compatibilityDate}",
      globalOutbound = "tokens",
    )),`,
    );
  }
  const config = `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
${services.join("\n")}
    (name = "tokens", external = (address = "127.0.0.1:${endpoint.port}", http = ())),
  ],
  sockets = [
${
    sockets.map(({ name, port }) =>
      `    (name = "${name}", address = "127.0.0.1:${port}", http = (), service = "${name}"),`
    ).join("\n")
  }
  ],
);
`;
  await writeFile(join(BUILD, "workerd.capnp"), config);
  const child = spawn(workerdBin, ["serve", join(BUILD, "workerd.capnp")], {
    cwd: BUILD,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (chunk) => log += chunk);
  child.stderr.on("data", (chunk) => log += chunk);
  const exited = new Promise((done) => child.on("close", done));
  try {
    for (const { name, port } of sockets) {
      const tag = `workerd-${name}-${process.pid}`;
      const url = `http://127.0.0.1:${port}/?tokenUrl=${
        encodeURIComponent(endpoint.url)
      }&tag=${tag}`;
      let response;
      const deadline = Date.now() + 20_000;
      while (response === undefined && Date.now() < deadline) {
        if (child.exitCode !== null) break;
        try {
          response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const runsName = name === "root" ? "root Worker runs" : "runs";
      if (response === undefined) {
        record(
          "workerd",
          runsName,
          false,
          `no answer: ${log.trim().slice(-400)}`,
        );
        continue;
      }
      const body = await response.text();
      collect("workerd", {
        code: response.status,
        stdout: body.replace(/\n/g, " "),
        stderr: `HTTP ${response.status} ${body.slice(0, 200)} ${
          log.trim().slice(-400)
        }`,
      }, runsName);
      if (name === "core") {
        const counts = ["single", "shared"].map((n) =>
          endpoint.requests(`1000.${tag}-${n}`)
        );
        record(
          "workerd",
          "endpoint saw 1 request per refresh",
          counts.every((n) => n === 1),
          counts.join(" + "),
        );
      }
    }
  } finally {
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
    await endpoint.close();
  }
}

async function typecheck(label, code) {
  const dir = join(BUILD, `consumer-${label}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "package.json"), '{ "type": "module" }\n');
  await writeFile(join(dir, "user.ts"), code);
  await writeFile(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        types: [],
        lib: ["es2022", "dom"],
        target: "es2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        skipLibCheck: false,
        pretty: false,
      },
      files: ["user.ts"],
    }),
  );
  const outcome = await run(process.execPath, [
    join(NODE_MODULES, "typescript/bin/tsc"),
    "-p",
    join(dir, "tsconfig.json"),
  ], { cwd: dir });
  const errors = outcome.stdout.split("\n").filter((l) =>
    /error TS\d+/.test(l)
  );
  const codes = new Map();
  for (const line of errors) {
    const code = /error (TS\d+)/.exec(line)[1];
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  const summary = [...codes].map(([c, n]) => `${n} × ${c}`).join(", ");
  return {
    ok: outcome.code === 0 && errors.length === 0,
    detail: errors.length > 0
      ? `${summary}; first: ${
        errors[0].replace(/^.*node_modules\//, "").slice(0, 200)
      }`
      : outcome.code === 0
      ? ""
      : `exit ${outcome.code}: ${
        (outcome.stderr || outcome.stdout).slice(0, 300)
      }`,
  };
}

const CORE_USER = `import {
  DATA_CENTERS,
  EncryptedTokenStore,
  generateEncryptionKey,
  MemoryTokenStore,
  OAuthError,
  OAuthToken,
  TokenClient,
  TokenStoreError,
  type TokenClientOptions,
  type TokenQuery,
  type TokenStore,
} from "@tokenstore/tokenstore/core";

const store: TokenStore = new EncryptedTokenStore(new MemoryTokenStore(), {
  keys: [generateEncryptionKey()],
});
const options: TokenClientOptions = {
  store,
  clientId: "1000.C",
  clientSecret: "s",
  dataCenter: "EU",
  fetch: globalThis.fetch,
};
const client = new TokenClient(options);
client.addEventListener("refresh", (event) => console.log(event.type));
const query: TokenQuery = { userName: "ada@example.com" };
export const accessToken: Promise<string> = client.getAccessToken(query);
export const token: OAuthToken = new OAuthToken({ refreshToken: "1000.r" });
export const url: string = DATA_CENTERS.EU.tokenUrl;
export function codeOf(error: unknown): string | undefined {
  if (error instanceof TokenStoreError) return error.code;
  if (error instanceof OAuthError) return error.code;
  return undefined;
}
`;

const ROOT_USER =
  `import { MemoryTokenStore, openStore, TokenClient } from "@tokenstore/tokenstore";

export const client = new TokenClient({
  store: new MemoryTokenStore(),
  clientId: "1000.C",
  clientSecret: "s",
});
export const open: typeof openStore = openStore;
`;

const KV_FILE_USER = `import {
  KvTokenStore,
  type KvConsistencyLevel,
  type KvKey,
  type KvLike,
  type KvTokenStoreOptions,
} from "@tokenstore/tokenstore/kv";
import {
  FileTokenStore,
  type FileTokenStoreOptions,
} from "@tokenstore/tokenstore/file";
import type { TokenStore } from "@tokenstore/tokenstore/core";

const prefix: KvKey = ["app", 1, 2n, true, new Uint8Array([1])];
const consistency: KvConsistencyLevel = "eventual";
export function overKv(kv: KvLike): TokenStore {
  const options: KvTokenStoreOptions = { kv, prefix, consistency };
  return new KvTokenStore(options);
}
export const opened: Promise<KvTokenStore> = KvTokenStore.open({ path: ":memory:", prefix });
const fileOptions: FileTokenStoreOptions = { path: "tokens.txt", format: "zoho-csv" };
export const file: TokenStore = new FileTokenStore(fileOptions);
`;

function printTable() {
  const names = [...new Set(results.map((r) => r.name))];
  const cell = (runtime, name) => {
    const r = results.find((x) => x.runtime === runtime && x.name === name);
    if (r === undefined) return "·";
    if (r.ok) {
      return KNOWN_FAILING.has(`${runtime}|${name}`) ? "PASS?!" : "pass";
    }
    return isKnown(r) ? "known-failing" : "FAIL";
  };
  const width = Math.max(...names.map((n) => n.length), 5);
  const cols = COLUMNS.map((c) => Math.max(c.length, 13));
  const line = (first, cells) =>
    `| ${first.padEnd(width)} | ${
      cells.map((c, i) => c.padEnd(cols[i])).join(" | ")
    } |`;
  console.log(line("check", COLUMNS));
  console.log(
    `|${"-".repeat(width + 2)}|${
      cols.map((w) => "-".repeat(w + 2)).join("|")
    }|`,
  );
  for (const name of names) {
    console.log(line(name, COLUMNS.map((runtime) => cell(runtime, name))));
  }
  console.log("(· = not run on that runtime by design)");
}

async function main() {
  const started = performance.now();
  console.log(`runtime checks: cache ${CACHE}`);
  const installed = await timed("install", install);
  console.log(`tools: ${installed}`);
  const esbuild = await import(
    pathToFileURL(join(NODE_MODULES, "esbuild/lib/main.js")).href
  );

  await rm(BUILD, { recursive: true, force: true });
  await mkdir(BUILD, { recursive: true });
  let built;
  try {
    built = await timed(
      "build",
      () =>
        buildPackage({
          root: ROOT,
          buildDir: BUILD,
          nodeModules: NODE_MODULES,
          run,
        }),
    );
    record(
      "build",
      "transpile as JSR (.js + .d.ts)",
      built.declarations === built.modules,
      `${built.modules} modules, ${built.declarations} declarations, ${built.tscDiagnostics.length} tsc diagnostics in the sources without Deno types`,
    );
    notes.push(...built.notes);
    notes.push(
      `package dependencies: ${JSON.stringify(built.dependencies)}`,
    );
  } catch (error) {
    record(
      "build",
      "transpile as JSR (.js + .d.ts)",
      false,
      String(error?.message ?? error),
    );
  }
  if (built !== undefined) {
    for (const file of readdirSync(HERE)) {
      if (file.startsWith("_") && file.endsWith(".mjs")) {
        await cp(join(HERE, file), join(BUILD, file));
      }
    }

    await timed("node", async () =>
      collect(
        "node",
        await run(
          process.execPath,
          [join(BUILD, "_server_checks.mjs"), "node"],
          {
            cwd: BUILD,
            timeoutMs: 90_000,
          },
        ),
      ));
    await timed("bun", async () =>
      collect(
        "bun",
        await run(join(NODE_MODULES, ".bin", "bun"), [
          join(BUILD, "_server_checks.mjs"),
          "bun",
        ], { cwd: BUILD, timeoutMs: 90_000 }),
      ));

    // The Zoho SDK bridge under the official Node.js SDK, in a process of
    // its own (the SDK's configuration is a process-wide singleton).
    await timed("zoho-sdk", async () => {
      collect(
        "node",
        await run(
          process.execPath,
          [join(BUILD, "_zoho_sdk_checks.mjs"), "node"],
          { cwd: BUILD, timeoutMs: 60_000 },
        ),
        "zoho-sdk: runs",
      );
      collect(
        "bun",
        await run(join(NODE_MODULES, ".bin", "bun"), [
          join(BUILD, "_zoho_sdk_checks.mjs"),
          "bun",
        ], { cwd: BUILD, timeoutMs: 60_000 }),
        "zoho-sdk: runs",
      );
    });

    const workerOptions = {
      format: "esm",
      platform: "browser",
      conditions: ["workerd", "worker", "browser"],
      target: "es2022",
    };
    const core = await bundle(
      esbuild,
      "Worker importing ./core",
      "_worker_core.mjs",
      workerOptions,
    );
    record(
      "workerd",
      "Worker bundle of ./core builds",
      core.ok,
      core.detail ?? "",
    );
    const coreDrivers = core.ok
      ? core.inputs.filter((i) =>
        DRIVERS.test(i) || /node_modules\/(?!@tokenstore\/)/.test(i)
      )
      : [];
    record(
      "workerd",
      "Worker bundle of ./core: no driver code",
      core.ok && coreDrivers.length === 0,
      core.ok
        ? `${core.inputs.length} modules, ${coreDrivers.length} from other packages${
          coreDrivers.length > 0
            ? `: ${coreDrivers.slice(0, 5).join(", ")}`
            : ""
        }`
        : "does not build",
    );
    const root = await bundle(
      esbuild,
      "Worker importing root",
      "_worker_root.mjs",
      workerOptions,
    );
    record(
      "workerd",
      "Worker bundle of root builds",
      root.ok,
      root.detail ?? "",
    );
    const driverInputs = root.ok
      ? root.inputs.filter((i) => DRIVERS.test(i))
      : [];
    record(
      "workerd",
      "root Worker bundle: no driver code",
      root.ok && driverInputs.length === 0,
      root.ok
        ? `${driverInputs.length} driver modules bundled`
        : "does not build",
    );
    const workers = [];
    if (core.ok) {
      await writeFile(join(BUILD, "worker_core.js"), core.text);
      workers.push(["core", "worker_core.js"]);
    }
    if (root.ok) {
      await writeFile(join(BUILD, "worker_root.js"), root.text);
      workers.push(["root", "worker_root.js"]);
    } else {
      record("workerd", "root Worker runs", false, "does not build");
    }
    if (workers.length > 0) await timed("workerd", () => runWorkerd(workers));

    const edge = await bundle(
      esbuild,
      "edge-runtime script (./core)",
      "_edge_entry.mjs",
      {
        format: "iife",
        globalName: "__tokenstoreSmoke",
        platform: "browser",
        conditions: ["edge-light", "worker", "browser"],
        target: "es2022",
      },
    );
    record(
      "edge-runtime",
      "edge bundle of ./core builds",
      edge.ok,
      edge.detail ?? "",
    );
    if (edge.ok) {
      await writeFile(join(BUILD, "edge.js"), edge.text);
      await timed("edge-runtime", async () =>
        collect(
          "edge-runtime",
          await run(process.execPath, [
            join(BUILD, "_edge_host.mjs"),
            join(BUILD, "edge.js"),
          ], {
            cwd: BUILD,
            timeoutMs: 90_000,
          }),
        ));
    }

    await timed("tsc", async () => {
      const coreCheck = await typecheck("core", CORE_USER);
      record(
        "tsc",
        "./core declarations type-check",
        coreCheck.ok,
        coreCheck.detail,
      );
      const kvFileCheck = await typecheck("kv-file", KV_FILE_USER);
      record(
        "tsc",
        "./kv and ./file declarations type-check",
        kvFileCheck.ok,
        kvFileCheck.detail,
      );
      const rootCheck = await typecheck("root", ROOT_USER);
      record(
        "tsc",
        "root declarations type-check",
        rootCheck.ok,
        rootCheck.detail,
      );
    });
  }

  const total = performance.now() - started;
  console.log("");
  console.log(
    `versions: ${process.version} (node), bun ${versionOf("bun")}, workerd ${
      versionOf("workerd")
    }, @edge-runtime/vm ${versionOf("@edge-runtime/vm")}, esbuild ${
      versionOf("esbuild")
    }, typescript ${versionOf("typescript")}`,
  );
  for (const note of notes) console.log(`note: ${note}`);
  console.log("");
  printTable();

  console.log("\nbundle sizes (bytes: plain / minified / minified+gzip):");
  for (const [label, size] of sizes) {
    console.log(
      `  ${label}: ${
        typeof size === "string"
          ? size
          : `${size.raw} / ${size.min} / ${size.gzip}`
      }`,
    );
  }

  const known = results.filter(isKnown);
  console.log(
    `\nknown failing (${known.length}), expected until the named work lands:`,
  );
  for (const r of known) {
    console.log(
      `  - ${r.runtime} | ${r.name}: ${
        KNOWN_FAILING.get(`${r.runtime}|${r.name}`)[0]
      }\n      saw: ${r.detail}`,
    );
  }
  const failed = results.filter((r) => !r.ok && !isKnown(r));
  const passedKnown = results.filter((r) =>
    r.ok && KNOWN_FAILING.has(`${r.runtime}|${r.name}`)
  );
  if (failed.length > 0) {
    console.log(`\nunexpected failures (${failed.length}):`);
    for (const r of failed) {
      console.log(`  - ${r.runtime} | ${r.name}: ${r.detail}`);
    }
  }
  if (passedKnown.length > 0) {
    console.log(
      `\nlisted as known failing but passed (${passedKnown.length}): take them off KNOWN_FAILING in tests/runtimes/run.mjs`,
    );
    for (const r of passedKnown) console.log(`  - ${r.runtime} | ${r.name}`);
  }
  console.log(
    `\ntimings: ${
      timings.map(([l, ms]) => `${l} ${(ms / 1000).toFixed(1)} s`).join(", ")
    }; total ${(total / 1000).toFixed(1)} s`,
  );
  const passed = results.filter((r) => r.ok).length;
  console.log(`known failing: ${known.length} (listed above)`);
  console.log(
    `runtimes: ${passed} passed, ${failed.length + passedKnown.length} failed`,
  );
  process.exitCode = failed.length + passedKnown.length > 0 ? 1 : 0;
}

await main();
