// The engineer's writes: each checks the shared rules against the local copy, then updates the local record
// and appends its op to the outbox in ONE transaction. A refused write throws WriteRefused and stores nothing.
//
// Outbox records carry a `key` naming the local value they wrote (`status`, `field:<name>`,
// `answer:<item>`, `signoff`, `part:<op id>`, `attachment:<sha256>`): while an op with that key is
// unsynced, a pulled server value for it does not overwrite the local one (apply.js).

import { sha256Hex } from "./bytes.js";
import { WriteRefused } from "./errors.js";
import { tick } from "./hlc.js";
import { sign } from "./keys.js";
import { assembleReportContent, reportCanonical, signOffMessage } from "./report.js";
import { byIndex } from "./store.js";
import * as wire from "./wire.js";

/** @typedef {import("./store.js").Tx} Tx */
/** @typedef {import("./store.js").LocalStore} LocalStore */
/** @typedef {import("./rules.js").Rules} Rules */
/** @typedef {import("./wire.js").Op} Op */

/** A fresh op id: uuid4 as 32 hex digits (122 random bits), what makes an op idempotent on the server. */
export function newOpId() {
  return crypto.randomUUID().replace(/-/g, "");
}

/** @param {Op} op @returns {string} */
export function keyFor(op) {
  switch (op.type) {
    case "job.status": return "status";
    case "job.field": return `field:${op.field}`;
    case "checklist.answer": return `answer:${op.item_key}`;
    case "signoff": return "signoff";
    case "part.move": return `part:${op.op_id}`;
    case "attachment": return `attachment:${op.sha256}`;
    case "signoff.amend": return `amend:${op.op_id}`;
    default: return `${op.entity}:${op.key}`;
  }
}

/**
 * Tick the device HLC and store it in the same transaction as the op using it.
 * @param {Tx} tx @param {number} now @returns {Promise<{hlc: bigint, deviceId: string}>}
 */
async function nextHlc(tx, now) {
  const meta = tx.objectStore("meta");
  const device = await meta.get("device");
  if (!device?.device_id) throw new WriteRefused("not_enrolled");
  const hlc = tick(device.hlc_last ?? 0n, now);
  await meta.put({ ...device, hlc_last: hlc });
  return { hlc, deviceId: device.device_id };
}

/** @param {Tx} tx @param {Op} op @param {number} now */
async function append(tx, op, now) {
  await tx.objectStore("outbox").add({
    op_id: op.op_id, job_id: op.job_id, type: op.type, key: keyFor(op), body: wire.encode(op), created_at: now,
  });
}

/** @param {Tx} tx @param {string} jobId */
async function jobOf(tx, jobId) {
  const job = await tx.objectStore("jobs").get(jobId);
  if (!job) throw new WriteRefused("unknown_job");
  return job;
}

/** @param {Tx} tx @param {{template_id: string | null, template_version: number | null}} job */
export async function templateOf(tx, job) {
  if (job.template_id == null || job.template_version == null) return null;
  return (await tx.objectStore("templates").get([job.template_id, job.template_version])) ?? null;
}

/** Keys of items with a live answer (a value or a reason it does not apply). @param {Tx} tx @param {string} jobId */
export async function answeredKeys(tx, jobId) {
  return (await byIndex(tx, "answers", "job", jobId))
    .filter((a) => !a.deleted && (a.value !== null || a.na_reason !== null))
    .map((a) => /** @type {string} */ (a.item_key));
}

/** @type {import("./store.js").StoreName[]} */
const ATTACH_STORES = ["jobs", "attachments", "blobs", "meta", "outbox"];
const STATUS_STORES = /** @type {import("./store.js").StoreName[]} */ (["jobs", "meta", "outbox", "answers", "templates"]);

/** The writes of one tablet. */
export class Writes {
  /** @param {LocalStore} store @param {Rules} rules @param {() => number} clock */
  constructor(store, rules, clock) {
    this.store = store;
    this.rules = rules;
    this.clock = clock;
  }

  /**
   * Move a job through the shared status machine; `on_hold` needs a hold reason, `completed` every required
   * checklist item answered. Returns the op id.
   * @param {string} jobId @param {string} status @param {string | null} [holdReason] @param {string | null} [note]
   */
  setStatus(jobId, status, holdReason = null, note = null) {
    return this.store.write(STATUS_STORES, async (tx) => {
      const job = await jobOf(tx, jobId);
      const now = this.clock();
      const reason = this.rules.checkStatus(job.status, status, holdReason, note, now, Boolean(job.remote));
      if (reason) throw new WriteRefused(reason, { from: job.status, to: status });
      if (status === "completed" && job.template_id != null) {
        const template = await templateOf(tx, job);
        if (!template) throw new WriteRefused("template_not_on_tablet");
        const missing = this.rules.missingRequired(template, await answeredKeys(tx, jobId));
        if (missing.length) throw new WriteRefused("checklist_incomplete", { items: missing.join(", ") });
      }
      const { hlc } = await nextHlc(tx, now);
      const op = wire.setStatus({ op_id: newOpId(), hlc, job_id: jobId, at: now, status, hold_reason: holdReason, note });
      await tx.objectStore("jobs").put({
        ...job, status, hold_reason: holdReason, times: { ...job.times, [status]: now }, updated_at: now,
      });
      await append(tx, op, now);
      return op.op_id;
    });
  }

  /**
   * Set a plain job field (notes, diagnosis, resolution, remote, rating, customer_comment); returns the op id.
   * @param {string} jobId @param {string} field @param {string | number | boolean | null} value
   */
  setField(jobId, field, value) {
    return this.store.write(["jobs", "meta", "outbox"], (tx) => this.setFieldIn(tx, jobId, field, value, false));
  }

  /**
   * @param {Tx} tx @param {string} jobId @param {string} field @param {string | number | boolean | null} value
   * @param {boolean} amending  part of an amendment (writes.amend): signed content may change
   */
  async setFieldIn(tx, jobId, field, value, amending) {
    {
      const job = await jobOf(tx, jobId);
      const now = this.clock();
      const reason = this.rules.checkField(field, value, now);
      if (reason) throw new WriteRefused(reason, { field });
      if (job.signed_off && !amending && this.rules.signedField(field)) {
        throw new WriteRefused("signed_content_needs_amend", { field });
      }
      const { hlc } = await nextHlc(tx, now);
      const op = wire.setField({
        op_id: newOpId(), hlc, job_id: jobId, at: now, field, value, base_hlc: job.field_hlc?.[field] ?? 0n,
      });
      await tx.objectStore("jobs").put({ ...job, [field]: value, field_hlc: { ...job.field_hlc, [field]: hlc }, updated_at: now });
      await append(tx, op, now);
      return op.op_id;
    }
  }

  /**
   * Answer a checklist item, validated against the job's pinned template version; returns the op id.
   * @param {string} jobId @param {string} itemKey @param {wire.Scalar} value
   * @param {{note?: string | null, naReason?: string | null}} [extra]
   */
  answer(jobId, itemKey, value, extra = {}) {
    return this.store.write(["jobs", "templates", "answers", "meta", "outbox"],
      (tx) => this.answerIn(tx, jobId, itemKey, value, extra.note ?? null, extra.naReason ?? null));
  }

  /**
   * Change signed content knowingly, with a reason: one checklist answer (`itemKey`) or signed job field
   * (`field`), and the `signoff.amend` op declaring it, in one transaction. After the customer signed, a
   * plain answer or field write is refused (`signed_content_needs_amend`); this is the way to change it.
   * The signature stays valid for what was signed; the report lists the amendment. Returns its op id.
   * @param {string} jobId @param {string} reason
   * @param {{itemKey?: string, field?: string, value: wire.Scalar, note?: string | null, naReason?: string | null}} edit
   */
  amend(jobId, reason, edit) {
    const target = edit.itemKey != null ? "answer" : "field";
    const key = edit.itemKey ?? edit.field ?? "";
    return this.store.write(["jobs", "templates", "answers", "meta", "outbox", "amendments"], async (tx) => {
      const job = await jobOf(tx, jobId);
      const now = this.clock();
      const refused = (edit.itemKey != null) === (edit.field != null)
        ? "unknown_amend_target" : this.rules.checkAmend({ target, key, value: edit.value, reason, at: now });
      if (refused) throw new WriteRefused(refused);
      if (!job.signed_off) throw new WriteRefused("not_signed");
      const editOpId = target === "answer"
        ? await this.answerIn(tx, jobId, key, edit.value, edit.note ?? null, edit.naReason ?? null, true)
        : await this.setFieldIn(tx, jobId, key, /** @type {string | number | boolean | null} */ (edit.value), true);
      const { hlc, deviceId } = await nextHlc(tx, now);
      const device = await tx.objectStore("meta").get("device");
      const op = wire.amend({
        op_id: newOpId(), hlc, job_id: jobId, at: now, edit_op_id: editOpId, target, key, value: edit.value, reason,
      });
      await tx.objectStore("amendments").put({
        op_id: op.op_id, job_id: jobId, edit_op_id: editOpId, target, key, value: edit.value, reason, at: now,
        engineer_id: device?.engineer_id ?? "", device_id: deviceId,
      });
      await append(tx, op, now);
      return op.op_id;
    });
  }

  /**
   * @param {Tx} tx @param {string} jobId @param {string} itemKey @param {wire.Scalar} value
   * @param {string | null} note @param {string | null} naReason
   * @param {boolean} [amending]  part of an amendment (writes.amend): signed content may change
   */
  async answerIn(tx, jobId, itemKey, value, note, naReason, amending = false) {
    const job = await jobOf(tx, jobId);
    const template = job.template_id == null ? null : await templateOf(tx, job);
    if (job.template_id != null && !template) throw new WriteRefused("template_not_on_tablet", { item: itemKey });
    const item = template?.items.find((/** @type {{key: string}} */ i) => i.key === itemKey);
    // an item marked not applicable carries no value (the server refuses one that does)
    const stored = naReason != null ? null : value;
    const now = this.clock();
    const reason = this.rules.checkAnswerOp({
      hasChecklist: template != null, item, itemKey, value: stored, naReason, note, at: now,
    });
    if (reason) throw new WriteRefused(reason, { item: itemKey });
    // the server's checks first (it refuses what they refuse); the lock after the signature is the tablet's own
    if (job.signed_off && !amending) throw new WriteRefused("signed_content_needs_amend", { item: itemKey });
    const { hlc, deviceId } = await nextHlc(tx, now);
    const current = await tx.objectStore("answers").get([jobId, itemKey]);
    const op = wire.answerItem({
      op_id: newOpId(), hlc, job_id: jobId, at: now, item_key: itemKey, value: stored, note, na_reason: naReason,
      template_version: template.version, base_hlc: current?.hlc ?? 0n,
    });
    await tx.objectStore("answers").put({
      job_id: jobId, item_key: itemKey, value: stored, note, na_reason: naReason, hlc, device_id: deviceId,
      template_version: template.version, deleted: false,
    });
    await append(tx, op, now);
    return op.op_id;
  }

  /**
   * Record parts consumed from the van at the job (and the old part taken back); returns the op id.
   * @param {string} jobId @param {string} partNo @param {number} [qty]
   * @param {string | null} [serial] @param {string | null} [returnedSerial]
   */
  usePart(jobId, partNo, qty = 1, serial = null, returnedSerial = null) {
    return this.store.write(["jobs", "parts", "movements", "meta", "outbox"], async (tx) => {
      await jobOf(tx, jobId);
      const part = await tx.objectStore("parts").get(partNo);
      const now = this.clock();
      const reason = this.rules.checkPart(part, qty, serial || null, returnedSerial || null, now);
      if (reason) throw new WriteRefused(reason, { part: partNo });
      const { hlc } = await nextHlc(tx, now);
      const op = wire.movePart({
        op_id: newOpId(), hlc, job_id: jobId, at: now, kind: "consume", part_no: partNo, qty,
        serial: serial || null, returned_serial: returnedSerial || null,
      });
      await tx.objectStore("movements").put({
        id: op.op_id, kind: "consume", part_no: partNo, qty, serial: op.serial, returned_serial: op.returned_serial,
        from_location: null, to_location: null, job_id: jobId, at: now, billable: null, local: true,
      });
      await append(tx, op, now);
      return op.op_id;
    });
  }

  /**
   * Keep bytes content-addressed on the tablet and reference them on the job; returns the SHA-256.
   * Attaching the same bytes to the same job again changes nothing.
   * @param {string} jobId @param {Uint8Array} data @param {string} [kind] @param {string} [contentType]
   */
  async attach(jobId, data, kind = "photo", contentType = "application/octet-stream") {
    const sha = await this.checkedDigest(data, kind);
    return this.store.write(ATTACH_STORES, async (tx) => {
      await this.attachIn(tx, jobId, data, sha, kind, contentType);
      return sha;
    });
  }

  /**
   * A photo from the camera as the answer to a photo item: the attachment and the answer naming it in one
   * transaction (both or neither). Returns the SHA-256.
   * @param {string} jobId @param {string} itemKey @param {Uint8Array} data @param {string} contentType
   */
  async answerPhoto(jobId, itemKey, data, contentType) {
    const sha = await this.checkedDigest(data, "photo");
    return this.store.write([...ATTACH_STORES, "templates", "answers"], async (tx) => {
      await this.attachIn(tx, jobId, data, sha, "photo", contentType);
      await this.answerIn(tx, jobId, itemKey, sha, null, null);
      return sha;
    });
  }

  /** @param {Uint8Array} data @param {string} kind */
  async checkedDigest(data, kind) {
    if (!data.length) throw new WriteRefused("empty_attachment");
    if (!this.rules.doc.attachment_kinds.includes(kind)) throw new WriteRefused("invalid_attachment");
    return sha256Hex(data);
  }

  /**
   * @param {Tx} tx @param {string} jobId @param {Uint8Array} data @param {string} sha
   * @param {string} kind @param {string} contentType
   */
  async attachIn(tx, jobId, data, sha, kind, contentType) {
    await jobOf(tx, jobId);
    const existing = await tx.objectStore("attachments").get([jobId, sha]);
    if (existing && !existing.deleted) return;
    const now = this.clock();
    const reason = this.rules.checkAttach(kind, contentType, now);
    if (reason) throw new WriteRefused(reason);
    const { hlc } = await nextHlc(tx, now);
    const op = wire.attach({
      op_id: newOpId(), hlc, job_id: jobId, at: now, sha256: sha, kind, size: data.length, content_type: contentType,
    });
    if ((await tx.objectStore("blobs").getKey(sha)) === undefined) {
      await tx.objectStore("blobs").put({
        sha256: sha, size: data.length, data, content_type: contentType, uploaded: false, pending: 1, created_at: now,
      });
    }
    await tx.objectStore("attachments").put({
      job_id: jobId, sha256: sha, kind, size: data.length, content_type: contentType, deleted: false,
    });
    await append(tx, op, now);
  }

  /**
   * The customer's signature over the report content: write-once. `pen` is the strokes as drawn, each point
   * `[x, y, t]` (t: ms since the first point); the wire carries each stroke as `[x0, y0, x1, y1, ...]`.
   * The device key countersigns signOffMessage(job, digest, signed_at, signer_name).
   * @param {CryptoKey} privateKey
   * @param {string} jobId @param {string} signerName @param {number[][][]} pen
   * @param {{role?: string, rating?: number | null, comment?: string | null}} [extra]
   */
  async signOff(privateKey, jobId, signerName, pen, extra = {}) {
    const strokes = pen.map((stroke) => stroke.flatMap(([x, y]) => [Math.round(x), Math.round(y)]));
    const rating = extra.rating ?? null;
    const signerRole = extra.role ?? "customer";
    const comment = extra.comment ?? null;
    for (let attempt = 0; attempt < 3; attempt++) {
      const signedAt = this.clock();
      const reason = this.rules.checkSignOff({ signerName, signerRole, comment, rating, strokes, at: signedAt });
      if (reason) throw new WriteRefused(reason);
      // content, digest and signature first (WebCrypto is asynchronous), then one transaction that checks
      // the content is still what was digested before it stores the sign-off and its op
      const canonical = await this.store.read(SIGNOFF_READS, (tx) => this.signableContent(tx, jobId));
      const digest = await sha256Hex(new TextEncoder().encode(canonical));
      const signature = await sign(privateKey, signOffMessage(jobId, digest, signedAt, signerName));
      const done = await this.store.write([...SIGNOFF_READS, "signoffs", "meta", "outbox"], async (tx) => {
        if ((await this.signableContent(tx, jobId)) !== canonical) return null; // changed meanwhile: again
        const job = await jobOf(tx, jobId);
        const { hlc } = await nextHlc(tx, signedAt);
        const op = wire.signOff({
          op_id: newOpId(), hlc, job_id: jobId, at: signedAt, signer_name: signerName,
          signer_role: signerRole, signed_at: signedAt, report_digest: digest, strokes,
          device_signature: signature, rating, comment,
        });
        await tx.objectStore("signoffs").put({
          job_id: jobId, signer_name: signerName, signer_role: op.signer_role, signed_at: signedAt,
          report_digest: digest, strokes, pen, device_signature: signature, rating, comment: op.comment,
          content: canonical, op_id: op.op_id,
        });
        const status = this.rules.canTransition(job.status, "signed_off") ? "signed_off" : job.status;
        await tx.objectStore("jobs").put({ ...job, signed_off: true, status, updated_at: signedAt });
        await append(tx, op, signedAt);
        return { op_id: op.op_id, report_digest: digest, signed_at: signedAt };
      });
      if (done) return done;
    }
    throw new WriteRefused("content_changed_while_signing");
  }

  /**
   * The canonical report content of a job that may be signed now (throws WriteRefused otherwise).
   * @param {Tx} tx @param {string} jobId
   */
  async signableContent(tx, jobId) {
    const job = await jobOf(tx, jobId);
    if (job.signed_off || (await tx.objectStore("signoffs").get(jobId))) throw new WriteRefused("already_signed_off");
    if (!this.rules.signable(job.status)) throw new WriteRefused("not_signable_in_status", { status: job.status });
    return reportCanonical(await reportContentOf(tx, jobId));
  }
}

/** @type {import("./store.js").StoreName[]} */
export const SIGNOFF_READS = ["jobs", "answers", "movements", "attachments", "signoffs"];

/**
 * The report content of a job from the local store.
 * @param {Tx} tx @param {string} jobId
 */
export async function reportContentOf(tx, jobId) {
  const job = await jobOf(tx, jobId);
  const answers = (await byIndex(tx, "answers", "job", jobId)).filter((a) => !a.deleted);
  const parts = await byIndex(tx, "movements", "job", jobId);
  const photos = (await byIndex(tx, "attachments", "job", jobId))
    .filter((a) => !a.deleted && a.kind === "photo").map((a) => a.sha256);
  return assembleReportContent(job, answers, parts, photos, job.times ?? {});
}
