// Apply one pulled page to the local store (inside the caller's transaction, with the page's cursor).
//
// Pulled records are the server's current state and replace local ones, except a value this tablet still
// has an unsynced op for (the status, a field, an answer, the sign-off, an attachment): the local write
// stays in force until its op is pushed and the server's verdict comes back in a later pull. Kinds this
// app does not show are skipped, so a newer server keeps working with an older app.
//
// Speed (a bootstrap is a million records): writes are queued on the plain IndexedDB store (no promise per
// request), not awaited one by one. IndexedDB runs a transaction's requests in the order they were made, so a
// later read still sees every earlier write, and a write that fails aborts the transaction, which the caller's
// `store.write` reports (page and cursor are then both left out). The records a page merges with are read
// ahead in one go (LocalRecords), so no change waits for a read of its own.

import { unwrap } from "../vendor/idb/index.js";
import { asHlc } from "./hlc.js";
import { keysByIndex } from "./store.js";

export const JOB_FIELDS = ["notes", "diagnosis", "resolution", "remote", "rating", "customer_comment"];
/** @type {Record<string, unknown>} */
const FIELD_DEFAULTS = { notes: "", diagnosis: "", resolution: "", remote: false, rating: null, customer_comment: null };

/** @typedef {import("./store.js").Tx} Tx */
/** @typedef {import("./wire.js").Change} Change */
/** @typedef {Map<string, Set<string>>} Pending  job id -> keys of local values with unsynced ops */

/** The stores a page writes. @type {import("./store.js").StoreName[]} */
export const PAGE_STORES = ["jobs", "answers", "templates", "parts", "stock", "movements", "attachments", "blobs",
  "signoffs", "conflicts", "outbox", "meta", "kb"];

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
  const local = new LocalRecords(tx);
  await local.readAhead(changes);
  /** @type {Page} */
  const page = { pendingOf: (jobId) => pending.get(jobId) ?? new Set(), local };
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

/** @param {IDBValidKey} key */
function keyText(key) {
  return Array.isArray(key) ? key.map(String).join("\u0000") : String(key);
}

/**
 * The local records a page's handlers merge with (jobs, movements, sign-offs, attachments): read ahead in one
 * go for the whole page, then kept as the handlers write them, so each handler reads the value every earlier
 * change of the page left, without a round trip to the database per record.
 */
export class LocalRecords {
  /** @param {Tx} tx */
  constructor(tx) {
    this.tx = tx;
    /** @type {Map<string, Map<string, any>>} store -> key text -> record (undefined: none) */
    this.known = new Map();
    /** @type {Map<string, IDBObjectStore>} */
    this.stores = new Map();
  }

  /** Read the records `changes` will merge with, every request at once. @param {Change[]} changes */
  async readAhead(changes) {
    /** @type {Map<import("./store.js").StoreName, Map<string, IDBValidKey>>} */
    const wanted = new Map();
    const want = (/** @type {import("./store.js").StoreName} */ store, /** @type {IDBValidKey} */ key) => {
      if (!wanted.has(store)) wanted.set(store, new Map());
      /** @type {Map<string, IDBValidKey>} */ (wanted.get(store)).set(keyText(key), key);
    };
    for (const change of changes) {
      const data = /** @type {Record<string, any>} */ (change.data ?? {});
      if (change.kind === "job") want("jobs", data.id ?? change.id);
      else if (change.kind === "answer") want("jobs", data.job_id);
      else if (change.kind === "movement") want("movements", data.id ?? change.id);
      else if (change.kind === "signoff") {
        want("signoffs", data.job_id ?? change.id);
        want("jobs", data.job_id ?? change.id);
      } else if (change.kind === "attachment") want("attachments", [data.job_id, data.sha256]);
    }
    await Promise.all([...wanted].map(async ([store, keys]) => {
      const os = this.tx.objectStore(store);
      const entries = [...keys];
      const values = await Promise.all(entries.map(([, key]) => os.get(key)));
      const known = this.of(store);
      entries.forEach(([text], i) => known.set(text, values[i]));
    }));
  }

  /** @param {string} store */
  of(store) {
    let known = this.known.get(store);
    if (!known) this.known.set(store, (known = new Map()));
    return known;
  }

  /** @param {import("./store.js").StoreName} store @param {IDBValidKey} key @returns {Promise<any>} */
  async get(store, key) {
    const known = this.of(store);
    const text = keyText(key);
    if (!known.has(text)) known.set(text, await this.tx.objectStore(store).get(key));
    return known.get(text);
  }

  /**
   * Write a record the page's later changes may merge with (kept here as well).
   * @param {import("./store.js").StoreName} store @param {IDBValidKey} key @param {Record<string, any>} value
   */
  put(store, key, value) {
    this.of(store).set(keyText(key), value);
    this.write(store, value);
  }

  /**
   * Queue a write, not waiting for its answer (see the header): a failure aborts the transaction.
   * @param {import("./store.js").StoreName} store @param {Record<string, any>} value
   */
  write(store, value) {
    this.plain(store).put(value);
  }

  /** @param {import("./store.js").StoreName} store @param {IDBValidKey} key */
  delete(store, key) {
    this.of(store).set(keyText(key), undefined);
    this.plain(store).delete(key);
  }

  /** The object store without the promise wrapper. @param {import("./store.js").StoreName} store @returns {IDBObjectStore} */
  plain(store) {
    let os = this.stores.get(store);
    if (!os) this.stores.set(store, (os = unwrap(this.tx.objectStore(store))));
    return os;
  }
}

/**
 * What the handlers of one page share: the local values with unsynced ops, and the local records they merge with.
 * @typedef {{pendingOf: (jobId: string) => Set<string>, local: LocalRecords}} Page
 */
/** @typedef {(tx: Tx, id: string, data: Record<string, any>, page: Page) => Promise<void>} Handler */

/** @type {Record<string, Handler>} */
const HANDLERS = {
  async job(tx, id, data, page) {
    const jobId = data.id ?? id;
    const local = await page.local.get("jobs", jobId);
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
    page.local.put("jobs", jobId, row);
  },

  async answer(tx, id, data, page) {
    if (page.pendingOf(data.job_id).has(`answer:${data.item_key}`)) return;
    const job = await page.local.get("jobs", data.job_id);
    page.local.write("answers", {
      job_id: data.job_id, item_key: data.item_key, value: data.value ?? null, note: data.note ?? null,
      na_reason: data.na_reason ?? null, hlc: asHlc(data.hlc), device_id: data.device_id ?? null,
      template_version: job?.template_version ?? null, deleted: Boolean(data.deleted),
    });
  },

  async movement(tx, id, data, page) {
    const movementId = data.id ?? id;
    const local = await page.local.get("movements", movementId);
    page.local.put("movements", movementId, {
      id: movementId, kind: data.kind ?? "", part_no: data.part_no ?? "", qty: data.qty ?? 0, serial: data.serial ?? null,
      returned_serial: "returned_serial" in data ? data.returned_serial : (local?.returned_serial ?? null),
      from_location: data.from_location ?? null, to_location: data.to_location ?? null, job_id: data.job_id ?? null,
      at: data.at ?? 0, billable: data.billable ?? null, local: false,
    });
  },

  async signoff(tx, id, data, page) {
    const jobId = data.job_id ?? id;
    const local = await page.local.get("signoffs", jobId);
    if (local && local.report_digest === data.report_digest) return; // our own came back: keep strokes and signature
    if (local && page.pendingOf(jobId).has("signoff")) return;
    page.local.put("signoffs", jobId, {
      job_id: jobId, signer_name: data.signer_name ?? "", signer_role: data.signer_role ?? "",
      signed_at: data.signed_at ?? 0, report_digest: data.report_digest ?? "", strokes: [], pen: [],
      device_signature: null, rating: null, comment: null, content: null, op_id: null,
    });
    const job = await page.local.get("jobs", jobId);
    if (job) page.local.put("jobs", jobId, { ...job, signed_off: true });
  },

  async job_removed(tx, jobId, data, page) {
    // The job left this engineer's scope. Unsynced ops stay in the outbox: they are still pushed and the
    // server keeps them as review items; blobs not yet uploaded stay too, as the evidence they refer to.
    for (const store of /** @type {const} */ (["answers", "attachments", "conflicts", "movements"])) {
      for (const key of await keysByIndex(tx, store, "job", jobId)) page.local.delete(store, key);
    }
    page.local.delete("signoffs", jobId);
    page.local.delete("jobs", jobId);
    const blobs = tx.objectStore("blobs");
    const pending = new Set(await blobs.index("pending").getAllKeys(1));
    for (const sha of await blobs.getAllKeys()) {
      if (pending.has(sha)) continue;
      if ((await tx.objectStore("attachments").index("sha").count(sha)) === 0) await blobs.delete(sha);
    }
  },

  async template(tx, id, data, page) {
    page.local.write("templates", {
      id: data.id, version: Number(data.version), name: data.name ?? "", items: data.items ?? [],
    });
  },

  async part(tx, id, data, page) {
    page.local.write("parts", {
      part_no: data.part_no ?? id, name: data.name ?? "", serialized: Boolean(data.serialized),
      unit_price_cents: Number(data.unit_price_cents ?? 0),
    });
  },

  async stock(tx, id, data, page) {
    page.local.write("stock", { location: data.location, part_no: data.part_no, qty: Number(data.qty ?? 0) });
  },

  async attachment(tx, id, data, page) {
    if (page.pendingOf(data.job_id).has(`attachment:${data.sha256}`)) return;
    const local = await page.local.get("attachments", [data.job_id, data.sha256]);
    page.local.put("attachments", [data.job_id, data.sha256], {
      job_id: data.job_id, sha256: data.sha256, kind: data.kind ?? local?.kind ?? "photo",
      size: Number(data.size ?? local?.size ?? 0), content_type: local?.content_type ?? "application/octet-stream",
      deleted: Boolean(data.deleted),
    });
  },

  async kb(tx, id, data, page) {
    page.local.write("kb", {
      id: String(data.id ?? id), model: data.model ?? "", equipment_type: data.equipment_type ?? "",
      symptom: data.symptom ?? "", cause: data.cause ?? "", fix: data.fix ?? "",
      parts: (data.parts ?? []).map(String), ticket_id: data.ticket_id ?? null, created_at: Number(data.created_at ?? 0),
    });
  },

  async conflict(tx, id, data, page) {
    page.local.write("conflicts", {
      id: data.id ?? id, kind: data.kind ?? "", job_id: data.job_id ?? "", key: data.key ?? "",
      status: data.status ?? "open", values: data.values ?? [], applied: data.applied ?? {},
      resolution: data.resolution ?? {},
    });
  },
};
