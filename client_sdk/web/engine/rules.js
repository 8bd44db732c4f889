// Every rule a device write must pass, read from the rules document the server serves (/tablet/rules.json,
// the same file as schemas/json/rules.json, generated from schemas/rules.py).
//
// The server checks the same rules from the same data (sync/core/rules.py), so the tablet never
// acknowledges offline a write the server will refuse. Each check returns a reason code (the server's
// `rejected(reason)` code) or null, looking at the op's fields in the server's order: the texts hold no NUL
// (`nul_in_text`), the integers fit 64 bits (`number_out_of_range`), the event time is within the bounds
// (`bad_time`), then the op's own rules. The UI shows a code through the catalogs (`reason.<code>`).

/**
 * @typedef {object} RulesDoc
 * @property {string[]} job_statuses
 * @property {Record<string, string[]>} transitions      status -> statuses reachable in one step
 * @property {Record<string, string[]>} [remote_transitions]  extra steps of a job with remote=true
 * @property {string[]} device_statuses                  statuses a tablet may set with a status op
 * @property {string[]} hold_reasons                     reasons that go with on_hold
 * @property {string[]} signable_statuses                statuses a job may be signed off in
 * @property {string[]} checklist_item_types             checklist item types
 * @property {Record<string, "text" | "bool" | "rating">} job_fields  plain job fields a tablet sets
 * @property {string[]} attachment_kinds
 * @property {Record<string, Record<string, number>>} text_limits  op type -> text field -> most code points
 * @property {{min: number, max: number}} qty
 * @property {{min: number, max: number}} rating
 * @property {{max_strokes: number, max_points: number, max_bytes: number}} strokes
 * @property {{min_ms: number, max_ms: number, tolerance_ms: number}} event_time
 * @property {string[]} [amend_targets]                 what an amendment of signed content may name
 * @property {string[]} [signed_fields]                 job fields that are part of the signed report content
 */

/**
 * @typedef {object} ChecklistItem
 * @property {string} key
 * @property {string} label
 * @property {string} type
 * @property {boolean} required
 * @property {number | null} [min]
 * @property {number | null} [max]
 * @property {string[]} [choices]
 */

const SHA256 = /^[0-9a-f]{64}$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const REQUIRED = ["job_statuses", "transitions", "device_statuses", "hold_reasons", "signable_statuses",
  "checklist_item_types", "job_fields", "attachment_kinds", "text_limits", "qty", "rating", "strokes", "event_time"];

// what the server's str.strip() removes (Python's whitespace, which is not quite ECMAScript's trim())
const BLANK = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;

/** True when text holds nothing but whitespace, as the server decides it. @param {string} text */
export function isBlank(text) {
  return BLANK.test(text);
}

/** Length in code points, as the server counts text (not UTF-16 code units). @param {string} text */
export function textLength(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/** True when a text holds the NUL character, which no server column stores. @param {string | null | undefined} text */
function hasNul(text) {
  return text != null && text.includes("\0");
}

/** True when a value is an integer beyond what a signed 64-bit column holds. @param {unknown} value */
function unstorableInt(value) {
  if (typeof value === "bigint") return value < INT64_MIN || value > INT64_MAX;
  return typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value)
    && (BigInt(value) < INT64_MIN || BigInt(value) > INT64_MAX);
}

/** The rules document with its checks. */
export class Rules {
  /** @param {RulesDoc} doc */
  constructor(doc) {
    for (const key of REQUIRED) {
      if (!(key in doc)) throw new TypeError(`rules document lacks ${key}`);
    }
    this.doc = doc;
  }

  /**
   * Whether `current -> target` is one step of the machine; a remote job (fixed by phone or remote
   * diagnosis) may also take the remote steps (accepted -> in_progress, no visit).
   * @param {string} current @param {string} target @param {boolean} [remote]
   */
  canTransition(current, target, remote = false) {
    if ((this.doc.transitions[current] ?? []).includes(target)) return true;
    return remote && ((this.doc.remote_transitions ?? {})[current] ?? []).includes(target);
  }

  /**
   * The statuses a tablet may move a job to from `current` (in the machine's order).
   * @param {string} current @param {boolean} [remote]
   */
  nextStatuses(current, remote = false) {
    return this.doc.job_statuses.filter(
      (s) => this.canTransition(current, s, remote) && this.doc.device_statuses.includes(s));
  }

  /** `bad_time` when an event time is outside the bounds (a wrong tablet clock), else null. @param {number} ms */
  checkTime(ms) {
    const { min_ms: min, max_ms: max } = this.doc.event_time;
    return Number.isInteger(ms) && ms >= min && ms < max ? null : "bad_time";
  }

  /** @param {string | null | undefined} text @param {string} opType @param {string} field */
  tooLong(text, opType, field) {
    return text != null && textLength(text) > this.doc.text_limits[opType][field];
  }

  /**
   * Why `current -> target` is not a status op a tablet may send, or null.
   * @param {string} current @param {string} target @param {string | null} holdReason
   * @param {string | null} [note] @param {number | null} [at] @param {boolean} [remote]
   */
  checkStatus(current, target, holdReason, note = null, at = null, remote = false) {
    if (hasNul(note)) return "nul_in_text";
    if (at != null && this.checkTime(at)) return "bad_time";
    if (!this.doc.job_statuses.includes(target)) return "unknown_status";
    if (!this.doc.device_statuses.includes(target)) return "status_not_settable_by_device";
    if (target === "on_hold") {
      if (!this.doc.hold_reasons.includes(holdReason ?? "")) return "hold_reason_required";
    } else if (holdReason != null) {
      return "hold_reason_not_allowed";
    }
    if (this.tooLong(note, "job.status", "note")) return "text_too_long";
    if (!this.canTransition(current, target, remote)) return `transition_${current}_to_${target}_refused`;
    return null;
  }

  /** @param {string} status */
  signable(status) {
    return this.doc.signable_statuses.includes(status);
  }

  /**
   * Why `value` is not a valid answer for `item`, or null (the server's sync.core.checklist.validate_answer).
   * @param {ChecklistItem} item @param {unknown} value @param {string | null} naReason
   */
  checkAnswer(item, value, naReason) {
    if (naReason != null) {
      if (value != null) return "value_with_na_reason";
      return isBlank(naReason) ? "not_applicable_needs_reason" : null;
    }
    if (value == null) return "value_required";
    switch (item.type) {
      case "pass_fail":
        return typeof value === "boolean" ? null : "expected_pass_fail";
      case "number": {
        // an integer past 2^53 arrives as a BigInt: still a number, compared by its value
        const n = typeof value === "bigint" ? Number(value) : value;
        if (typeof n !== "number") return "expected_number";
        if (!Number.isFinite(n)) return "expected_finite_number";
        if (item.min != null && (typeof value === "bigint" ? value < item.min : n < item.min)) return "below_range";
        if (item.max != null && (typeof value === "bigint" ? value > item.max : n > item.max)) return "above_range";
        return null;
      }
      case "choice":
        return typeof value === "string" && (item.choices ?? []).includes(value) ? null : "not_a_choice";
      case "photo":
        return typeof value === "string" && SHA256.test(value) ? null : "expected_photo_sha256";
      default:
        return typeof value === "string" && textLength(value) <= this.doc.text_limits["checklist.answer"].value
          ? null : "expected_text";
    }
  }

  /**
   * Why an answer op is refused, or null: its texts, numbers and time, then the checklist (the server's
   * sync.core.rules.check_answer). `item` is undefined when the job's checklist has no such key.
   * @param {{hasChecklist: boolean, item: ChecklistItem | undefined, itemKey: string, value: unknown,
   *   naReason: string | null, note: string | null, at: number}} a
   */
  checkAnswerOp(a) {
    if (hasNul(a.itemKey) || hasNul(a.note) || hasNul(a.naReason)) return "nul_in_text";
    if (typeof a.value === "string" && a.value.includes("\0")) return "nul_in_text";
    if (unstorableInt(a.value)) return "number_out_of_range";
    if (this.checkTime(a.at)) return "bad_time";
    if (this.tooLong(a.note, "checklist.answer", "note") || this.tooLong(a.naReason, "checklist.answer", "na_reason")) {
      return "text_too_long";
    }
    if (!a.hasChecklist) return "job_has_no_checklist";
    if (!a.item) return "unknown_item";
    return this.checkAnswer(a.item, a.value, a.naReason);
  }

  /**
   * Keys of required items with no answer (a required item blocks completion).
   * @param {{items: ChecklistItem[]}} template @param {Iterable<string>} answered
   */
  missingRequired(template, answered) {
    const done = new Set(answered);
    return template.items.filter((i) => i.required && !done.has(i.key)).map((i) => i.key);
  }

  /**
   * Why `value` is not a valid value of job field `field`, or null (the server's check_field).
   * @param {string} field @param {unknown} value @param {number | null} [at]
   */
  checkField(field, value, at = null) {
    if (typeof value === "string" && value.includes("\0")) return "nul_in_text";
    if (unstorableInt(value)) return "number_out_of_range";
    if (at != null && this.checkTime(at)) return "bad_time";
    const kind = this.doc.job_fields[field];
    if (kind === undefined) return "unknown_field";
    if (kind === "text") {
      if (typeof value !== "string") return "invalid_value";
      return textLength(value) > this.doc.text_limits["job.field"][field] ? "text_too_long" : null;
    }
    if (kind === "bool") return typeof value === "boolean" ? null : "invalid_value";
    if (value === null) return null;
    return this.ratingOk(value) ? null : "invalid_value";
  }

  /** @param {unknown} value */
  ratingOk(value) {
    const { min, max } = this.doc.rating;
    return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
  }

  /**
   * Why consuming `qty` of a part is refused, or null (the server's check_move).
   * @param {{serialized: boolean} | undefined} part @param {number} qty @param {string | null} serial
   * @param {string | null} [returnedSerial] @param {number | null} [at]
   */
  checkPart(part, qty, serial, returnedSerial = null, at = null) {
    if (hasNul(serial) || hasNul(returnedSerial)) return "nul_in_text";
    if (unstorableInt(qty)) return "number_out_of_range";
    if (at != null && this.checkTime(at)) return "bad_time";
    if (!Number.isInteger(qty) || qty < this.doc.qty.min || qty > this.doc.qty.max) return "bad_quantity";
    if (this.tooLong(serial, "part.move", "serial") || this.tooLong(returnedSerial, "part.move", "returned_serial")) {
      return "text_too_long";
    }
    if (part === undefined) return "unknown_part";
    if (part.serialized && (!serial || qty !== 1)) return "serial_required";
    return null;
  }

  /**
   * Why a sign-off is refused, or null (the server's check_signoff, then its strokes).
   * @param {{signerName: string, signerRole: string, comment: string | null, rating: number | null,
   *   strokes: number[][], at: number}} s
   */
  checkSignOff(s) {
    if (hasNul(s.signerName) || hasNul(s.signerRole) || hasNul(s.comment)) return "nul_in_text";
    if (this.checkTime(s.at)) return "bad_time";
    if (isBlank(s.signerName)) return "signoff_incomplete";
    if (this.tooLong(s.signerName, "signoff", "signer_name") || this.tooLong(s.signerRole, "signoff", "signer_role")
      || this.tooLong(s.comment, "signoff", "comment")) return "text_too_long";
    if (s.rating != null && !this.ratingOk(s.rating)) return "invalid_rating";
    if (!s.strokes.every((stroke) => Array.isArray(stroke) && stroke.every((v) => Number.isInteger(v)))) {
      return "malformed_strokes";
    }
    if (!s.strokes.length) return "signoff_incomplete";
    const { max_strokes: maxStrokes, max_points: maxPoints } = this.doc.strokes;
    const ints = s.strokes.reduce((n, stroke) => n + stroke.length, 0);
    if (s.strokes.length > maxStrokes || ints > 2 * maxPoints) return "strokes_too_large";
    return null;
  }

  /**
   * Whether a plain write to job field `field` changes signed content (then, once signed, only an amendment may).
   * @param {string} field
   */
  signedField(field) {
    return (this.doc.signed_fields ?? ["diagnosis", "resolution", "notes"]).includes(field);
  }

  /**
   * Why an amendment of signed content is refused, or null (the server's check_amend).
   * @param {{target: string, key: string, value: unknown, reason: string, at: number}} a
   */
  checkAmend(a) {
    if (hasNul(a.key) || hasNul(a.reason) || (typeof a.value === "string" && hasNul(a.value))) return "nul_in_text";
    if (unstorableInt(a.value)) return "number_out_of_range";
    if (this.checkTime(a.at)) return "bad_time";
    if (!(this.doc.amend_targets ?? ["answer", "field"]).includes(a.target)) return "unknown_amend_target";
    if (isBlank(a.reason)) return "amend_reason_required";
    if (this.tooLong(a.key, "signoff.amend", "key") || this.tooLong(a.reason, "signoff.amend", "reason")
      || (typeof a.value === "string" && this.tooLong(a.value, "signoff.amend", "value"))) return "text_too_long";
    return null;
  }

  /**
   * Why an attachment is refused, or null (the server's check_attach; the digest is the tablet's own).
   * @param {string} kind @param {string} contentType @param {number} at
   */
  checkAttach(kind, contentType, at) {
    if (hasNul(contentType)) return "nul_in_text";
    if (this.checkTime(at)) return "bad_time";
    if (!this.doc.attachment_kinds.includes(kind)) return "invalid_attachment";
    if (this.tooLong(contentType, "attachment", "content_type")) return "text_too_long";
    return null;
  }
}
