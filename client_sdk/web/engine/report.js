// The service-report content a customer signs, its digest, and the exact bytes the device key signs.
//
// Assembled the way the protocol says (and the server does from its own copy): answers by item key,
// consumed parts by op id, live photos by hash, the device times of the latest on_site and completed
// status changes. Absent optional values are left out of answers and parts lines; the content's own
// fields are always there. The digest is the hex SHA-256 of the content's canonical JSON (canonical.js).

import { concat, sha256Hex, utf8 } from "./bytes.js";
import { canonicalJson } from "./canonical.js";

/** the status changes whose device times a report states */
export const REPORT_TIMES = /** @type {const} */ (["on_site", "completed"]);
/** the parts movements a report lists */
export const REPORT_PART_KINDS = new Set(["consume"]);

/**
 * @typedef {object} ReportAnswer
 * @property {string} key
 * @property {string | number | bigint | boolean | null} value
 * @property {string} [note]
 * @property {string} [na_reason]
 */
/**
 * @typedef {object} ReportPart
 * @property {string} op_id
 * @property {string} kind
 * @property {string} part_no
 * @property {number} qty
 * @property {string} [serial]
 * @property {string} [returned_serial]
 */
/**
 * @typedef {object} ReportContent
 * @property {string} job_id
 * @property {string} ticket_id
 * @property {string} engineer_id
 * @property {string} diagnosis
 * @property {string} resolution
 * @property {string} notes
 * @property {string | null} template_id
 * @property {number | null} template_version
 * @property {ReportAnswer[]} answers
 * @property {ReportPart[]} parts
 * @property {string[]} photos
 * @property {Record<string, number>} times
 */

/**
 * Compare strings by Unicode code point (the order the protocol sorts lists in).
 * @param {string} a @param {string} b
 */
export function byCodePoint(a, b) {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = /** @type {number} */ (x[i].codePointAt(0)) - /** @type {number} */ (y[i].codePointAt(0));
    if (d) return d;
  }
  return x.length - y.length;
}

/**
 * @param {{id: string, ticket_id: string, engineer_id: string, diagnosis: string, resolution: string, notes: string,
 *   template_id: string | null, template_version: number | null}} job
 * @param {{item_key: string, value: unknown, note: string | null, na_reason: string | null}[]} answers  live answers
 * @param {{id: string, kind: string, part_no: string, qty: number, serial: string | null, returned_serial: string | null}[]} parts
 * @param {string[]} photos  hashes of live photo attachments
 * @param {Record<string, number>} times  device times of the latest status changes
 * @returns {ReportContent}
 */
export function assembleReportContent(job, answers, parts, photos, times) {
  const scalar = (/** @type {unknown} */ v) =>
    typeof v === "string" || typeof v === "number" || typeof v === "boolean" || typeof v === "bigint" ? v : null;
  return {
    job_id: job.id, ticket_id: job.ticket_id, engineer_id: job.engineer_id, diagnosis: job.diagnosis,
    resolution: job.resolution, notes: job.notes, template_id: job.template_id, template_version: job.template_version,
    answers: [...answers].sort((a, b) => byCodePoint(a.item_key, b.item_key)).map((a) => {
      /** @type {ReportAnswer} */
      const line = { key: a.item_key, value: scalar(a.value) };
      if (a.note != null) line.note = a.note;
      if (a.na_reason != null) line.na_reason = a.na_reason;
      return line;
    }),
    parts: parts.filter((m) => REPORT_PART_KINDS.has(m.kind)).sort((a, b) => byCodePoint(a.id, b.id)).map((m) => {
      /** @type {ReportPart} */
      const line = { op_id: m.id, kind: m.kind, part_no: m.part_no, qty: m.qty };
      if (m.serial != null) line.serial = m.serial;
      if (m.returned_serial != null) line.returned_serial = m.returned_serial;
      return line;
    }),
    photos: [...photos].sort(byCodePoint),
    times: Object.fromEntries(REPORT_TIMES.filter((k) => k in times).map((k) => [k, Math.trunc(times[k])])),
  };
}

/** The canonical text the digest is taken over. @param {ReportContent} content */
export function reportCanonical(content) {
  return canonicalJson(content);
}

/** Hex SHA-256 of the canonical JSON of the report content. @param {ReportContent} content */
export async function reportDigest(content) {
  return sha256Hex(utf8(reportCanonical(content)));
}

/**
 * The exact bytes the device key signs for a sign-off.
 * @param {string} jobId @param {string} digestHex @param {number} signedAt @param {string} signerName
 */
export function signOffMessage(jobId, digestHex, signedAt, signerName) {
  return utf8(`fieldsync-signoff:v1:${jobId}:${digestHex}:${signedAt}:${signerName}`);
}

/**
 * The bytes the server signs to vouch for a device key at enrollment.
 * @param {string} deviceId @param {string} engineerId @param {Uint8Array} publicKey
 */
export function certificateMessage(deviceId, engineerId, publicKey) {
  return concat(utf8(`fieldsync-device:v1:${deviceId}:${engineerId}:`), publicKey);
}
