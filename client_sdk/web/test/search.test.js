// Knowledge-base search tokens against the Python rule's output (schemas/vectors/search_tokens.json,
// protocol §6.3): the same tokens for every text and query, the same verdicts, the same stems of the probe
// words; and the offline search over pulled `kb` records in IndexedDB.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { applyPage, PAGE_STORES } from "../engine/apply.js";
import { Reads } from "../engine/reads.js";
import { Rules } from "../engine/rules.js";
import { indexTokens, queryTokens, searchCases } from "../engine/search.js";
import { DB_VERSION, LocalStore, STORES, byIndex } from "../engine/store.js";
import { openDB } from "../vendor/idb/index.js";
import { REPO, freshDbName, rulesDoc } from "./support.js";

const FILE = join(process.env.FIELDSYNC_VECTORS ?? join(REPO, "schemas", "vectors"), "search_tokens.json");
const skip = existsSync(FILE) ? false : `no vectors at ${FILE}`;
/** @type {any} */
const vectors = skip ? null : JSON.parse(readFileSync(FILE, "utf8"));

/** @param {string} id @param {Partial<import("../engine/search.js").KbCase>} fields */
function kase(id, fields) {
  return { id, model: "Vitodens 200", equipment_type: "boiler", symptom: "", cause: "", fix: "", parts: [],
    ticket_id: null, created_at: 1, ...fields };
}

test("every text gives the Python rule's index tokens and every query its query tokens", { skip }, () => {
  for (const t of vectors.texts) assert.deepEqual(indexTokens(t.text), t.index_tokens, t.text);
  for (const q of vectors.queries) assert.deepEqual(queryTokens(q.query), q.query_tokens, q.query);
  // the stemmer agrees with the server's on the probe words (the fingerprint's input)
  assert.equal(indexTokens(vectors.probe).join(" "), vectors.probe_index_text);
});

test("a query finds exactly the texts the vectors say", { skip }, () => {
  const texts = vectors.texts.map((/** @type {any} */ t) => t.text);
  const cases = texts.map((/** @type {string} */ text, /** @type {number} */ i) => kase(`KB-${i}`, { symptom: text }));
  for (const q of vectors.queries) {
    if (q.query_tokens.length === 0) continue;
    const hits = new Set(searchCases(cases, q.query, { limit: 200 }).map((c) => texts[Number(c.id.slice(3))]));
    const expected = new Set(vectors.found.filter((/** @type {any} */ f) => f.query === q.query)
      .map((/** @type {any} */ f) => f.text));
    assert.deepEqual(hits, expected, q.query);
  }
});

test("ranking: the case that says it more and more briefly first; ties newest first; model filters", () => {
  const cases = [
    kase("long", { symptom: "Pump noisy after the service visit, pressure drops and the boiler shows fault F4",
      fix: "Bleed the pump; the fan was checked too", created_at: 3 }),
    kase("short", { symptom: "Fan noisy at start", cause: "Fan bearing worn", fix: "Replace the fan bearing",
      created_at: 1 }),
    kase("zh", { symptom: "风机异响", cause: "风机轴承磨损", model: "Carrier 30RB", created_at: 2 }),
  ];
  assert.deepEqual(searchCases(cases, "fans").map((c) => c.id), ["short", "long"]);
  assert.deepEqual(searchCases(cases, "异响").map((c) => c.id), ["zh"]);
  assert.deepEqual(searchCases(cases, "异响", { model: "vitodens 200" }).map((c) => c.id), []);
  assert.deepEqual(searchCases(cases, "").map((c) => c.id), ["long", "zh", "short"]);
  assert.deepEqual(searchCases(cases, "，。", { limit: 1 }).map((c) => c.id), ["long"]);
});

test("pulled kb records are searched offline", async () => {
  const store = await LocalStore.open(freshDbName());
  try {
    await store.write(PAGE_STORES, (tx) => applyPage(tx, [
      { kind: "kb", id: "KB-1", data: { id: "KB-1", model: "Vitodens 200", equipment_type: "boiler",
        symptom: "风机异响，运行时有摩擦声", cause: "风机轴承磨损", fix: "更换风机轴承", parts: ["P-BRG"],
        ticket_id: null, created_at: 5, created_by: "office" } },
      { kind: "kb", id: "KB-2", data: { id: "KB-2", model: "Vitodens 200", symptom: "Fan noisy at start",
        cause: "Fan bearing worn", fix: "Replace the fan bearing", parts: [], created_at: 6 } },
    ]));
    const reads = new Reads(store, new Rules(rulesDoc()));
    assert.deepEqual((await reads.searchKb("异响")).map((c) => c.id), ["KB-1"]);
    assert.deepEqual((await reads.searchKb("bearings")).map((c) => c.id), ["KB-2"]);
    assert.deepEqual((await reads.searchKb("")).map((c) => c.id), ["KB-2", "KB-1"]);
    const [found] = await reads.searchKb("风机");
    assert.equal(found.symptom, "风机异响，运行时有摩擦声");
    assert.deepEqual(found.parts, ["P-BRG"]);
  } finally {
    store.close();
  }
});

test("a tablet database of version 1 gains the kb store and keeps its records", async () => {
  const name = freshDbName();
  const old = await openDB(name, 1, {
    upgrade(database) {  // what the app of version 1 made: every store but kb
      for (const [store, spec] of Object.entries(STORES)) {
        if ("since" in spec) continue;
        database.createObjectStore(store, { keyPath: /** @type {string | string[]} */ (spec.keyPath),
          autoIncrement: "autoIncrement" in spec ? spec.autoIncrement : false });
      }
    },
  });
  await old.put("jobs", { id: "J-1", status: "assigned" });
  old.close();
  const store = await LocalStore.open(name);
  try {
    assert.equal(store.db.version, DB_VERSION);
    assert.ok(store.db.objectStoreNames.contains("kb"));
    assert.deepEqual(await store.read(["jobs"], (tx) => tx.objectStore("jobs").get("J-1")), { id: "J-1", status: "assigned" });
    await store.write(PAGE_STORES, (tx) => applyPage(tx, [{ kind: "kb", id: "KB-9", data: { symptom: "风机异响" } }]));
    const reads = new Reads(store, new Rules(rulesDoc()));
    assert.deepEqual((await reads.searchKb("异响")).map((c) => c.id), ["KB-9"]);
  } finally {
    store.close();
  }
});

test("a tablet database of version 3 loses the answers' job index and still finds a job's answers", async () => {
  const name = freshDbName();
  const old = await openDB(name, 3, {
    upgrade(database) {  // what the app of version 3 made: answers with a "job" index
      for (const [store, spec] of Object.entries(STORES)) {
        const os = database.createObjectStore(store, { keyPath: /** @type {string | string[]} */ (spec.keyPath),
          autoIncrement: "autoIncrement" in spec ? spec.autoIncrement : false });
        for (const [index, keyPath] of Object.entries("indexes" in spec ? spec.indexes : {})) os.createIndex(index, keyPath);
        if (store === "answers") os.createIndex("job", "job_id");
      }
    },
  });
  await old.put("answers", { job_id: "J-1", item_key: "co2", value: 9 });
  await old.put("answers", { job_id: "J-10", item_key: "co2", value: 1 });
  old.close();
  const store = await LocalStore.open(name);
  try {
    assert.equal(store.db.version, DB_VERSION);
    const found = await store.read(["answers"], (tx) => {
      assert.equal(tx.objectStore("answers").indexNames.contains("job"), false);
      return byIndex(tx, "answers", "job", "J-1");
    });
    assert.deepEqual(found, [{ job_id: "J-1", item_key: "co2", value: 9 }]);
  } finally {
    store.close();
  }
});
