// Answers the Python test suite's questions about the app's engine, one JSON document on stdin, one on stdout
// (tests/unit/test_tablet_interop.py): how the engine encodes ops, how it decodes the server's bytes, and
// what its rules say about writes. The Python side asks the same of the SDK and the server and compares.
//
// Integers beyond 2^53 travel as {"$int": "<decimal>"} both ways; byte strings as {"$bytes": "<hex>"}.
import { readFileSync } from "node:fs";

import { fromHex, toHex } from "../engine/bytes.js";
import { Rules } from "../engine/rules.js";
import * as wire from "../engine/wire.js";

/** @param {any} value @returns {any} */
function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value === null || typeof value !== "object") return value;
  if ("$int" in value) return BigInt(value.$int);
  if ("$bytes" in value) return fromHex(value.$bytes);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromJson(v)]));
}

/** @param {any} value @returns {any} */
function toJson(value) {
  if (typeof value === "bigint") {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value) : { $int: value.toString() };
  }
  if (value instanceof Uint8Array) return { $bytes: toHex(value) };
  if (Array.isArray(value)) return value.map(toJson);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
}

/** @type {Record<string, (op: any) => wire.Op>} */
const BUILDERS = {
  "job.status": wire.setStatus, "job.field": wire.setField, "checklist.answer": wire.answerItem,
  "part.move": wire.movePart, signoff: wire.signOff, attachment: wire.attach, delete: wire.deleteOp,
};

const request = fromJson(JSON.parse(readFileSync(0, "utf8")));
const rules = request.rules ? new Rules(request.rules) : null;
/** @type {Record<string, (c: any) => unknown>} */
const ANSWERS = {
  // an op built by the engine's builder for its type, as msgpack
  encode_op: (op) => toHex(wire.encode(BUILDERS[op.type](op))),
  // the server's or the SDK's bytes of an op, as the engine reads them
  decode_op: (hex) => wire.decodeOp(fromHex(hex)),
  check_answer: (c) => /** @type {Rules} */ (rules).checkAnswer(c.item, c.value, c.na_reason),
  check_status: (c) => /** @type {Rules} */ (rules).checkStatus(c.current, c.target, c.hold_reason, null, null,
    Boolean(c.remote)),
  check_field: (c) => /** @type {Rules} */ (rules).checkField(c.field, c.value),
  check_part: (c) => /** @type {Rules} */ (rules).checkPart(c.part ?? undefined, c.qty, c.serial),
};
const answer = ANSWERS[request.kind];
process.stdout.write(JSON.stringify(toJson(request.cases.map((/** @type {unknown} */ c) => answer(c)))));
