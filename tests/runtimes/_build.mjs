/**
 * Builds the package the way JSR serves it to Node, Bun and bundlers: every
 * module reachable from deno.json `exports` transpiled to `.js` (types
 * stripped by esbuild, nothing else changed), its specifiers rewritten
 * (`./x.ts` → `./x.js`, import-map names and `npm:` specifiers → npm package
 * names, `jsr:@scope/name` → `@jsr/scope__name`), `.d.ts` declarations from
 * `tsc --declaration --emitDeclarationOnly` with the same rewriting, and a
 * package.json whose `exports` point at both.
 *
 * `@std/path` is served by JSR as the npm package `@jsr/std__path`, which
 * this machine cannot fetch: it is built the same way from the JSR stand-in
 * in `../shared/jsr` (or `JSR_URL` when it is a `file:` URL).
 *
 * @module
 */

import { cpSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import process from "node:process";

/**
 * Maps one specifier as JSR's npm compatibility layer does.
 *
 * @param {string} specifier
 * @param {Record<string, string>} imports deno.json `imports`
 * @param {Map<string, string>} deps filled with npm dependency → version range
 * @returns {string}
 */
export function mapSpecifier(specifier, imports, deps) {
  if (specifier.startsWith("./") || specifier.startsWith("../")) {
    return specifier.replace(/\.(ts|mts|tsx)$/, ".js");
  }
  if (specifier.startsWith("node:")) return specifier;
  let mapped = specifier;
  for (const [key, value] of Object.entries(imports)) {
    if (specifier === key) {
      mapped = value;
      break;
    }
    const prefix = key.endsWith("/") ? key : `${key}/`;
    if (
      specifier.startsWith(prefix) &&
      (key.endsWith("/") || /^(npm|jsr):/.test(value))
    ) {
      mapped = (key.endsWith("/") ? value : `${value}/`) +
        specifier.slice(prefix.length);
      break;
    }
  }
  const match = /^(npm|jsr):\/?(@[^/@]+\/[^/@]+|[^/@]+)(?:@([^/]+))?(\/.*)?$/
    .exec(mapped);
  if (match === null) {
    throw new Error(`Cannot map specifier ${JSON.stringify(specifier)}`);
  }
  const [, kind, name, version = "*", subpath = ""] = match;
  const npmName = kind === "npm"
    ? name
    : `@jsr/${name.slice(1).replace("/", "__")}`;
  deps.set(npmName, version);
  return npmName + subpath;
}

/**
 * Transpiles the module graph from `entries` (absolute paths) into `outDir`,
 * mirroring the layout below `rootDir`.
 *
 * @returns {Promise<string[]>} the source files, relative to `rootDir`
 */
async function transpileGraph(
  esbuild,
  { rootDir, entries, outDir, imports, deps },
) {
  const seen = new Set();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.shift();
    if (seen.has(file)) continue;
    seen.add(file);
    // Type-only imports vanish from the JS, but their modules are published
    // and declared too.
    for (const specifier of typeImports(await readFile(file, "utf8"))) {
      const target = resolve(dirname(file), specifier);
      if (existsSync(target)) queue.push(target);
    }
    const rewrite = {
      name: "jsr-rewrite",
      setup(build) {
        build.onResolve({ filter: /.*/ }, (args) => {
          if (args.kind === "entry-point") return undefined;
          if (args.path.startsWith("./") || args.path.startsWith("../")) {
            queue.push(resolve(dirname(file), args.path));
          }
          return {
            path: mapSpecifier(args.path, imports, deps),
            external: true,
          };
        });
      },
    };
    const result = await esbuild.build({
      entryPoints: [file],
      bundle: true,
      write: false,
      format: "esm",
      platform: "neutral",
      target: "esnext",
      logLevel: "silent",
      charset: "utf8",
      plugins: [rewrite],
    });
    const out = join(outDir, relative(rootDir, file)).replace(
      /\.(ts|mts|tsx)$/,
      ".js",
    );
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, result.outputFiles[0].text);
  }
  return [...seen].map((file) => relative(rootDir, file)).sort();
}

/** Relative specifiers of `import type` / `export type` statements. */
function typeImports(source) {
  return [
    ...withoutComments(source).matchAll(
      /\b(?:import|export)\s+type\b[^;]*?\bfrom\s*(["'])(\.{1,2}\/[^"'\n]+)\1/g,
    ),
  ].map((match) => match[2]);
}

/**
 * `text` with its comments blanked out, same length (specifiers in JSDoc
 * examples are not imports).
 */
function withoutComments(text) {
  return text.replace(
    /\/\*[\s\S]*?\*\/|(^|[^:"'`\\])\/\/[^\n]*/gm,
    (comment, lead = "") =>
      lead + comment.slice(lead.length).replace(/[^\n]/g, " "),
  );
}

/** Rewrites the specifiers of a declaration file, outside its comments. */
function rewriteDeclaration(text, imports, deps) {
  const code = withoutComments(text);
  let out = "";
  let last = 0;
  for (
    const match of code.matchAll(
      /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"'\n]+)\2/g,
    )
  ) {
    const [whole, lead, quote, specifier] = match;
    out += text.slice(last, match.index) + lead + quote +
      mapSpecifier(specifier, imports, deps) + quote;
    last = match.index + whole.length;
  }
  return out + text.slice(last);
}

/** The package.json `exports` of a deno.json-style `exports`. */
function packageExports(exports) {
  const entries = typeof exports === "string" ? { ".": exports } : exports;
  return Object.fromEntries(
    Object.entries(entries).map(([key, path]) => {
      const base = path.replace(/^\.\//, "./").replace(/\.(ts|mts|tsx)$/, "");
      return [key, { types: `${base}.d.ts`, default: `${base}.js` }];
    }),
  );
}

/** Where the JSR stand-in for `@std/*` is, or null. */
function jsrFolder(root) {
  const url = process.env.JSR_URL;
  if (url?.startsWith("file:")) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  const beside = resolve(root, "../shared/jsr");
  return existsSync(beside) ? beside : null;
}

/** The newest version folder of a JSR package in the stand-in registry. */
function jsrPackage(jsr, scope, name) {
  const dir = join(jsr, scope, name);
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8"));
  const versions = Object.keys(meta.versions ?? {}).filter((v) =>
    existsSync(join(dir, v))
  );
  const version = meta.latest && versions.includes(meta.latest)
    ? meta.latest
    : versions.sort().at(-1) ??
      readdirSync(dir).find((entry) =>
        /^\d/.test(entry) && !entry.endsWith(".json")
      );
  const versionMeta = JSON.parse(
    readFileSync(join(dir, `${version}_meta.json`), "utf8"),
  );
  return { dir: join(dir, version), version, exports: versionMeta.exports };
}

/**
 * Builds `@tokenstore/tokenstore` (and `@jsr/std__path` from the stand-in)
 * into `<buildDir>/node_modules`.
 *
 * @param {{ root: string, buildDir: string, nodeModules: string, run: Function }} options
 *   `nodeModules` is where esbuild and typescript are installed; `run` runs
 *   a command and resolves with `{ code, stdout, stderr }`.
 * @returns {Promise<{ modules: number, declarations: number, tscDiagnostics: string[], notes: string[], packageDir: string, dependencies: Record<string, string> }>}
 */
export async function buildPackage({ root, buildDir, nodeModules, run }) {
  const esbuild = await import(
    pathToFileURL(join(nodeModules, "esbuild/lib/main.js")).href
  );
  const denoJson = JSON.parse(await readFile(join(root, "deno.json"), "utf8"));
  const imports = denoJson.imports ?? {};
  const deps = new Map();
  const notes = [];
  const packageDir = join(
    buildDir,
    "node_modules",
    ...denoJson.name.split("/"),
  );
  const srcDir = join(buildDir, "src");
  const exportPaths = Object.values(
    typeof denoJson.exports === "string"
      ? { ".": denoJson.exports }
      : denoJson.exports,
  );

  const files = await transpileGraph(esbuild, {
    rootDir: root,
    entries: exportPaths.map((path) => resolve(root, path)),
    outDir: packageDir,
    imports,
    deps,
  });
  for (const file of files) {
    await mkdir(dirname(join(srcDir, file)), { recursive: true });
    cpSync(join(root, file), join(srcDir, file));
  }

  // @std/* from the stand-in registry, as JSR's @jsr/std__* npm packages.
  const paths = {};
  const jsr = jsrFolder(root);
  for (const [npmName] of [...deps].filter(([n]) => n.startsWith("@jsr/"))) {
    const [scope, name] = npmName.slice("@jsr/".length).split("__");
    if (jsr === null || !existsSync(join(jsr, `@${scope}`, name))) {
      notes.push(
        `${npmName} is not available here (no JSR stand-in): modules importing @${scope}/${name} fail to load`,
      );
      continue;
    }
    const pkg = jsrPackage(jsr, `@${scope}`, name);
    const pkgDir = join(buildDir, "node_modules", npmName);
    const stdSrc = join(srcDir, "_jsr", `${scope}__${name}`);
    const stdFiles = await transpileGraph(esbuild, {
      rootDir: pkg.dir,
      entries: Object.values(pkg.exports).map((path) => resolve(pkg.dir, path)),
      outDir: pkgDir,
      imports: {},
      deps: new Map(),
    });
    for (const file of stdFiles) {
      await mkdir(dirname(join(stdSrc, file)), { recursive: true });
      cpSync(join(pkg.dir, file), join(stdSrc, file));
    }
    for (const [key, path] of Object.entries(pkg.exports)) {
      const alias = `@${scope}/${name}${key.slice(1)}`;
      paths[alias] = [
        `./${relative(srcDir, join(stdSrc, path)).split("\\").join("/")}`,
      ];
    }
    await writeFile(
      join(pkgDir, "package.json"),
      JSON.stringify(
        {
          name: npmName,
          version: pkg.version,
          type: "module",
          exports: packageExports(pkg.exports),
        },
        null,
        2,
      ),
    );
    notes.push(
      `${npmName} ${pkg.version} built from the JSR stand-in (jsr.io is unreachable here)`,
    );
  }

  // Declarations: tsc over the copied sources (no Deno, no Node types).
  const declDir = join(buildDir, "decl");
  await writeFile(
    join(srcDir, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          declaration: true,
          emitDeclarationOnly: true,
          outDir: declDir,
          rootDir: srcDir,
          target: "es2022",
          module: "esnext",
          moduleResolution: "bundler",
          allowImportingTsExtensions: true,
          lib: ["esnext", "dom", "dom.iterable"],
          types: [],
          strict: true,
          skipLibCheck: true,
          noEmitOnError: false,
          pretty: false,
          paths,
        },
        files: [
          ...exportPaths.map((path) => path),
          ...Object.values(paths).map(([path]) => path),
        ],
      },
      null,
      2,
    ),
  );
  const tsc = await run(process.execPath, [
    join(nodeModules, "typescript/bin/tsc"),
    "-p",
    join(srcDir, "tsconfig.json"),
  ], { cwd: srcDir, timeoutMs: 120_000 });
  const tscDiagnostics = tsc.stdout.split("\n").filter((line) =>
    /error TS\d+/.test(line)
  );
  let declarations = 0;
  for (const file of files) {
    const from = join(declDir, file.replace(/\.(ts|mts|tsx)$/, ".d.ts"));
    if (!existsSync(from)) continue;
    const to = join(packageDir, file.replace(/\.(ts|mts|tsx)$/, ".d.ts"));
    await writeFile(
      to,
      rewriteDeclaration(await readFile(from, "utf8"), imports, deps),
    );
    declarations++;
  }
  const jsrDecl = join(declDir, "_jsr");
  const jsrDirs = existsSync(jsrDecl)
    ? readdirSync(jsrDecl, { withFileTypes: true })
    : [];
  for (const dir of jsrDirs) {
    if (!dir.isDirectory()) continue;
    const target = join(buildDir, "node_modules", "@jsr", dir.name);
    cpSync(join(declDir, "_jsr", dir.name), target, { recursive: true });
  }

  const dependencies = Object.fromEntries(
    [...deps].sort(([a], [b]) => a.localeCompare(b)),
  );
  await writeFile(
    join(packageDir, "package.json"),
    JSON.stringify(
      {
        name: denoJson.name,
        version: denoJson.version,
        type: "module",
        exports: packageExports(denoJson.exports),
        dependencies,
      },
      null,
      2,
    ),
  );
  return {
    modules: files.length,
    declarations,
    tscDiagnostics,
    notes,
    packageDir,
    dependencies,
  };
}
