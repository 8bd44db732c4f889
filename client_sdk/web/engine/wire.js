// The sync protocol's messages and their msgpack encoding, byte for byte as the protocol specifies.
//
// Messages are msgpack maps whose keys come in a fixed order (the order the protocol document and the
// vectors give; the Python server writes the same), so every builder below sets its keys in that order
// and fills every field, defaults included. Integers take the smallest msgpack int that holds them:
// Numbers and BigInts are normalised before encoding so that an integer past 32 bits is a uint64/int64
// (from a BigInt) and a small BigInt is a plain small int. Decoding gives BigInt for 64-bit integers;
// `normalise` turns those that fit a Number back into Numbers, and HLC fields are read with `asHlc`.

import { Decoder, Encoder } from "../vendor/msgpack/index.mjs";

export const PROTOCOL_VERSION = 1;

const encoder = new Encoder({ useBigInt64: true });
const decoder = new Decoder({ useBigInt64: true });

const U32 = 2 ** 32;
const I32 = -(2 ** 31);

/**
 * A value ready for the encoder: integers that need 64 bits as BigInt, every other integer as Number.
 * @param {unknown} value @returns {unknown}
 */
function prepare(value) {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && (value >= U32 || value < I32) ? BigInt(value) : value;
  }
  if (typeof value === "bigint") {
    return value < BigInt(U32) && value >= BigInt(I32) ? Number(value) : value;
  }
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(prepare);
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = prepare(v);
  return out;
}

/**
 * Decoded values with 64-bit integers that fit a Number as Numbers (HLCs past 2^53 stay BigInt).
 * @param {unknown} value @returns {unknown}
 */
export function normalise(value) {
  if (typeof value === "bigint") {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
  }
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(normalise);
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = normalise(v);
  return out;
}

/** @param {unknown} message @returns {Uint8Array} */
export function encode(message) {
  return encoder.encode(prepare(message));
}

/** @param {Uint8Array} bytes @returns {unknown} */
export function decode(bytes) {
  return normalise(decoder.decode(bytes));
}

// -- ops ---------------------------------------------------------------------------------------------

/**
 * Fields every op carries.
 * @typedef {object} OpBase
 * @property {string} op_id  uuid4 hex: makes the op idempotent on the server
 * @property {bigint} hlc    the device's hybrid logical clock
 * @property {string} job_id
 * @property {number} at     device wall time of the event, epoch ms
 */

/** @typedef {{type: "job.status", status: string, hold_reason: string | null, note: string | null} & OpBase} SetStatus */
/** @typedef {{type: "job.field", field: string, value: string | number | boolean | null, base_hlc: bigint} & OpBase} SetField */
/** @typedef {string | number | boolean | null} Scalar */
/**
 * @typedef {{type: "checklist.answer", item_key: string, value: Scalar, note: string | null,
 *   na_reason: string | null, template_version: number, base_hlc: bigint} & OpBase} AnswerItem
 */
/**
 * @typedef {{type: "part.move", kind: string, part_no: string, qty: number, serial: string | null,
 *   returned_serial: string | null, from_location: string | null, to_location: string | null} & OpBase} MovePart
 */
/**
 * @typedef {{type: "signoff", signer_name: string, signer_role: string, signed_at: number, report_digest: string,
 *   strokes: number[][], device_signature: Uint8Array, rating: number | null, comment: string | null} & OpBase} SignOff
 */
/** @typedef {{type: "attachment", sha256: string, kind: string, size: number, content_type: string} & OpBase} Attach */
/** @typedef {{type: "delete", entity: string, key: string} & OpBase} Delete */
/**
 * An edit of signed content made knowingly (the edit is its own op, `edit_op_id`, sent just before).
 * @typedef {{type: "signoff.amend", edit_op_id: string, target: string, key: string, value: Scalar,
 *   reason: string} & OpBase} Amend
 */
/** @typedef {SetStatus | SetField | AnswerItem | MovePart | SignOff | Attach | Delete | Amend} Op */

/** @param {OpBase} base */
function tail(base) {
  return { op_id: base.op_id, hlc: base.hlc, job_id: base.job_id, at: base.at };
}

/** @param {OpBase & {status: string, hold_reason?: string | null, note?: string | null}} o @returns {SetStatus} */
export function setStatus(o) {
  return { type: "job.status", status: o.status, hold_reason: o.hold_reason ?? null, note: o.note ?? null, ...tail(o) };
}

/** @param {OpBase & {field: string, value: Scalar, base_hlc?: bigint}} o @returns {SetField} */
export function setField(o) {
  return { type: "job.field", field: o.field, value: o.value, base_hlc: o.base_hlc ?? 0n, ...tail(o) };
}

/**
 * @param {OpBase & {item_key: string, value: Scalar, note?: string | null, na_reason?: string | null,
 *   template_version?: number, base_hlc?: bigint}} o
 * @returns {AnswerItem}
 */
export function answerItem(o) {
  return {
    type: "checklist.answer", item_key: o.item_key, value: o.value, note: o.note ?? null,
    na_reason: o.na_reason ?? null, template_version: o.template_version ?? 0, base_hlc: o.base_hlc ?? 0n, ...tail(o),
  };
}

/**
 * @param {OpBase & {kind: string, part_no: string, qty?: number, serial?: string | null,
 *   returned_serial?: string | null, from_location?: string | null, to_location?: string | null}} o
 * @returns {MovePart}
 */
export function movePart(o) {
  return {
    type: "part.move", kind: o.kind, part_no: o.part_no, qty: o.qty ?? 1, serial: o.serial ?? null,
    returned_serial: o.returned_serial ?? null, from_location: o.from_location ?? null,
    to_location: o.to_location ?? null, ...tail(o),
  };
}

/**
 * @param {OpBase & {signer_name: string, signer_role: string, signed_at: number, report_digest: string,
 *   strokes: number[][], device_signature: Uint8Array, rating?: number | null, comment?: string | null}} o
 * @returns {SignOff}
 */
export function signOff(o) {
  return {
    type: "signoff", signer_name: o.signer_name, signer_role: o.signer_role, signed_at: o.signed_at,
    report_digest: o.report_digest, strokes: o.strokes, device_signature: o.device_signature,
    rating: o.rating ?? null, comment: o.comment ?? null, ...tail(o),
  };
}

/** @param {OpBase & {sha256: string, kind?: string, size?: number, content_type?: string}} o @returns {Attach} */
export function attach(o) {
  return {
    type: "attachment", sha256: o.sha256, kind: o.kind ?? "photo", size: o.size ?? 0,
    content_type: o.content_type ?? "application/octet-stream", ...tail(o),
  };
}

/** @param {OpBase & {entity: string, key: string}} o @returns {Delete} */
export function deleteOp(o) {
  return { type: "delete", entity: o.entity, key: o.key, ...tail(o) };
}

/**
 * @param {OpBase & {edit_op_id: string, target: string, key: string, value: Scalar, reason: string}} o
 * @returns {Amend}
 */
export function amend(o) {
  return {
    type: "signoff.amend", edit_op_id: o.edit_op_id, target: o.target, key: o.key, value: o.value,
    reason: o.reason, ...tail(o),
  };
}

/**
 * An op decoded from msgpack (an outbox body) with its HLCs as BigInt again.
 * @param {Uint8Array} body @returns {Op}
 */
export function decodeOp(body) {
  const op = /** @type {Record<string, unknown>} */ (decode(body));
  op.hlc = toBigInt(op.hlc);
  if ("base_hlc" in op) op.base_hlc = toBigInt(op.base_hlc);
  return /** @type {Op} */ (/** @type {unknown} */ (op));
}

/** @param {unknown} v @returns {bigint} */
function toBigInt(v) {
  return typeof v === "bigint" ? v : BigInt(/** @type {number} */ (v ?? 0));
}

// -- change-sets, sessions, enrollment, pull ------------------------------------------------------------

/**
 * @typedef {object} ChangeSet
 * @property {number} protocol_version
 * @property {string} device_id
 * @property {number} seq         1, 2, 3 ... per device
 * @property {string} prev_hash   hex SHA-256 of the previous change-set's bytes ('' for seq 1)
 * @property {number} device_clock device wall time when sealed, epoch ms
 * @property {Op[]} ops
 */

/** @param {Omit<ChangeSet, "protocol_version"> & {protocol_version?: number}} c @returns {ChangeSet} */
export function changeSet(c) {
  return {
    protocol_version: c.protocol_version ?? PROTOCOL_VERSION, device_id: c.device_id, seq: c.seq,
    prev_hash: c.prev_hash, device_clock: c.device_clock, ops: c.ops,
  };
}

/** @param {Uint8Array} changeset @param {Uint8Array} signature */
export function signedChangeSet(changeset, signature) {
  return { changeset, signature };
}

/** @param {{token: string, public_key: Uint8Array, name?: string, device_clock?: number}} r */
export function enrollRequest(r) {
  return { token: r.token, public_key: r.public_key, name: r.name ?? "tablet", device_clock: r.device_clock ?? 0 };
}

/** @param {{device_id: string, nonce: string, signature: Uint8Array, device_clock?: number}} r */
export function sessionRequest(r) {
  return { device_id: r.device_id, nonce: r.nonce, signature: r.signature, device_clock: r.device_clock ?? 0 };
}

/** @param {{cursor?: string, limit?: number, device_clock?: number}} r */
export function pullRequest(r) {
  return { cursor: r.cursor ?? "", limit: r.limit ?? 500, device_clock: r.device_clock ?? 0 };
}

/**
 * @typedef {object} Enrollment
 * @property {string} device_id
 * @property {string} engineer_id
 * @property {Uint8Array} server_public_key
 * @property {string} server_key_id
 * @property {Uint8Array} certificate  the server's signature over certificate_message(...)
 */
/** @typedef {{device_id: string, nonce: string, expires_in_s: number}} Challenge */
/** @typedef {{key_id: string, public_key: Uint8Array, endorsement?: Uint8Array | null}} ServerKeyLink */
/**
 * `server_keys`: every server public key, oldest first, each endorsed by the one before (protocol §3.4);
 * absent from a server before key rotation.
 * @typedef {{token: string, expires_in_s: number, server_time: number, clock_offset_ms: number,
 *   server_keys?: ServerKeyLink[]}} Session
 */
/** @typedef {{body: Uint8Array, signature: Uint8Array, key_id: string}} Signed */
/** @typedef {{op_id: string, result: "applied" | "merged" | "rejected" | "needs_review", reason?: string, conflict_id?: string}} OpResult */
/**
 * @typedef {object} Receipt
 * @property {number} protocol_version
 * @property {string} device_id
 * @property {number} seq
 * @property {string} changeset_hash
 * @property {number} server_time
 * @property {number} clock_offset_ms
 * @property {OpResult[]} results
 */
/**
 * The server holds a change-set's verified bytes durably; its merge (and the Receipt) follow (protocol §4.7).
 * The msgpack map's first key is `kind: "accepted"`; a Receipt has no `kind`.
 * @typedef {object} Accepted
 * @property {"accepted"} kind
 * @property {number} protocol_version
 * @property {string} device_id
 * @property {number} seq
 * @property {string} changeset_hash
 * @property {number} server_time  epoch ms when accepted
 * @property {number} op_count
 */
/**
 * A pull record: its fields per kind are in schemas/json/pull_page.schema.json (Python: schemas/records.py).
 * @typedef {{kind: string, id: string, data?: Record<string, unknown>}} Change
 */
/**
 * @typedef {object} PullPage
 * @property {number} protocol_version
 * @property {string} device_id
 * @property {string} cursor
 * @property {boolean} more
 * @property {number} server_time
 * @property {Change[]} changes
 */

/**
 * Decode a message and check the fields the app relies on are there with the right types.
 * @template T
 * @param {Uint8Array} bytes
 * @param {Record<string, string>} shape  field -> typeof (or "bytes", "array")
 * @param {string} what
 * @returns {T}
 */
export function decodeChecked(bytes, shape, what) {
  let value;
  try {
    value = decode(bytes);
  } catch (err) {
    throw new WireError(`${what} does not decode: ${String(err)}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new WireError(`${what} is not a map`);
  const rec = /** @type {Record<string, unknown>} */ (value);
  for (const [field, type] of Object.entries(shape)) {
    const v = rec[field];
    const ok = type === "bytes" ? v instanceof Uint8Array : type === "array" ? Array.isArray(v) : typeof v === type;
    if (!ok) throw new WireError(`${what}.${field} is not ${type}`);
  }
  return /** @type {T} */ (value);
}

export const SHAPES = {
  enrollment: { device_id: "string", engineer_id: "string", server_public_key: "bytes", server_key_id: "string", certificate: "bytes" },
  challenge: { device_id: "string", nonce: "string" },
  session: { token: "string", clock_offset_ms: "number" },
  signed: { body: "bytes", signature: "bytes", key_id: "string" },
  receipt: { device_id: "string", seq: "number", changeset_hash: "string", server_time: "number", clock_offset_ms: "number", results: "array" },
  accepted: { kind: "string", device_id: "string", seq: "number", changeset_hash: "string", server_time: "number", op_count: "number" },
  pullPage: { device_id: "string", cursor: "string", more: "boolean", server_time: "number", changes: "array" },
  signedChangeSet: { changeset: "bytes", signature: "bytes" },
  changeSet: { protocol_version: "number", device_id: "string", seq: "number", prev_hash: "string", device_clock: "number", ops: "array" },
};

/** A message that does not decode as the protocol says. */
export class WireError extends Error {}
