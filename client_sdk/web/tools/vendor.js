// Copy the runtime dependencies from node_modules into vendor/, byte for byte, and record what was copied.
//
// The app has no build step: the browser loads these ES modules as they are published. `npm run vendor`
// refreshes them after a version bump in package.json; test/vendor.test.js fails when a vendored file
// differs from the locked package or when vendor/VENDORED.json does not match package-lock.json.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * What each package contributes: the folder of its ES module build and the names kept. A package published
 * as CommonJS only (`commonjs` lists its exports) is kept byte for byte inside an ES module wrapper
 * (see `wrapCommonJs`): the browser loads ES modules only.
 * @type {{name: string, from: string, to: string, keep: RegExp, commonjs?: string[]}[]}
 */
export const VENDORED = [
  { name: "@msgpack/msgpack", from: "dist.esm", to: "msgpack", keep: /\.(mjs|d\.ts)$/ },
  { name: "idb", from: "build", to: "idb", keep: /^(index\.js|.*\.d\.ts)$/ },
  // the Snowball English (porter2) stemmer of the knowledge-base search tokens (engine/search.js)
  { name: "porter2", from: "dist", to: "porter2", keep: /^index\.js$/, commonjs: ["stem"] },
];

/**
 * A CommonJS file as an ES module: its text unchanged between a line that gives it an `exports` object and
 * a line that exports the names it set there.
 * @param {string} text @param {string[]} names @returns {string}
 */
export function wrapCommonJs(text, names) {
  return "const exports = {}; // written by tools/vendor.js: the CommonJS file below, unchanged, as an ES module\n"
    + text + `\nexport const { ${names.join(", ")} } = /** @type {any} */ (exports);\n`;
}

/**
 * The bytes a vendored file holds: the package's file, wrapped when the package is CommonJS.
 * @param {typeof VENDORED[number]} pkg @param {string} src @returns {Buffer}
 */
export function vendoredBytes(pkg, src) {
  const bytes = readFileSync(src);
  return pkg.commonjs ? Buffer.from(wrapCommonJs(bytes.toString("utf8"), pkg.commonjs), "utf8") : bytes;
}

/**
 * Files of ours beside the vendored ones (not part of any package): TypeScript looks for the types of
 * `index.mjs` in `index.d.mts`, while the package publishes them as `index.d.ts`.
 */
export const SHIMS = {
  "msgpack/index.d.mts": "// written by tools/vendor.js: lets TypeScript find the types published beside index.mjs\n"
    + "export * from \"./index.ts\";\n",
  // porter2 publishes its types at the package root (index.d.ts), outside the folder kept
  "porter2/index.d.ts": "// written by tools/vendor.js: the types porter2 publishes in its index.d.ts\n"
    + "export function stem(word: string): string;\n",
};

/** @param {string} dir @returns {string[]} */
function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]);
}

/**
 * The files a package contributes, as [source in node_modules, destination in vendor/].
 * @param {typeof VENDORED[number]} pkg
 * @returns {[string, string][]}
 */
export function vendoredFiles(pkg) {
  const base = join(ROOT, "node_modules", pkg.name, pkg.from);
  return walk(base)
    .filter((f) => pkg.keep.test(f.split("/").pop() ?? ""))
    .sort()
    .map((f) => [f, join(ROOT, "vendor", pkg.to, relative(base, f))]);
}

function main() {
  /** @type {Record<string, {version: string, files: string[]}>} */
  const record = {};
  for (const pkg of VENDORED) {
    rmSync(join(ROOT, "vendor", pkg.to), { recursive: true, force: true });
    const files = vendoredFiles(pkg);
    for (const [src, dst] of files) {
      mkdirSync(dirname(dst), { recursive: true });
      if (pkg.commonjs) writeFileSync(dst, vendoredBytes(pkg, src));
      else copyFileSync(src, dst);
    }
    const meta = JSON.parse(readFileSync(join(ROOT, "node_modules", pkg.name, "package.json"), "utf8"));
    record[pkg.name] = { version: meta.version, files: files.map(([, dst]) => relative(join(ROOT, "vendor"), dst)) };
  }
  for (const [path, text] of Object.entries(SHIMS)) writeFileSync(join(ROOT, "vendor", path), text);
  writeFileSync(join(ROOT, "vendor", "VENDORED.json"), JSON.stringify(record, null, 2) + "\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
