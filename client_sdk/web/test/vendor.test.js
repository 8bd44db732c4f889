// The vendored runtime dependencies are the locked npm packages' own files, byte for byte (a CommonJS one
// inside its ES module wrapper, see tools/vendor.js).
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

import { SHIMS, VENDORED, vendoredBytes, vendoredFiles } from "../tools/vendor.js";
import { WEB } from "./support.js";

const lock = JSON.parse(readFileSync(join(WEB, "package-lock.json"), "utf8"));
const record = JSON.parse(readFileSync(join(WEB, "vendor", "VENDORED.json"), "utf8"));

for (const pkg of VENDORED) {
  test(`vendor/${pkg.to} is ${pkg.name} as locked, byte for byte`, () => {
    const locked = lock.packages[`node_modules/${pkg.name}`];
    assert.ok(locked, `${pkg.name} is in package-lock.json`);
    const installed = JSON.parse(readFileSync(join(WEB, "node_modules", pkg.name, "package.json"), "utf8"));
    assert.equal(installed.version, locked.version, "node_modules holds the locked version (run npm ci)");
    assert.equal(record[pkg.name].version, locked.version, "vendor/VENDORED.json names the locked version");
    const files = vendoredFiles(pkg);
    assert.ok(files.length > 0);
    for (const [src, dst] of files) {
      assert.deepEqual(readFileSync(dst), vendoredBytes(pkg, src), `${relative(WEB, dst)} differs from the package`);
    }
    assert.deepEqual(record[pkg.name].files, files.map(([, dst]) => relative(join(WEB, "vendor"), dst)));
  });
}

test("vendor/ holds nothing but the vendored files, their record and the type shims", () => {
  /** @param {string} dir @returns {string[]} */
  const walk = (dir) => readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [relative(join(WEB, "vendor"), path)];
  });
  const expected = new Set(["VENDORED.json", ...Object.keys(SHIMS),
    ...VENDORED.flatMap((p) => vendoredFiles(p).map(([, dst]) => relative(join(WEB, "vendor"), dst)))]);
  assert.deepEqual(new Set(walk(join(WEB, "vendor"))), expected);
  for (const [path, text] of Object.entries(SHIMS)) assert.equal(readFileSync(join(WEB, "vendor", path), "utf8"), text);
});
