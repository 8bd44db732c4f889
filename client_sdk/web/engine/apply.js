// Apply one pulled page to the local store (inside the caller's transaction, with the page's cursor).
//
// Pulled records are the server's current state and replace local ones, except a value this tablet still
// has an unsynced op for (the status, a field, an answer, the sign-off, an attachment): the local write
// stays in force until its op is pushed and the server's verdict comes back in a later pull. Kinds this
// app does not show are skipped, so a newer server keeps working with an older app.
//
// Speed (a bootstrap is a million records): writes are queued, not awaited one by one. IndexedDB runs a
// transaction's requests in the order they were made, so a later read still sees every earlier write, and a
// write that fails aborts the transaction, which the caller's `store.write` reports (page and cursor are
// then both left out). Only reads are awaited; the job an answer belongs to is looked up once per page.

import { asHlc } from "./hlc.js";

export const JOB_FIELDS = ["notes", "diagnosis", "resolution", "remote", "rating", "customer_comment"];
/** @type {Record<string, unknown>} */
const FIELD_DEFAULTS = { notes: "", diagnosis: "", resolution: "", remote: false, rating: null, customer_comment: null };

/** @typedef {import("./store.js").Tx} Tx */
/** @typedef {import("./wire.js").Change} Change */
/** @typedef {Map<string, Set<string>>} Pending  job id -> keys of local values with unsynced ops */

/** The stores a page writes. @type {import("./store.js").StoreName[]} */
export const PAGE_STORES = ["jobs", "answers", "templates", "parts", "stock", "movements", "attachments", "blobs",
  "signoffs", "conflicts", "outbox", "meta", "kb"];

/**
 * Queue a write in the page's transaction without waiting for its answer (see the header): its failure
 * aborts the transaction, which `store.write` turns into an error, so the request's own rejection is dropped.
 * @param {Promise<unknown>} request
 */
function queued(request) {
  request.catch(() => undefined);
}

/** @param {Tx} tx @returns {Promise<Pending>} */
export async function pendingKeys(tx) {
  /** @type {Pending} */
  const pending = new Map();
  for (const op of await tx.objectStore("outbox").getAll()) {
    if (!pending.has(op.job_id)) pending.set(op.job_id, new Set());
    /** @type {Set<string>} */ (pending.get(op.job_id)).add(op.key);
  }
  return pending;
}

/**
 * Apply changes in order; return how many were understood.
 * @param {Tx} tx @param {Change[]} changes
 */
export async function applyPage(tx, changes) {
  const pending = await pendingKeys(tx);
  /** @type {Page} */
  const page = { pendingOf: (jobId) => pending.get(jobId) ?? new Set(), templateVersions: new Map() };
  let done = 0;
  for (const change of changes) {
    const data = /** @type {Record<string, any>} */ (change.data ?? {});
    const handler = HANDLERS[change.kind];
    if (handler === undefined) continue;
    await handler(tx, change.id, data, page);
    done += 1;
  }
  return done;
}

/**
 * What the handlers of one page share: the local values with unsynced ops, and the pinned template version of
 * each job this page wrote or looked up (every answer needs its job's; a page holds a job's answers together).
 * @typedef {{pendingOf: (jobId: string) => Set<string>, templateVersions: Map<string, number | null>}} Page
 */
/** @typedef {(tx: Tx, id: string, data: Record<string, any>, page: Page) => Promise<void>} Handler */

/** The template version a job pins, from this page's writes or the store. @param {Tx} tx @param {Page} page @param {string} jobId */
async function templateVersion(tx, page, jobId) {
  if (!page.templateVersions.has(jobId)) {
    const job = await tx.objectStore("jobs").get(jobId);
    page.templateVersions.set(jobId, job?.template_version ?? null);
  }
  return page.templateVersions.get(jobId) ?? null;
}

/** @type {Record<string, Handler>} */
const HANDLERS = {
  async job(tx, id, data, page) {
    const jobId = data.id ?? id;
    const jobs = tx.objectStore("jobs");
    const local = await jobs.get(jobId);
    const pending = page.pendingOf(jobId);
    /** @type {Record<string, bigint>} */
    const fieldHlc = {};
    for (const [k, v] of Object.entries(data.field_hlc ?? {})) fieldHlc[k] = asHlc(v);
    /** @type {Record<string, any>} */
    const row = {
      id: jobId, ticket_id: data.ticket_id ?? "", engineer_id: data.engineer_id ?? "", status: data.status ?? "assigned",
      hold_reason: data.hold_reason ?? null, template_id: data.template_id ?? null,
      template_version: data.template_version ?? null, scheduled_start: data.scheduled_start ?? null,
      scheduled_end: data.scheduled_end ?? null, signed_off: Boolean(data.signed_off),
      changed_after_signoff: Boolean(data.changed_after_signoff), ticket: data.ticket ?? {}, times: local?.times ?? {},
      updated_at: local?.updated_at ?? 0,
    };
    const known = local ?? FIELD_DEFAULTS;
    for (const name of JOB_FIELDS) row[name] = name in data ? data[name] : known[name];
    row.remote = Boolean(row.remote);
    if (local) {
      if (pending.has("status")) {
        row.status = local.status;
        row.hold_reason = local.hold_reason;
      }
      for (const name of JOB_FIELDS) {
        if (pending.has(`field:${name}`)) {
          row[name] = local[name];
          if (local.field_hlc?.[name] !== undefined) fieldHlc[name] = local.field_hlc[name];
        }
      }
      if (pending.has("signoff") || local.signed_off) row.signed_off = true;
    }
    row.field_hlc = fieldHlc;
    page.templateVersions.set(jobId, row.template_version);
    queued(jobs.put(row));
  },

  async answer(tx, id, data, page) {
    if (page.pendingOf(data.job_id).has(`answer:${data.item_key}`)) return;
    const version = await templateVersion(tx, page, data.job_id);
    queued(tx.objectStore("answers").put({
      job_id: data.job_id, item_key: data.item_key, value: data.value ?? null, note: data.note ?? null,
      na_reason: data.na_reason ?? null, hlc: asHlc(data.hlc), device_id: data.device_id ?? null,
      template_version: version, deleted: Boolean(data.deleted),
    }));
  },

  async movement(tx, id, data) {
    const movementId = data.id ?? id;
    const store = tx.objectStore("movements");
    const local = await store.get(movementId);
    queued(store.put({
      id: movementId, kind: data.kind ?? "", part_no: data.part_no ?? "", qty: data.qty ?? 0, serial: data.serial ?? null,
      returned_serial: "returned_serial" in data ? data.returned_serial : (local?.returned_serial ?? null),
      from_location: data.from_location ?? null, to_location: data.to_location ?? null, job_id: data.job_id ?? null,
      at: data.at ?? 0, billable: data.billable ?? null, local: false,
    }));
  },

  async signoff(tx, id, data, page) {
    const jobId = data.job_id ?? id;
    const store = tx.objectStore("signoffs");
    const local = await store.get(jobId);
    if (local && local.report_digest === data.report_digest) return; // our own came back: keep strokes and signature
    if (local && page.pendingOf(jobId).has("signoff")) return;
    queued(store.put({
      job_id: jobId, signer_name: data.signer_name ?? "", signer_role: data.signer_role ?? "",
      signed_at: data.signed_at ?? 0, report_digest: data.report_digest ?? "", strokes: [], pen: [],
      device_signature: null, rating: null, comment: null, content: null, op_id: null,
    }));
    const job = await tx.objectStore("jobs").get(jobId);
    if (job) queued(tx.objectStore("jobs").put({ ...job, signed_off: true }));
  },

  async job_removed(tx, jobId, data, page) {
    page.templateVersions.delete(jobId);
    // The job left this engineer's scope. Unsynced ops stay in the outbox: they are still pushed and the
    // server keeps them as review items; blobs not yet uploaded stay too, as the evidence they refer to.
    for (const store of /** @type {const} */ (["answers", "attachments", "conflicts", "movements"])) {
      const os = tx.objectStore(store);
      for (const key of await os.index("job").getAllKeys(jobId)) await os.delete(key);
    }
    await tx.objectStore("signoffs").delete(jobId);
    await tx.objectStore("jobs").delete(jobId);
    const blobs = tx.objectStore("blobs");
    const pending = new Set(await blobs.index("pending").getAllKeys(1));
    for (const sha of await blobs.getAllKeys()) {
      if (pending.has(sha)) continue;
      if ((await tx.objectStore("attachments").index("sha").count(sha)) === 0) await blobs.delete(sha);
    }
  },

  async template(tx, id, data) {
    queued(tx.objectStore("templates").put({
      id: data.id, version: Number(data.version), name: data.name ?? "", items: data.items ?? [],
    }));
  },

  async part(tx, id, data) {
    queued(tx.objectStore("parts").put({
      part_no: data.part_no ?? id, name: data.name ?? "", serialized: Boolean(data.serialized),
      unit_price_cents: Number(data.unit_price_cents ?? 0),
    }));
  },

  async stock(tx, id, data) {
    queued(tx.objectStore("stock").put({ location: data.location, part_no: data.part_no, qty: Number(data.qty ?? 0) }));
  },

  async attachment(tx, id, data, page) {
    if (page.pendingOf(data.job_id).has(`attachment:${data.sha256}`)) return;
    const store = tx.objectStore("attachments");
    const local = await store.get([data.job_id, data.sha256]);
    queued(store.put({
      job_id: data.job_id, sha256: data.sha256, kind: data.kind ?? local?.kind ?? "photo",
      size: Number(data.size ?? local?.size ?? 0), content_type: local?.content_type ?? "application/octet-stream",
      deleted: Boolean(data.deleted),
    }));
  },

  async kb(tx, id, data) {
    queued(tx.objectStore("kb").put({
      id: String(data.id ?? id), model: data.model ?? "", equipment_type: data.equipment_type ?? "",
      symptom: data.symptom ?? "", cause: data.cause ?? "", fix: data.fix ?? "",
      parts: (data.parts ?? []).map(String), ticket_id: data.ticket_id ?? null, created_at: Number(data.created_at ?? 0),
    }));
  },

  async conflict(tx, id, data) {
    queued(tx.objectStore("conflicts").put({
      id: data.id ?? id, kind: data.kind ?? "", job_id: data.job_id ?? "", key: data.key ?? "",
      status: data.status ?? "open", values: data.values ?? [], applied: data.applied ?? {},
      resolution: data.resolution ?? {},
    }));
  },
};
