// Every rule a device write must pass, read from the rules document the server serves (/tablet/rules.json).
//
// The server checks the same rules from the same data, so the tablet never acknowledges offline a write the
// server will refuse. Each check returns a reason code (the server's `rejected(reason)` code) or null; the
// UI shows the code through the catalogs (`reason.<code>`).

/**
 * @typedef {object} RulesDoc
 * @property {string[]} statuses
 * @property {Record<string, string[]>} transitions      status -> statuses reachable in one step
 * @property {string[]} device_statuses                  statuses a tablet may set with a status op
 * @property {string[]} hold_reasons                     reasons that go with on_hold
 * @property {string[]} signable_statuses                statuses a job may be signed off in
 * @property {string[]} item_types                       checklist item types
 * @property {Record<string, "text" | "bool" | "rating">} job_fields  plain job fields a tablet sets
 * @property {string[]} attachment_kinds
 * @property {{text: number, note: number, qty_min: number, qty_max: number, rating_min: number,
 *   rating_max: number, signer_name: number}} limits
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

/** The rules document with its checks. */
export class Rules {
  /** @param {RulesDoc} doc */
  constructor(doc) {
    for (const key of ["statuses", "transitions", "device_statuses", "hold_reasons", "signable_statuses",
      "item_types", "job_fields", "attachment_kinds", "limits"]) {
      if (!(key in doc)) throw new TypeError(`rules document lacks ${key}`);
    }
    this.doc = doc;
  }

  /** @param {string} current @param {string} target */
  canTransition(current, target) {
    return (this.doc.transitions[current] ?? []).includes(target);
  }

  /** The statuses a tablet may move a job to from `current` (in the machine's order). @param {string} current */
  nextStatuses(current) {
    return this.doc.statuses.filter((s) => this.canTransition(current, s) && this.doc.device_statuses.includes(s));
  }

  /**
   * Why `current -> target` is not a status op a tablet may send, or null.
   * @param {string} current @param {string} target @param {string | null} holdReason
   */
  checkStatus(current, target, holdReason) {
    if (!this.doc.statuses.includes(target)) return "unknown_status";
    if (!this.doc.device_statuses.includes(target)) return "status_not_settable_by_device";
    if (target === "on_hold" && !this.doc.hold_reasons.includes(holdReason ?? "")) return "hold_reason_required";
    if (target !== "on_hold" && holdReason != null) return "hold_reason_only_on_hold";
    if (!this.canTransition(current, target)) return `transition_${current}_to_${target}_refused`;
    return null;
  }

  /** @param {string} status */
  signable(status) {
    return this.doc.signable_statuses.includes(status);
  }

  /**
   * Why `value` is not a valid answer for `item`, or null (same codes as the server).
   * @param {ChecklistItem} item @param {unknown} value @param {string | null} naReason @param {string | null} [note]
   */
  checkAnswer(item, value, naReason, note = null) {
    if (note != null && textLength(note) > this.doc.limits.note) return "note_too_long";
    if (naReason != null) return isBlank(naReason) ? "not_applicable_needs_reason" : null;
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
        return typeof value === "string" && textLength(value) <= this.doc.limits.text ? null : "expected_text";
    }
  }

  /**
   * Keys of required items with no answer (a required item blocks completion).
   * @param {{items: ChecklistItem[]}} template @param {Iterable<string>} answered
   */
  missingRequired(template, answered) {
    const done = new Set(answered);
    return template.items.filter((i) => i.required && !done.has(i.key)).map((i) => i.key);
  }

  /** Why `value` is not a valid value of job field `field`, or null. @param {string} field @param {unknown} value */
  checkField(field, value) {
    const kind = this.doc.job_fields[field];
    if (kind === undefined) return "unknown_field";
    const { limits } = this.doc;
    if (kind === "text") return typeof value === "string" && textLength(value) <= limits.text ? null : "invalid_value";
    if (kind === "bool") return typeof value === "boolean" ? null : "invalid_value";
    if (value === null) return null;
    return Number.isInteger(value) && /** @type {number} */ (value) >= limits.rating_min
      && /** @type {number} */ (value) <= limits.rating_max ? null : "invalid_value";
  }

  /**
   * Why consuming `qty` of a part is refused, or null.
   * @param {{serialized: boolean} | undefined} part @param {number} qty @param {string | null} serial
   */
  checkPart(part, qty, serial) {
    // the server's order: the quantity first, then the catalog
    if (!Number.isInteger(qty) || qty < this.doc.limits.qty_min || qty > this.doc.limits.qty_max) return "bad_quantity";
    if (part === undefined) return "unknown_part";
    if (part.serialized && (!serial || qty !== 1)) return "serial_required";
    return null;
  }

  /**
   * Why a sign-off is refused, or null.
   * @param {string} signerName @param {number[][]} strokes @param {number | null} rating
   */
  checkSignOff(signerName, strokes, rating) {
    if (isBlank(signerName) || textLength(signerName) > this.doc.limits.signer_name) return "signoff_incomplete";
    if (!strokes.length || !strokes.every((s) => s.length >= 2 && s.every((v) => Number.isInteger(v)))) {
      return "signoff_incomplete";
    }
    if (rating != null && this.checkField("rating", rating)) return "invalid_value";
    return null;
  }
}
