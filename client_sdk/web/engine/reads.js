// What the screens read: jobs as this tablet holds them (server state plus unsynced writes), one job with
// everything recorded on it, the outbox, the server's verdicts on pushed ops, van stock and review items.

import { answeredKeys, reportContentOf, templateOf } from "./writes.js";
import { searchCases } from "./search.js";
import { byIndex } from "./store.js";
import { decodeOp } from "./wire.js";

/** @typedef {import("./store.js").LocalStore} LocalStore */
/** @typedef {import("./rules.js").Rules} Rules */

/** Read-only views of the local store. */
export class Reads {
  /** @param {LocalStore} store @param {Rules} rules */
  constructor(store, rules) {
    this.store = store;
    this.rules = rules;
  }

  /**
   * Offline search of the knowledge-base cases synced for this tablet's jobs, by the server's rule
   * (engine/search.js): every token of `query` must match, best first; an empty query lists the newest.
   * @param {string} query @param {{model?: string | null, limit?: number}} [opts]
   * @returns {Promise<import("./search.js").KbCase[]>}
   */
  searchKb(query, opts = {}) {
    return this.store.read(["kb"], async (tx) => searchCases(await tx.objectStore("kb").getAll(), query, opts));
  }

  /** The device record (null before enrollment). */
  device() {
    return this.store.read(["meta"], async (tx) => (await tx.objectStore("meta").get("device")) ?? null);
  }

  /** The jobs on this tablet with their count of unsynced ops, by scheduled start. */
  jobs() {
    return this.store.read(["jobs", "outbox"], async (tx) => {
      const jobs = await tx.objectStore("jobs").getAll();
      const counts = new Map();
      for (const op of await tx.objectStore("outbox").getAll()) counts.set(op.job_id, (counts.get(op.job_id) ?? 0) + 1);
      return jobs
        .map((j) => ({ ...j, pending_ops: counts.get(j.id) ?? 0 }))
        .sort((a, b) => (a.scheduled_start ?? 0) - (b.scheduled_start ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    });
  }

  /**
   * One job with its answers, parts, attachments, sign-off, pinned template, what blocks completion, the
   * keys of values still waiting to sync, its review items and the server's verdicts on its ops.
   * @param {string} jobId
   */
  job(jobId) {
    return this.store.read(["jobs", "answers", "templates", "movements", "attachments", "blobs", "signoffs",
      "outbox", "conflicts", "op_results", "parts"], async (tx) => {
      const job = await tx.objectStore("jobs").get(jobId);
      if (!job) return null;
      const outbox = await byIndex(tx, "outbox", "job", jobId);
      const pending = new Set(outbox.map((o) => /** @type {string} */ (o.key)));
      const template = await templateOf(tx, job);
      const answers = (await byIndex(tx, "answers", "job", jobId)).filter((a) => !a.deleted);
      const attachments = [];
      for (const a of (await byIndex(tx, "attachments", "job", jobId)).filter((x) => !x.deleted)) {
        const blob = await tx.objectStore("blobs").get(a.sha256);
        attachments.push({ ...a, have_data: Boolean(blob), uploaded: blob ? Boolean(blob.uploaded) : true });
      }
      const parts = new Map((await tx.objectStore("parts").getAll()).map((p) => [p.part_no, p]));
      const movements = (await byIndex(tx, "movements", "job", jobId))
        .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1))
        .map((m) => ({ ...m, name: parts.get(m.part_no)?.name ?? "", pending: Boolean(m.local) }));
      const results = (await byIndex(tx, "op_results", "job", jobId)).sort((a, b) => b.received_at - a.received_at);
      return {
        job: { ...job, pending_ops: outbox.length },
        template,
        answers,
        movements,
        attachments,
        signoff: (await tx.objectStore("signoffs").get(jobId)) ?? null,
        missing_required: template ? this.rules.missingRequired(template, await answeredKeys(tx, jobId)) : [],
        pending,
        conflicts: await byIndex(tx, "conflicts", "job", jobId),
        results,
        next_statuses: this.rules.nextStatuses(job.status, Boolean(job.remote)),
      };
    });
  }

  /** What a sign-off of `jobId` would digest, from local state. @param {string} jobId */
  reportContent(jobId) {
    return this.store.read(["jobs", "answers", "movements", "attachments"], (tx) => reportContentOf(tx, jobId));
  }

  /**
   * Ops whose outcome has not come back from the server, in write order; `accepted` when the server already
   * holds them (safe, its merge and verdict still to come).
   */
  pending() {
    return this.store.read(["outbox", "sealed"], async (tx) => {
      const accepted = await acceptedSeqs(tx);
      return (await tx.objectStore("outbox").getAll())
        .map((r) => ({ ...r, op: decodeOp(r.body), accepted: accepted.has(r.sealed_seq) }));
    });
  }

  /** The server's results for pushed ops (newest first), optionally of one kind. @param {string} [result] */
  opResults(result) {
    return this.store.read(["op_results"], async (tx) => {
      const rows = result ? await byIndex(tx, "op_results", "result", result) : await tx.objectStore("op_results").getAll();
      return rows.sort((a, b) => b.received_at - a.received_at || (a.op_id < b.op_id ? -1 : 1));
    });
  }

  /** Review items the server raised on this tablet's jobs. */
  conflicts() {
    return this.store.read(["conflicts"], (tx) => tx.objectStore("conflicts").getAll());
  }

  /** The parts catalog as last pulled. */
  parts() {
    return this.store.read(["parts"], (tx) => tx.objectStore("parts").getAll());
  }

  /** Van stock: the server's figure minus consumptions still waiting in the outbox. */
  stock() {
    return this.store.read(["stock", "movements", "outbox", "parts"], async (tx) => {
      const levels = new Map();
      let van = null;
      for (const s of await tx.objectStore("stock").getAll()) {
        levels.set(s.part_no, (levels.get(s.part_no) ?? 0) + s.qty);
        van = van ?? s.location;
      }
      const waiting = new Set((await tx.objectStore("outbox").getAll()).map((o) => o.op_id));
      for (const m of await tx.objectStore("movements").getAll()) {
        if (m.kind === "consume" && waiting.has(m.id)) levels.set(m.part_no, (levels.get(m.part_no) ?? 0) - m.qty);
      }
      const parts = await tx.objectStore("parts").getAll();
      return parts.map((p) => ({ ...p, location: van, qty: levels.get(p.part_no) ?? 0 }))
        .sort((a, b) => (a.part_no < b.part_no ? -1 : 1));
    });
  }

  /** The amendments of a job's signed content made on this tablet, oldest first. @param {string} jobId */
  amendments(jobId) {
    return this.store.read(["amendments"], async (tx) =>
      (await tx.objectStore("amendments").index("job").getAll(jobId)).sort((a, b) => a.at - b.at));
  }

  /** The bytes of a locally held attachment. @param {string} sha256 @returns {Promise<Uint8Array | null>} */
  blob(sha256) {
    return this.store.read(["blobs"], async (tx) => (await tx.objectStore("blobs").get(sha256))?.data ?? null);
  }

  /**
   * Counts the sync bar shows: ops waiting to be sent, ops safe on the server whose outcome is still to come
   * (`accepted`), and the server's verdicts that need the engineer's eye.
   */
  syncState() {
    return this.store.read(["outbox", "sealed", "op_results", "meta"], async (tx) => {
      const accepted = (await tx.objectStore("sealed").getAll())
        .reduce((n, r) => n + (r.accepted_at !== undefined ? r.op_ids.length : 0), 0);
      return {
        waiting: (await tx.objectStore("outbox").count()) - accepted,
        accepted,
        rejected: await tx.objectStore("op_results").index("result").count("rejected"),
        needs_review: await tx.objectStore("op_results").index("result").count("needs_review"),
        last_sync_at: (await tx.objectStore("meta").get("device"))?.last_sync_at ?? null,
      };
    });
  }
}

/** The seqs of change-sets the server accepted whose receipt has not come yet. @param {import("./store.js").Tx} tx */
async function acceptedSeqs(tx) {
  return new Set((await tx.objectStore("sealed").getAll()).filter((r) => r.accepted_at !== undefined).map((r) => r.seq));
}
