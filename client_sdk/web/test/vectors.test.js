// The app's protocol code against the shared test vectors (schemas/vectors/, docs/protocol.md §14):
// the same keys, HLCs, canonical JSON, digests, signatures and bytes as the Python implementation.
//
// Byte-for-byte encoding is checked everywhere JavaScript can hold the value: a float64 whose value is an
// integer (`9.0`) is a Number like any integer here and is written as an integer, which the protocol allows
// (§2.1: signatures are over the bytes as sent); those places are compared token by token instead.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { applyPage, PAGE_STORES } from "../engine/apply.js";
import { fromHex, sha256Hex, toHex, utf8 } from "../engine/bytes.js";
import { canonicalJson } from "../engine/canonical.js";
import { seal } from "../engine/changeset.js";
import { endorsedKeys, keyFromSeed, keyRotationMessage, sign, verify } from "../engine/keys.js";
import { pack, physical } from "../engine/hlc.js";
import { assembleReportContent, certificateMessage, reportCanonical, reportDigest, signOffMessage } from "../engine/report.js";
import { LocalStore } from "../engine/store.js";
import { SyncLoop } from "../engine/syncer.js";
import * as wire from "../engine/wire.js";
import { tokenFrom } from "../ui/views/enroll.js";
import { REPO, freshDbName } from "./support.js";

const DIR = process.env.FIELDSYNC_VECTORS ?? join(REPO, "schemas", "vectors");
const skip = existsSync(DIR) ? false : `no vectors at ${DIR}`;
const HLC_FIELDS = new Set(["hlc", "base_hlc"]);

/** @param {string} name @returns {any} */
function load(name) {
  return JSON.parse(readFileSync(join(DIR, `${name}.json`), "utf8"));
}

/**
 * A vector's JSON value as the app holds it: HLCs (decimal strings in the vectors) as BigInt, and the
 * byte fields named in `bytes` from hex.
 * @param {any} value @param {Set<string>} [bytes] @returns {any}
 */
function asApp(value, bytes = new Set()) {
  if (Array.isArray(value)) return value.map((v) => asApp(v, bytes));
  if (value === null || typeof value !== "object") return value;
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (HLC_FIELDS.has(k)) out[k] = BigInt(/** @type {string | number} */ (v));
    else if (k === "field_hlc") out[k] = Object.fromEntries(Object.entries(v).map(([f, h]) => [f, BigInt(h)]));
    else if (bytes.has(k) && typeof v === "string") out[k] = fromHex(v);
    else out[k] = asApp(v, bytes);
  }
  return out;
}

/** A decoded message with its 64-bit integers as BigInt where the app keeps HLCs. @param {any} value @returns {any} */
function hlcsAsBigInt(value) {
  return asApp(value);
}

// -- msgpack tokens, to tell an integral float64 from any other difference ------------------------------

/** @param {Uint8Array} b @returns {[string, unknown][]} */
function tokens(b) {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  /** @type {[string, unknown][]} */
  const out = [];
  let i = 0;
  const str = (/** @type {number} */ n) => {
    const s = new TextDecoder().decode(b.subarray(i, i + n));
    i += n;
    return s;
  };
  const bin = (/** @type {number} */ n) => {
    const s = toHex(b.subarray(i, i + n));
    i += n;
    return s;
  };
  while (i < b.length) {
    const t = b[i++];
    if (t <= 0x7f) out.push(["int", BigInt(t)]);
    else if (t >= 0xe0) out.push(["int", BigInt(t - 0x100)]);
    else if (t >= 0x80 && t <= 0x8f) out.push(["map", t & 0x0f]);
    else if (t >= 0x90 && t <= 0x9f) out.push(["array", t & 0x0f]);
    else if (t >= 0xa0 && t <= 0xbf) out.push(["str", str(t & 0x1f)]);
    else {
      switch (t) {
        case 0xc0: out.push(["nil", null]); break;
        case 0xc2: out.push(["bool", false]); break;
        case 0xc3: out.push(["bool", true]); break;
        case 0xc4: { const n = view.getUint8(i); i += 1; out.push(["bin", bin(n)]); break; }
        case 0xc5: { const n = view.getUint16(i); i += 2; out.push(["bin", bin(n)]); break; }
        case 0xc6: { const n = view.getUint32(i); i += 4; out.push(["bin", bin(n)]); break; }
        case 0xca: out.push(["float", view.getFloat32(i)]); i += 4; break;
        case 0xcb: out.push(["float", view.getFloat64(i)]); i += 8; break;
        case 0xcc: out.push(["int", BigInt(view.getUint8(i))]); i += 1; break;
        case 0xcd: out.push(["int", BigInt(view.getUint16(i))]); i += 2; break;
        case 0xce: out.push(["int", BigInt(view.getUint32(i))]); i += 4; break;
        case 0xcf: out.push(["int", view.getBigUint64(i)]); i += 8; break;
        case 0xd0: out.push(["int", BigInt(view.getInt8(i))]); i += 1; break;
        case 0xd1: out.push(["int", BigInt(view.getInt16(i))]); i += 2; break;
        case 0xd2: out.push(["int", BigInt(view.getInt32(i))]); i += 4; break;
        case 0xd3: out.push(["int", view.getBigInt64(i)]); i += 8; break;
        case 0xd9: { const n = view.getUint8(i); i += 1; out.push(["str", str(n)]); break; }
        case 0xda: { const n = view.getUint16(i); i += 2; out.push(["str", str(n)]); break; }
        case 0xdb: { const n = view.getUint32(i); i += 4; out.push(["str", str(n)]); break; }
        case 0xdc: out.push(["array", view.getUint16(i)]); i += 2; break;
        case 0xdd: out.push(["array", view.getUint32(i)]); i += 4; break;
        case 0xde: out.push(["map", view.getUint16(i)]); i += 2; break;
        case 0xdf: out.push(["map", view.getUint32(i)]); i += 4; break;
        default: throw new Error(`msgpack type 0x${t.toString(16)} not used by the protocol`);
      }
    }
  }
  return out;
}

/**
 * The app's bytes are the vector's bytes, or differ only where the vector has a float64 holding an integer
 * and the app the same integer. Returns how many such places there were.
 * @param {Uint8Array} mine @param {Uint8Array} expected
 */
function sameEncoding(mine, expected) {
  if (toHex(mine) === toHex(expected)) return 0;
  const a = tokens(mine);
  const b = tokens(expected);
  assert.equal(a.length, b.length, "the same msgpack structure");
  let floats = 0;
  for (let i = 0; i < a.length; i++) {
    const [ka, va] = a[i];
    const [kb, vb] = b[i];
    if (ka === "int" && kb === "float" && Number.isInteger(vb) && BigInt(/** @type {number} */ (vb)) === va) {
      floats += 1;
      continue;
    }
    assert.deepEqual(a[i], b[i], `token ${i}`);
  }
  return floats;
}

test("every vector file is checked here", { skip }, () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith(".json")).map((f) => f.replace(/\.json$/, "")).sort();
  assert.deepEqual(files, ["accepted", "canonical_json", "certificate", "changesets", "hlc", "key_rotation", "keys", "messages",
    "pull_page", "receipt", "search_tokens", "session", "signoff"]);  // search_tokens: test/search.test.js
});

test("keys: both public keys from their seeds, the server key id", { skip }, async () => {
  const keys = load("keys");
  const device = await keyFromSeed(fromHex(keys.device.seed));
  const server = await keyFromSeed(fromHex(keys.server.seed));
  assert.equal(toHex(device.publicRaw), keys.device.public_key);
  assert.equal(toHex(server.publicRaw), keys.server.public_key);
  assert.equal((await sha256Hex(server.publicRaw)).slice(0, 16), keys.server.key_id);
});

test("hlc: pack and unpack, past 2^53 exactly", { skip }, () => {
  for (const c of load("hlc").cases) {
    const h = pack(c.physical_ms, c.counter);
    assert.equal(h, BigInt(c.hlc));
    assert.equal(h.toString(16).padStart(16, "0"), c.hlc_hex);
    assert.equal(physical(h), c.physical_ms);
    if (h >= 2n ** 32n) assert.equal(toHex(wire.encode(h)), `cf${c.hlc_hex}`, "a 64-bit HLC is a msgpack uint64");
  }
});

test("canonical JSON (RFC 8785) of every case", { skip }, () => {
  for (const c of load("canonical_json").cases) assert.equal(canonicalJson(JSON.parse(c.input)), c.canonical, c.note);
});

test("sign-off: content assembled, canonicalized, digested, the message signed to the same signature", { skip }, async () => {
  const v = load("signoff");
  const keys = load("keys");
  const input = v.assembly_input;
  const content = assembleReportContent(input.job, input.answers, input.movements, input.photos, input.times);
  assert.deepEqual(JSON.parse(JSON.stringify(content)), v.content);
  assert.equal(reportCanonical(content), v.canonical_json);
  assert.equal(toHex(utf8(reportCanonical(content))), v.canonical_json_hex);
  assert.equal(await reportDigest(content), v.report_digest);
  const message = signOffMessage(v.job_id, v.report_digest, v.signed_at, v.signer_name);
  assert.equal(toHex(message), v.message_hex);
  const device = await keyFromSeed(fromHex(keys.device.seed));
  assert.equal(toHex(await sign(device.privateKey, message)), v.device_signature);
  assert.ok(await verify(fromHex(v.device_public_key), fromHex(v.device_signature), message));
});

test("certificate: the message the server signs, and its signature verifies", { skip }, async () => {
  const v = load("certificate");
  const message = certificateMessage(v.device_id, v.engineer_id, fromHex(v.device_public_key));
  assert.equal(toHex(message), v.message_hex);
  assert.ok(await verify(fromHex(load("keys").server.public_key), fromHex(v.certificate), message));
});

test("session: the nonce signed, the challenge decoded, the session request encoded", { skip }, async () => {
  const v = load("session");
  const device = await keyFromSeed(fromHex(load("keys").device.seed));
  assert.equal(toHex(utf8(v.nonce)), v.message_hex);
  assert.equal(toHex(await sign(device.privateKey, utf8(v.nonce))), v.signature);
  assert.deepEqual(wire.decodeChecked(fromHex(v.challenge.msgpack), wire.SHAPES.challenge, "challenge"), v.challenge.value);
  const request = wire.sessionRequest(asApp(v.session_request.value, new Set(["signature"])));
  assert.equal(toHex(wire.encode(request)), v.session_request.msgpack);
});

test("messages: enrollment, challenge, session and pull as the protocol encodes them; the enrollment link", { skip }, () => {
  const v = load("messages");
  const byName = Object.fromEntries(v.messages.map((/** @type {any} */ m) => [m.name, m]));
  const enroll = asApp(byName.enroll_request.value, new Set(["public_key"]));
  assert.equal(toHex(wire.encode(wire.enrollRequest(enroll))), byName.enroll_request.msgpack);
  assert.deepEqual(wire.decodeChecked(fromHex(byName.enrollment.msgpack), wire.SHAPES.enrollment, "enrollment"),
    asApp(byName.enrollment.value, new Set(["server_public_key", "certificate"])));
  assert.equal(toHex(wire.encode({ device_id: byName.challenge_request.value.device_id })), byName.challenge_request.msgpack);
  assert.deepEqual(wire.decodeChecked(fromHex(byName.session.msgpack), wire.SHAPES.session, "session"), byName.session.value);
  assert.equal(toHex(wire.encode(wire.pullRequest(byName.pull_request.value))), byName.pull_request.msgpack);
  const link = v.enrollment_link;
  assert.equal(tokenFrom(link.link), link.token);
  assert.equal(`${link.server}/tablet/#/enroll?token=${encodeURIComponent(link.token)}`, link.link);
});

test("change-sets: signatures over the bytes as sent, the hash chain, the ops decoded and encoded alike", { skip }, async () => {
  const v = load("changesets");
  const device = await keyFromSeed(fromHex(load("keys").device.seed));
  let head = { seq: 0, hash: "" };
  let exact = 0;
  for (const c of v.changesets) {
    const envelope = /** @type {{changeset: Uint8Array, signature: Uint8Array}} */ (
      wire.decodeChecked(fromHex(c.envelope_msgpack), wire.SHAPES.signedChangeSet, "envelope"));
    assert.equal(toHex(envelope.changeset), c.changeset_msgpack);
    assert.equal(toHex(envelope.signature), c.signature);
    assert.ok(await verify(fromHex(v.device_public_key), envelope.signature, envelope.changeset));
    assert.equal(await sha256Hex(envelope.changeset), c.changeset_sha256);
    assert.equal(c.changeset.prev_hash, head.hash, "prev_hash is the previous change-set's hash");
    const decoded = /** @type {any} */ (wire.decodeChecked(envelope.changeset, wire.SHAPES.changeSet, "change-set"));
    decoded.ops = decoded.ops.map((/** @type {any} */ op) => wire.decodeOp(wire.encode(op)));
    const expected = asApp(c.changeset, new Set(["device_signature"]));
    assert.deepEqual(decoded, expected);
    // the app's own builders and sealing give the same bytes (up to integral floats) ...
    const ops = expected.ops.map(rebuild);
    const body = wire.encode(wire.changeSet({ ...expected, ops }));
    const floats = sameEncoding(body, fromHex(c.changeset_msgpack));
    const sealed = await seal(device.privateKey, v.device_id, head, ops, expected.device_clock);
    assert.equal(sealed.head.seq, c.seq);
    if (floats === 0) {
      // ... and then the same signature and envelope, byte for byte
      assert.equal(toHex(sealed.envelope), c.envelope_msgpack);
      assert.equal(sealed.head.hash, c.changeset_sha256);
      exact += 1;
    }
    head = { seq: c.seq, hash: c.changeset_sha256 };
  }
  assert.ok(exact >= 1, "a change-set without integral floats is sealed to the very same envelope");
});

/** An op from its vector value through the app's own builder for its type. @param {any} op */
function rebuild(op) {
  switch (op.type) {
    case "job.status": return wire.setStatus(op);
    case "job.field": return wire.setField(op);
    case "checklist.answer": return wire.answerItem(op);
    case "part.move": return wire.movePart(op);
    case "signoff": return wire.signOff(op);
    case "attachment": return wire.attach(op);
    case "delete": return wire.deleteOp(op);
    case "signoff.amend": return wire.amend(op);
    default: throw new Error(`unknown op ${op.type}`);
  }
}

test("receipt: the server's signature verifies over its body, which names change-set 1", { skip }, async () => {
  const v = load("receipt");
  const signed = /** @type {wire.Signed} */ (wire.decodeChecked(fromHex(v.envelope_msgpack), wire.SHAPES.signed, "signed"));
  assert.equal(toHex(signed.body), v.body_msgpack);
  assert.equal(toHex(signed.signature), v.signature);
  assert.equal(signed.key_id, v.key_id);
  assert.ok(await verify(fromHex(v.server_public_key), signed.signature, signed.body));
  const receipt = wire.decodeChecked(signed.body, wire.SHAPES.receipt, "receipt");
  assert.deepEqual(receipt, v.value);
  const first = load("changesets").changesets[0];
  assert.equal(receipt.seq, first.seq);
  assert.equal(receipt.changeset_hash, first.changeset_sha256);
});

test("accepted: signed like a receipt, its body byte for byte, naming change-set 1", { skip }, async () => {
  const v = load("accepted");
  const signed = /** @type {wire.Signed} */ (wire.decodeChecked(fromHex(v.envelope_msgpack), wire.SHAPES.signed, "signed"));
  assert.equal(toHex(signed.body), v.body_msgpack);
  assert.equal(toHex(signed.signature), v.signature);
  assert.equal(signed.key_id, v.key_id);
  assert.ok(await verify(fromHex(v.server_public_key), signed.signature, signed.body));
  const accepted = wire.decodeChecked(signed.body, wire.SHAPES.accepted, "accepted");
  assert.deepEqual(accepted, v.value);
  assert.equal(toHex(wire.encode(v.value)), v.body_msgpack); // kind first, the fields in the protocol's order
  const first = load("changesets").changesets[0];
  assert.equal(accepted.seq, first.seq);
  assert.equal(accepted.changeset_hash, first.changeset_sha256);
});

test("accepted and receipt vectors: the sync loop tells one from the other and checks both", { skip }, async () => {
  const accepted = load("accepted");
  const receipt = load("receipt");
  const first = load("changesets").changesets[0];
  const device = { device_id: accepted.value.device_id, server_public_key: fromHex(accepted.server_public_key) };
  const loop = new SyncLoop(/** @type {any} */ (null), /** @type {any} */ (null), device, () => 0);
  loop.chainChecked = true;
  const sealed = { seq: first.seq, hash: first.changeset_sha256 };
  const signedOf = (/** @type {any} */ vec) => /** @type {wire.Signed} */ (
    wire.decodeChecked(fromHex(vec.envelope_msgpack), wire.SHAPES.signed, "signed"));
  const a = await loop.verdict({ status: 202, signed: signedOf(accepted) }, sealed);
  assert.equal(a.accepted?.op_count, accepted.value.op_count);
  assert.equal(a.receipt, undefined);
  const r = await loop.verdict({ status: 200, signed: signedOf(receipt) }, sealed);
  assert.equal(r.receipt?.seq, 1);
  assert.equal(r.accepted, undefined);
  // a 202 whose body is a Receipt, an Accepted for another change-set, a body the key did not sign: refused
  await assert.rejects(loop.verdict({ status: 202, signed: signedOf(receipt) }, sealed), /not an Accepted/);
  await assert.rejects(loop.verdict({ status: 202, signed: signedOf(accepted) }, { seq: 2, hash: sealed.hash }),
    /does not match/);
  const forged = { ...signedOf(accepted), body: wire.encode({ ...accepted.value, op_count: 8 }) };
  await assert.rejects(loop.verdict({ status: 202, signed: forged }, sealed), /does not verify/);
});

test("pull page: verified, decoded, and every record kind applied to the local store", { skip }, async () => {
  const v = load("pull_page");
  const signed = /** @type {wire.Signed} */ (wire.decodeChecked(fromHex(v.envelope_msgpack), wire.SHAPES.signed, "signed"));
  assert.equal(toHex(signed.body), v.body_msgpack);
  assert.ok(await verify(fromHex(v.server_public_key), signed.signature, signed.body));
  /** @type {wire.PullPage} */
  const page = wire.decodeChecked(signed.body, wire.SHAPES.pullPage, "pull page");
  assert.deepEqual(hlcsAsBigInt(page), asApp(v.value));
  sameEncoding(wire.encode(page), signed.body); // the same page, up to integral floats

  const store = await LocalStore.open(freshDbName());
  const byKind = Object.fromEntries(page.changes.map((c) => [c.kind, /** @type {Record<string, any>} */ (c.data)]));
  // a job the page removes from this tablet's scope is here first, with an answer
  await store.write(PAGE_STORES, (tx) => applyPage(tx, [
    { kind: "job", id: byKind.job_removed.id, data: { ...byKind.job, id: byKind.job_removed.id } },
    { kind: "answer", id: "x", data: { ...byKind.answer, job_id: byKind.job_removed.id } }]));
  const understood = await store.write(PAGE_STORES, (tx) => applyPage(tx, page.changes));
  assert.equal(understood, page.changes.length - 1, "every kind but asset (not shown by the app)");
  const got = await store.read(["jobs", "answers", "templates", "parts", "stock", "movements", "attachments", "signoffs",
    "conflicts", "kb"], async (tx) => ({
    kb: await tx.objectStore("kb").get(byKind.kb.id),
    job: await tx.objectStore("jobs").get(byKind.job.id),
    removed: await tx.objectStore("jobs").get(byKind.job_removed.id),
    answers: await tx.objectStore("answers").getAll(),
    template: await tx.objectStore("templates").get([byKind.template.id, byKind.template.version]),
    part: await tx.objectStore("parts").get(byKind.part.part_no),
    stock: await tx.objectStore("stock").getAll(),
    movement: await tx.objectStore("movements").get(byKind.movement.id),
    attachment: await tx.objectStore("attachments").get([byKind.attachment.job_id, byKind.attachment.sha256]),
    signoff: await tx.objectStore("signoffs").get(byKind.signoff.job_id),
    conflict: await tx.objectStore("conflicts").get(byKind.conflict.id),
  }));
  store.close();
  assert.equal(got.job.status, byKind.job.status);
  assert.equal(got.job.ticket.customer, byKind.job.ticket.customer);
  assert.deepEqual(got.job.field_hlc, { diagnosis: BigInt(v.value.changes.find((/** @type {any} */ c) => c.kind === "job").data.field_hlc.diagnosis) });
  assert.equal(got.removed, undefined);
  assert.deepEqual(got.answers.map((a) => [a.job_id, a.item_key, a.value, typeof a.hlc]),
    [[byKind.answer.job_id, byKind.answer.item_key, byKind.answer.value, "bigint"]]);
  assert.equal(got.template.items.length, byKind.template.items.length);
  assert.equal(got.part.serialized, byKind.part.serialized);
  assert.deepEqual([got.kb.symptom, got.kb.parts, got.kb.model], [byKind.kb.symptom, byKind.kb.parts, byKind.kb.model]);
  assert.deepEqual(got.stock, [{ location: byKind.stock.location, part_no: byKind.stock.part_no, qty: byKind.stock.qty }]);
  assert.equal(got.movement.serial, byKind.movement.serial);
  assert.equal(got.attachment.kind, "photo");
  assert.equal(got.signoff.report_digest, byKind.signoff.report_digest);
  assert.equal(got.conflict.values.length, 2);
});

test("key rotation: the endorsement verifies, the session's chain is walked from the enrolled key", { skip }, async () => {
  const v = load("key_rotation");
  const enrolled = fromHex(load("keys").server.public_key);
  const rotated = fromHex(v.rotated.public_key);
  assert.equal(toHex(keyRotationMessage(enrolled, rotated)), v.message_hex);
  assert.ok(await verify(enrolled, fromHex(v.endorsement), fromHex(v.message_hex)));
  assert.equal((await keyFromSeed(fromHex(v.rotated.seed))).publicRaw.length, 32);
  assert.equal(toHex((await keyFromSeed(fromHex(v.rotated.seed))).publicRaw), v.rotated.public_key);
  /** @type {any} */
  const session = wire.decodeChecked(fromHex(v.session.msgpack), wire.SHAPES.session, "session");
  assert.equal(session.server_keys.length, 3);
  const trusted = await endorsedKeys(enrolled, session.server_keys);
  assert.deepEqual(trusted.map(toHex), v.trusted_from_enrolled);
  for (const name of ["signed_by_rotated", "signed_by_forged"]) {
    const s = v[name];
    let ok = false;
    for (const key of trusted) ok ||= await verify(key, fromHex(s.signature), fromHex(s.body_msgpack));
    assert.equal(ok, s.valid, name);
  }
  // a chain that does not hold the enrolled key trusts nothing new
  assert.deepEqual((await endorsedKeys(rotated, session.server_keys.slice(0, 1))).map(toHex), [v.rotated.public_key]);
});
