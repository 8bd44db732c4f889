// The engine on IndexedDB (fake-indexeddb in Node): every write is one transaction of row + outbox op,
// refused writes store nothing, pulled values never overwrite unsynced local ones, sealing chains.
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { applyPage, PAGE_STORES } from "../engine/apply.js";
import { sha256Hex } from "../engine/bytes.js";
import { openSealed } from "../engine/changeset.js";
import { TabletClient } from "../engine/client.js";
import { WriteRefused } from "../engine/errors.js";
import { generateDeviceKey, verify } from "../engine/keys.js";
import { reportDigest, signOffMessage } from "../engine/report.js";
import { SyncLoop, emptyReport } from "../engine/syncer.js";
import { Offline } from "../engine/transport.js";
import { freshDbName, rulesDoc, steppingClock } from "./support.js";

const TEMPLATE = {
  id: "boiler", version: 2, name: "Boiler service", items: [
    { key: "gas_tight", label: "Gas tight", type: "pass_fail", required: true },
    { key: "co2", label: "CO2", type: "number", required: true, min: 0, max: 15 },
    { key: "condition", label: "Condition", type: "choice", required: true, choices: ["good", "fair", "poor"] },
    { key: "plate", label: "Plate photo", type: "photo", required: false },
    { key: "remarks", label: "Remarks", type: "text", required: false },
  ],
};
const JOB = {
  id: "J-1", ticket_id: "T-1", engineer_id: "e-ana", status: "assigned", template_id: "boiler", template_version: 2,
  notes: "", diagnosis: "", resolution: "", remote: false, signed_off: false, field_hlc: {},
  ticket: { customer: "Hotel Aurora", site: "Plant room", priority: "P1", title: "Boiler down" },
};

/** @type {TabletClient} */
let client;
/** @type {string} */
let dbName;
/** @type {import("../engine/keys.js").DeviceKey} */
let key;

/** @param {import("../engine/wire.js").Change[]} changes */
function pull(changes) {
  return client.store.write(PAGE_STORES, (tx) => applyPage(tx, changes));
}

async function snapshot() {
  return client.store.read(["jobs", "answers", "outbox", "meta", "movements", "signoffs"], async (tx) => ({
    jobs: await tx.objectStore("jobs").getAll(), answers: await tx.objectStore("answers").getAll(),
    outbox: await tx.objectStore("outbox").getAll(), meta: await tx.objectStore("meta").getAll(),
    movements: await tx.objectStore("movements").getAll(), signoffs: await tx.objectStore("signoffs").getAll(),
  }));
}

beforeEach(async () => {
  dbName = freshDbName();
  client = await TabletClient.open({ baseUrl: "http://127.0.0.1:9", rules: rulesDoc(), dbName, clock: steppingClock() });
  key = await generateDeviceKey();
  await client.store.write(["meta"], (tx) => tx.objectStore("meta").put({
    key: "device", device_id: "D-1", engineer_id: "e-ana", private_key: key.privateKey, public_key: key.publicRaw,
    server_public_key: new Uint8Array(32), head_seq: 0, head_hash: "", hlc_last: 0n, pull_cursor: "",
  }));
  await pull([
    { kind: "template", id: "boiler/2", data: TEMPLATE },
    { kind: "job", id: "J-1", data: JOB },
    { kind: "part", id: "P-IGN", data: { part_no: "P-IGN", name: "Ignition electrode", serialized: false } },
    { kind: "part", id: "P-PCB", data: { part_no: "P-PCB", name: "Control board", serialized: true } },
    { kind: "stock", id: "van-e-ana/P-IGN", data: { location: "van-e-ana", part_no: "P-IGN", qty: 5 } },
    { kind: "asset", id: "SN-1", data: { serial: "SN-1" } },
  ]);
});

/** @param {() => Promise<unknown>} write @param {string} code */
async function refused(write, code) {
  const before = await snapshot();
  await assert.rejects(write(), (err) => err instanceof WriteRefused && err.code === code);
  assert.deepEqual(await snapshot(), before, "a refused write stores nothing");
}

test("a status change writes the job and its outbox op together; the machine's refusals store nothing", async () => {
  await refused(() => client.writes.setStatus("J-1", "completed"), "transition_assigned_to_completed_refused");
  await refused(() => client.writes.setStatus("J-1", "closed"), "status_not_settable_by_device");
  await refused(() => client.writes.setStatus("J-1", "on_hold"), "hold_reason_required");
  await refused(() => client.writes.setStatus("J-9", "accepted"), "unknown_job");
  const opId = await client.writes.setStatus("J-1", "accepted");
  await client.writes.setStatus("J-1", "on_hold", "awaiting_parts");
  const { jobs, outbox, meta } = await snapshot();
  assert.equal(jobs[0].status, "on_hold");
  assert.equal(jobs[0].hold_reason, "awaiting_parts");
  assert.deepEqual(outbox.map((o) => [o.type, o.key]), [["job.status", "status"], ["job.status", "status"]]);
  assert.equal(outbox[0].op_id, opId);
  assert.ok(meta[0].hlc_last > 0n);
  const pending = await client.reads.pending();
  assert.equal(pending[1].op.type === "job.status" && pending[1].op.hold_reason, "awaiting_parts");
  assert.ok(pending[1].op.hlc > pending[0].op.hlc);
});

test("a remote job goes from accepted straight to work and completion, a job to visit does not", async () => {
  await client.writes.setStatus("J-1", "accepted");
  assert.ok(!(await client.reads.job("J-1"))?.next_statuses.includes("in_progress"));
  await refused(() => client.writes.setStatus("J-1", "in_progress"), "transition_accepted_to_in_progress_refused");
  await client.writes.setField("J-1", "remote", true);  // fixed by phone: no travel, no visit
  assert.ok((await client.reads.job("J-1"))?.next_statuses.includes("in_progress"));
  await client.writes.setStatus("J-1", "in_progress");
  const { jobs, outbox } = await snapshot();
  assert.equal(jobs[0].status, "in_progress");
  assert.deepEqual(outbox.map((o) => o.type), ["job.status", "job.field", "job.status"]);
});

test("completion waits for every required checklist item; answers are checked by type", async () => {
  for (const s of ["accepted", "en_route", "on_site", "in_progress"]) await client.writes.setStatus("J-1", s);
  await refused(() => client.writes.setStatus("J-1", "completed"), "checklist_incomplete");
  await refused(() => client.writes.answer("J-1", "co2", 99), "above_range");
  await refused(() => client.writes.answer("J-1", "co2", "9"), "expected_number");
  await refused(() => client.writes.answer("J-1", "gas_tight", 1), "expected_pass_fail");
  await refused(() => client.writes.answer("J-1", "condition", "excellent"), "not_a_choice");
  await refused(() => client.writes.answer("J-1", "plate", "not-a-hash"), "expected_photo_sha256");
  await refused(() => client.writes.answer("J-1", "nope", true), "unknown_item");
  await refused(() => client.writes.answer("J-1", "condition", null, { naReason: "  " }), "not_applicable_needs_reason");
  await client.writes.answer("J-1", "gas_tight", true);
  await client.writes.answer("J-1", "co2", 9.2);
  await client.writes.answer("J-1", "condition", null, { naReason: "no access to the casing" });
  await client.writes.setStatus("J-1", "completed");
  const detail = await client.reads.job("J-1");
  assert.deepEqual(detail?.missing_required, []);
  assert.equal(detail?.job.status, "completed");
});

test("a second answer to an item names the first as its base (a causal successor, not a conflict)", async () => {
  await client.writes.answer("J-1", "co2", 9);
  await client.writes.answer("J-1", "co2", 10);
  const [first, second] = (await client.reads.pending()).map((p) => p.op);
  assert.ok(first.type === "checklist.answer" && second.type === "checklist.answer");
  assert.equal(first.base_hlc, 0n);
  assert.equal(second.base_hlc, first.hlc);
  assert.equal(second.template_version, 2);
});

test("parts: a serialized part needs its serial, quantities stay within the rules, the van shows what is left", async () => {
  await refused(() => client.writes.usePart("J-1", "P-PCB", 1), "serial_required");
  await refused(() => client.writes.usePart("J-1", "P-IGN", 0), "bad_quantity");
  await refused(() => client.writes.usePart("J-1", "P-IGN", 10_001), "bad_quantity");
  await refused(() => client.writes.usePart("J-1", "P-NONE", 1), "unknown_part");
  await client.writes.usePart("J-1", "P-PCB", 1, "PCB-1", "PCB-OLD-7");
  await client.writes.usePart("J-1", "P-IGN", 2);
  const stock = Object.fromEntries((await client.reads.stock()).map((s) => [s.part_no, s.qty]));
  assert.equal(stock["P-IGN"], 3);
  const detail = await client.reads.job("J-1");
  assert.deepEqual(detail?.movements.map((m) => [m.part_no, m.serial, m.returned_serial, m.pending]).sort(),
    [["P-IGN", null, null, true], ["P-PCB", "PCB-1", "PCB-OLD-7", true]]);
});

test("attachments are content-addressed: the same bytes twice are one attachment and one op", async () => {
  const bytes = new TextEncoder().encode("a photo");
  const sha = await client.writes.attach("J-1", bytes, "photo", "image/jpeg");
  assert.equal(await client.writes.attach("J-1", bytes, "photo", "image/jpeg"), sha);
  assert.equal((await client.reads.pending()).length, 1);
  assert.deepEqual(await client.reads.blob(sha), bytes);
});

test("a photo answer stores the photo and the answer together, or neither", async () => {
  const bytes = new TextEncoder().encode("plate photo");
  await refused(() => client.writes.answerPhoto("J-1", "no_such_item", bytes, "image/jpeg"), "unknown_item");
  assert.equal(await client.reads.blob(await sha256Hex(bytes)), null);
  const sha = await client.writes.answerPhoto("J-1", "plate", bytes, "image/jpeg");
  const detail = await client.reads.job("J-1");
  assert.deepEqual(detail?.answers.map((a) => [a.item_key, a.value]), [["plate", sha]]);
  assert.deepEqual(detail?.attachments.map((a) => [a.sha256, a.uploaded]), [[sha, false]]);
  assert.deepEqual((await client.reads.pending()).map((p) => p.type), ["attachment", "checklist.answer"]);
});

test("sign-off digests the report content, is countersigned by the device key, and is write-once", async () => {
  for (const s of ["accepted", "on_site"]) await client.writes.setStatus("J-1", s);
  await client.writes.answer("J-1", "gas_tight", true);
  await client.writes.usePart("J-1", "P-IGN", 1);
  await client.writes.setField("J-1", "diagnosis", "Ignition electrode worn");
  await refused(() => client.signOff("J-1", " ", [[[1, 2, 0], [3, 4, 16]]]), "signoff_incomplete");
  const pen = [[[10.4, 20, 0], [30, 40, 16], [50, 41, 33]], [[60, 60, 400], [70, 75, 420]]];
  const done = await client.signOff("J-1", "Maria Customer", pen);
  const content = await client.reads.reportContent("J-1");
  assert.equal(done.report_digest, await reportDigest(content));
  assert.deepEqual(content.times, { on_site: content.times.on_site });
  const detail = await client.reads.job("J-1");
  assert.equal(detail?.job.status, "on_site", "on_site cannot step to signed_off: the status stays");
  assert.equal(detail?.job.signed_off, true);
  assert.deepEqual(detail?.signoff.pen, pen, "the strokes as drawn, with the time of each point");
  const op = (await client.reads.pending()).at(-1)?.op;
  assert.ok(op?.type === "signoff");
  assert.deepEqual(op.strokes, [[10, 20, 30, 40, 50, 41], [60, 60, 70, 75]]);
  assert.ok(await verify(key.publicRaw, op.device_signature,
    signOffMessage("J-1", op.report_digest, op.signed_at, "Maria Customer")));
  await refused(() => client.signOff("J-1", "Someone Else", pen), "already_signed_off");
});

test("after the customer signed, a plain edit of signed content is refused; an amendment with a reason is not", async () => {
  for (const s of ["accepted", "on_site"]) await client.writes.setStatus("J-1", s);
  await client.writes.answer("J-1", "co2", 9.1);
  const pen = [[[10, 20, 0], [30, 40, 16]]];
  const done = await client.signOff("J-1", "Maria Customer", pen);
  await refused(() => client.writes.answer("J-1", "co2", 8.7), "signed_content_needs_amend");
  await refused(() => client.writes.setField("J-1", "diagnosis", "other"), "signed_content_needs_amend");
  await client.writes.setField("J-1", "rating", 5);  // not part of the signed content
  await refused(() => client.writes.amend("J-1", "   ", { itemKey: "co2", value: 8.7 }), "amend_reason_required");
  await refused(() => client.writes.amend("J-1", "why", { itemKey: "co2", value: 99 }), "above_range");
  const id = await client.writes.amend("J-1", "analyser recalibrated", { itemKey: "co2", value: 8.7 });
  const ops = (await client.reads.pending()).slice(-2).map((p) => p.op);
  assert.equal(ops[0].type, "checklist.answer");
  assert.ok(ops[1].type === "signoff.amend");
  assert.deepEqual([ops[1].op_id, ops[1].edit_op_id, ops[1].target, ops[1].key, ops[1].value, ops[1].reason],
    [id, ops[0].op_id, "answer", "co2", 8.7, "analyser recalibrated"]);
  const [amendment] = await client.reads.amendments("J-1");
  assert.deepEqual([amendment.key, amendment.value, amendment.reason, amendment.engineer_id],
    ["co2", 8.7, "analyser recalibrated", "e-ana"]);
  // the signed digest is of the content as signed; the content now differs (the report lists why)
  assert.notEqual(await reportDigest(await client.reads.reportContent("J-1")), done.report_digest);
});

test("a pulled value never overwrites a local write that has not synced yet", async () => {
  await client.writes.answer("J-1", "co2", 7);
  await client.writes.setField("J-1", "notes", "local note");
  await pull([
    { kind: "answer", id: "J-1/co2", data: { job_id: "J-1", item_key: "co2", value: 3, hlc: 5, device_id: "D-2" } },
    { kind: "answer", id: "J-1/gas_tight", data: { job_id: "J-1", item_key: "gas_tight", value: false, hlc: 5 } },
    { kind: "job", id: "J-1", data: { ...JOB, status: "accepted", notes: "server note", field_hlc: { notes: 3 } } },
  ]);
  const detail = await client.reads.job("J-1");
  const answers = Object.fromEntries((detail?.answers ?? []).map((a) => [a.item_key, a.value]));
  assert.deepEqual(answers, { co2: 7, gas_tight: false });
  assert.equal(detail?.job.notes, "local note");
  assert.equal(detail?.job.status, "accepted", "no status op is waiting: the server's status applies");
});

test("a job removed from this engineer's scope disappears with its records", async () => {
  await pull([{ kind: "answer", id: "J-1/co2", data: { job_id: "J-1", item_key: "co2", value: 3, hlc: 5 } }]);
  await pull([{ kind: "job_removed", id: "J-1" }]);
  assert.equal(await client.reads.job("J-1"), null);
  assert.deepEqual((await snapshot()).answers, []);
});

test("a job leaving the tablet keeps the photos not yet uploaded (evidence of unsynced ops), drops the others", async () => {
  const sent = await client.writes.attach("J-1", new TextEncoder().encode("uploaded photo"), "photo", "image/jpeg");
  const unsent = await client.writes.attach("J-1", new TextEncoder().encode("not yet uploaded"), "photo", "image/jpeg");
  await client.store.write(["blobs"], async (tx) => {
    const blob = await tx.objectStore("blobs").get(sent);
    delete blob.pending;
    await tx.objectStore("blobs").put({ ...blob, uploaded: true });
  });
  await pull([{ kind: "job_removed", id: "J-1" }]);
  assert.equal(await client.reads.blob(sent), null);
  assert.notEqual(await client.reads.blob(unsent), null);
  assert.equal((await client.reads.pending()).length, 2, "the unsynced ops stay and are still pushed");
});

test("one page that names a record twice applies both in order, as pages of one record each would", async () => {
  // the records a page merges with are read ahead once: each change must still see what the earlier ones wrote
  const changes = [
    { kind: "job", id: "J-2", data: { ...JOB, id: "J-2", template_version: 7 } },
    { kind: "answer", id: "J-2/co2", data: { job_id: "J-2", item_key: "co2", value: 3, hlc: 5 } },
    { kind: "signoff", id: "J-2", data: { job_id: "J-2", signer_name: "Pat", signer_role: "customer", signed_at: 9,
      report_digest: "a".repeat(64) } },
    { kind: "job", id: "J-2", data: { ...JOB, id: "J-2", template_version: 7, notes: "second version" } },
    { kind: "movement", id: "M-1", data: { id: "M-1", kind: "consume", part_no: "P-IGN", qty: 1, job_id: "J-2",
      returned_serial: "OLD-1" } },
    { kind: "movement", id: "M-1", data: { id: "M-1", kind: "consume", part_no: "P-IGN", qty: 2, job_id: "J-2" } },
    { kind: "job_removed", id: "J-3" },
    { kind: "job", id: "J-3", data: { ...JOB, id: "J-3" } },
    { kind: "movement", id: "M-3", data: { id: "M-3", kind: "consume", part_no: "P-IGN", qty: 1, job_id: "J-3" } },
    { kind: "job_removed", id: "J-3" },
  ];
  await pull(changes);
  const one = await snapshot();
  const job = one.jobs.find((j) => j.id === "J-2");
  assert.equal(job.notes, "second version");
  assert.equal(job.signed_off, true, "the sign-off earlier in the page still counts");
  assert.equal(one.answers.find((a) => a.job_id === "J-2").template_version, 7, "the job written earlier in the page");
  const moved = one.movements.filter((m) => m.job_id === "J-2");
  assert.deepEqual(moved.map((m) => [m.id, m.qty, m.returned_serial]), [["M-1", 2, "OLD-1"]]);
  assert.equal(one.jobs.find((j) => j.id === "J-3"), undefined);
  assert.equal(one.movements.find((m) => m.id === "M-3"), undefined);

  // the same changes one page each leave the same store
  const other = await TabletClient.open({ baseUrl: "http://127.0.0.1:9", rules: rulesDoc(), dbName: freshDbName() });
  for (const change of changes) await other.store.write(PAGE_STORES, (tx) => applyPage(tx, [change]));
  const each = await other.store.read(["jobs", "answers", "movements", "signoffs"], async (tx) => ({
    jobs: await tx.objectStore("jobs").getAll(), answers: await tx.objectStore("answers").getAll(),
    movements: await tx.objectStore("movements").getAll(), signoffs: await tx.objectStore("signoffs").getAll(),
  }));
  other.close();
  const mine = (/** @type {any[]} */ rows, /** @type {(r: any) => boolean} */ keep) => rows.filter(keep);
  const notJ1 = (/** @type {any} */ r) => (r.id ?? r.job_id) !== "J-1" && r.job_id !== "J-1";
  assert.deepEqual(mine(one.jobs, notJ1), mine(each.jobs, notJ1));
  assert.deepEqual(mine(one.answers, notJ1), mine(each.answers, notJ1));
  assert.deepEqual(mine(one.movements, notJ1), mine(each.movements, notJ1));
  assert.deepEqual(mine(one.signoffs, notJ1), mine(each.signoffs, notJ1));
});

test("everything is still there after the database is closed and opened again", async () => {
  await client.writes.setStatus("J-1", "accepted");
  await client.writes.answer("J-1", "remarks", "中文 remark");
  client.close();
  client = await TabletClient.open({ baseUrl: "http://127.0.0.1:9", rules: rulesDoc(), dbName, clock: steppingClock() });
  const detail = await client.reads.job("J-1");
  assert.equal(detail?.job.status, "accepted");
  assert.equal(detail?.answers[0].value, "中文 remark");
  assert.equal((await client.reads.pending()).length, 2);
});

test("sealing chains change-sets: signed by the device key, seq 1, 2 and prev_hash the previous bytes' hash", async () => {
  const device = await client.device();
  const loop = new SyncLoop(client.store, client.transport, device, steppingClock());
  await client.writes.setStatus("J-1", "accepted");
  const first = await loop.sealNext();
  assert.equal(await loop.sealNext(), null, "nothing unsealed is left");
  await client.writes.setStatus("J-1", "en_route");
  const second = await loop.sealNext();
  assert.ok(first && second);
  const cs1 = await openSealed(first.envelope, key.publicRaw);
  const cs2 = await openSealed(second.envelope, key.publicRaw);
  assert.equal(cs1.seq, 1);
  assert.equal(cs1.prev_hash, "");
  assert.equal(cs2.seq, 2);
  assert.equal(cs2.prev_hash, first.hash);
  assert.equal(cs2.ops.length, 1);
  const tampered = Uint8Array.from(second.envelope);
  tampered[tampered.length - 70] ^= 1;
  await assert.rejects(openSealed(tampered, key.publicRaw));
  assert.equal((await client.device()).head_seq, 2);
});

test("a photo upload cut off halfway resumes where the server stopped, not from the start", async () => {
  const data = new Uint8Array(600 * 1024).map((_, i) => i % 251);
  const sha = await client.writes.attach("J-1", data, "photo", "image/jpeg");
  await client.store.write(["outbox"], async (tx) => { await tx.objectStore("outbox").clear(); }); // its op went through
  /** @type {{offset: number, size: number}[]} */
  const puts = [];
  let held = new Uint8Array(0);
  let cut = true;
  const transport = {
    token: "t",
    async blobStatus() {
      return held.length ? { sha256: sha, size: data.length, received: held.length, complete: false } : null;
    },
    async blobPut(/** @type {string} */ _sha, /** @type {number} */ offset, /** @type {number} */ size, /** @type {Uint8Array} */ chunk) {
      puts.push({ offset, size });
      if (offset !== held.length) throw new Error("the server only takes the next byte");
      if (cut && held.length > 0) throw new Offline("link dropped");
      const next = new Uint8Array(held.length + chunk.length);
      next.set(held);
      next.set(chunk, held.length);
      held = next;
      return { sha256: sha, size, received: held.length, complete: held.length === size };
    },
  };
  const loop = new SyncLoop(client.store, /** @type {any} */ (transport), await client.device(), steppingClock());
  await assert.rejects(loop.uploadBlobs(emptyReport(), () => undefined), Offline);
  assert.deepEqual(puts.map((p) => p.offset), [0, 256 * 1024]);
  cut = false;
  const report = emptyReport();
  await loop.uploadBlobs(report, () => undefined);
  assert.deepEqual(puts.map((p) => p.offset), [0, 256 * 1024, 256 * 1024, 512 * 1024], "resumed at the server's offset");
  assert.deepEqual(held, data);
  assert.equal(report.uploaded_blobs, 1);
  assert.equal((await client.reads.job("J-1"))?.attachments[0].uploaded, true);
});

test("the limits of the rules document: a wrong clock, long texts, a huge signature are refused offline", async () => {
  const { text_limits: limits, strokes: strokeLimits } = rulesDoc();
  const wrongClock = await TabletClient.open({
    baseUrl: "http://127.0.0.1:9", rules: rulesDoc(), dbName, clock: () => 86_400_000, // 1970: a reset clock
  });
  const saved = client;
  client = wrongClock;
  try {
    await refused(() => wrongClock.writes.setStatus("J-1", "accepted"), "bad_time");
    await refused(() => wrongClock.writes.setField("J-1", "notes", "fine"), "bad_time");
  } finally {
    wrongClock.close();
    client = saved;
  }
  const note = "n".repeat(limits["job.status"].note + 1);
  await refused(() => client.writes.setStatus("J-1", "accepted", null, note), "text_too_long");
  await refused(() => client.writes.setStatus("J-1", "accepted", "awaiting_parts"), "hold_reason_not_allowed");
  await refused(() => client.writes.setField("J-1", "notes", "x".repeat(limits["job.field"].notes + 1)), "text_too_long");
  await refused(() => client.writes.setField("J-1", "notes", "a\0b"), "nul_in_text");
  await refused(() => client.writes.usePart("J-1", "P-IGN", 1, null, "s".repeat(limits["part.move"].returned_serial + 1)),
    "text_too_long");
  await client.writes.setStatus("J-1", "on_site");
  const pen = Array.from({ length: strokeLimits.max_strokes + 1 }, () => [[1, 2, 0], [3, 4, 16]]);
  await refused(() => client.signOff("J-1", "Ada", pen), "strokes_too_large");
  await refused(() => client.signOff("J-1", "Ada", [[[1, 2, 0], [3, 4, 16]]], { role: "r".repeat(101) }),
    "text_too_long");
});
