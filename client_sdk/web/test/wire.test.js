// msgpack as the protocol writes it: smallest integer forms, 64-bit HLCs, fixed key order, round trips.
import assert from "node:assert/strict";
import { test } from "node:test";

import { toHex } from "../engine/bytes.js";
import { pack, tick } from "../engine/hlc.js";
import * as wire from "../engine/wire.js";

test("integers take the smallest msgpack form, past 32 bits uint64/int64, from Numbers and BigInts alike", () => {
  const cases = [
    [0, "00"], [127, "7f"], [128, "cc80"], [65535, "cdffff"], [65536, "ce00010000"],
    [2 ** 32, "cf0000000100000000"], [1_700_000_000_000, "cf0000018bcfe56800"],
    [-1, "ff"], [-32, "e0"], [-33, "d0df"], [-200, "d1ff38"], [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
    [0n, "00"], [5n, "05"], [2n ** 60n, "cf1000000000000000"], [-(2n ** 40n), "d3ffffff0000000000"],
    [1.5, "cb3ff8000000000000"],
  ];
  for (const [value, hex] of cases) assert.equal(toHex(wire.encode(value)), hex, String(value));
});

test("a status op encodes with the protocol's key order, every field present", () => {
  const op = wire.setStatus({ op_id: "a", hlc: 2n ** 60n, job_id: "j", at: 1_700_000_000_000, status: "on_site" });
  // the same bytes the Python server writes for SetStatus(op_id='a', hlc=2**60, job_id='j', at=..., status='on_site')
  assert.equal(toHex(wire.encode(op)),
    "88a474797065aa6a6f622e737461747573a6737461747573a76f6e5f73697465ab686f6c645f726561736f6ec0a46e6f7465c0"
    + "a56f705f6964a161a3686c63cf1000000000000000a66a6f625f6964a16aa26174cf0000018bcfe56800");
});

test("every op type keeps its fields in the protocol's order", () => {
  const base = { op_id: "o", hlc: pack(1_700_000_000_000), job_id: "j", at: 1 };
  const tailKeys = ["op_id", "hlc", "job_id", "at"];
  /** @type {[import("../engine/wire.js").Op, string[]][]} */
  const orders = [
    [wire.setField({ ...base, field: "notes", value: "x" }), ["type", "field", "value", "base_hlc"]],
    [wire.answerItem({ ...base, item_key: "k", value: 1 }),
      ["type", "item_key", "value", "note", "na_reason", "template_version", "base_hlc"]],
    [wire.movePart({ ...base, kind: "consume", part_no: "p" }),
      ["type", "kind", "part_no", "qty", "serial", "returned_serial", "from_location", "to_location"]],
    [wire.signOff({ ...base, signer_name: "x", signer_role: "c", signed_at: 1, report_digest: "d", strokes: [[1, 2]],
      device_signature: new Uint8Array(2) }),
      ["type", "signer_name", "signer_role", "signed_at", "report_digest", "strokes", "device_signature", "rating", "comment"]],
    [wire.attach({ ...base, sha256: "s" }), ["type", "sha256", "kind", "size", "content_type"]],
    [wire.deleteOp({ ...base, entity: "answer", key: "k" }), ["type", "entity", "key"]],
  ];
  for (const [op, head] of orders) {
    const decoded = /** @type {Record<string, unknown>} */ (wire.decode(wire.encode(op)));
    assert.deepEqual(Object.keys(decoded), [...head, ...tailKeys]);
  }
});

test("ops round-trip through the outbox bytes with their HLCs exact", () => {
  let hlc = 0n;
  for (let i = 0; i < 50; i++) {
    hlc = tick(hlc, 1_767_225_600_000 + (i % 3));
    const op = wire.answerItem({ op_id: `op${i}`, hlc, job_id: "J-1", at: 1_767_225_600_000 + i, item_key: "k",
      value: i % 2 ? 9.25 : "ok", note: "ä 中文", base_hlc: hlc - 1n, template_version: 3 });
    const back = wire.decodeOp(wire.encode(op));
    assert.deepEqual(back, op);
    assert.equal(typeof back.hlc, "bigint");
  }
});

test("decodeChecked refuses a message whose fields are missing or of another type", () => {
  const bytes = wire.encode({ device_id: "d", nonce: 5 });
  assert.throws(() => wire.decodeChecked(bytes, wire.SHAPES.challenge, "challenge"), wire.WireError);
  assert.throws(() => wire.decodeChecked(new Uint8Array([0xc1]), wire.SHAPES.challenge, "challenge"), wire.WireError);
});
