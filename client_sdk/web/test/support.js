// Test support: the rules document, a fresh IndexedDB per test (fake-indexeddb), a fixed clock.
import "fake-indexeddb/auto";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const WEB = join(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = join(WEB, "..", "..");

/** @type {import("../engine/rules.js").RulesDoc | null} */
let rules = null;

/**
 * The rules document the server serves at /tablet/rules.json: from FIELDSYNC_RULES (a file the Python
 * test runner wrote) or asked of the server code through the repository's Python.
 * @returns {import("../engine/rules.js").RulesDoc}
 */
export function rulesDoc() {
  if (rules) return rules;
  const file = process.env.FIELDSYNC_RULES;
  if (file) {
    rules = JSON.parse(readFileSync(file, "utf8"));
  } else {
    const venv = join(REPO, ".venv", "bin", "python");
    const python = existsSync(venv) ? venv : "python3";
    const out = execFileSync(python, ["-c", "import json, server.tablet as t; print(json.dumps(t.rules_document()))"],
      { cwd: REPO, encoding: "utf8" });
    rules = JSON.parse(out);
  }
  return /** @type {import("../engine/rules.js").RulesDoc} */ (rules);
}

let n = 0;
/** A database name no other test uses. */
export function freshDbName() {
  n += 1;
  return `test-${process.pid}-${n}-${Math.random().toString(16).slice(2)}`;
}

/** A clock that moves 1 s each time it is read, from a fixed start. */
export function steppingClock(start = 1_767_225_600_000) {
  let now = start;
  return () => {
    now += 1000;
    return now;
  };
}
