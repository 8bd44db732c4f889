// The tablet's local store in IndexedDB: its object stores, their migrations, and honest transactions.
//
// Every write the engineer makes is ONE readwrite transaction that changes the local record and appends
// its op to the outbox, committed with durability "strict" (flushed to disk before it counts as done), so
// a closed tab, a reload or a killed browser never loses an acknowledged write. Nothing but IndexedDB
// requests is awaited inside a transaction: IndexedDB commits a transaction as soon as it has no pending
// request, so signatures and hashes are computed before it opens.

import { openDB } from "../vendor/idb/index.js";

export const DB_VERSION = 4;

/** @typedef {import("../vendor/idb/index.js").IDBPDatabase<unknown>} Database */
/** @typedef {import("../vendor/idb/index.js").IDBPTransaction<unknown, string[], "readwrite">} Tx */

/**
 * Object stores and their keys. `outbox` is in write order (auto-increment `seq`); an op is unsealed
 * while its `sealed_seq` is absent (the `sealed` index leaves such records out). `since` is the database
 * version that added a store (1 when absent).
 */
export const STORES = {
  meta: { keyPath: "key" },
  jobs: { keyPath: "id" },
  // a job's answers are a range of the key itself (jobRange), no index: a bootstrap writes ~600,000 of them
  answers: { keyPath: ["job_id", "item_key"] },
  templates: { keyPath: ["id", "version"] },
  parts: { keyPath: "part_no" },
  stock: { keyPath: ["location", "part_no"] },
  movements: { keyPath: "id", indexes: { job: "job_id" } },
  attachments: { keyPath: ["job_id", "sha256"], indexes: { job: "job_id", sha: "sha256" } },
  // `pending: 1` while the bytes are not on the server (the index holds only those: photos are large)
  blobs: { keyPath: "sha256", indexes: { pending: "pending" } },
  signoffs: { keyPath: "job_id" },
  conflicts: { keyPath: "id", indexes: { job: "job_id" } },
  outbox: { keyPath: "seq", autoIncrement: true, indexes: { job: "job_id", sealed: "sealed_seq", op: "op_id" } },
  sealed: { keyPath: "seq" },
  op_results: { keyPath: "op_id", indexes: { job: "job_id", result: "result" } },
  // knowledge-base cases of the models of this tablet's jobs, searched offline (engine/search.js)
  kb: { keyPath: "id", since: 2 },
  // amendments of signed content made on this tablet (writes.amend): the report lists them
  amendments: { keyPath: "op_id", indexes: { job: "job_id" }, since: 3 },
};

/** Indexes a later version dropped: [store, index, the version that dropped it]. */
export const DROPPED_INDEXES = /** @type {const} */ ([["answers", "job", 4]]);
/** Stores keyed [job_id, ...]: their "job" lookups are key ranges, not an index. */
const KEYED_BY_JOB = new Set(["answers"]);

/** @typedef {keyof typeof STORES} StoreName */
export const ALL_STORES = /** @type {StoreName[]} */ (Object.keys(STORES));

/** The local database: open it once per app. */
export class LocalStore {
  /** @param {Database} db */
  constructor(db) {
    this.db = db;
  }

  /** @param {string} name */
  static async open(name) {
    const db = await openDB(name, DB_VERSION, {
      upgrade(database, oldVersion, newVersion, transaction) {
        for (const [store, index, version] of DROPPED_INDEXES) {
          if (oldVersion === 0 || oldVersion >= version) continue;
          const os = transaction.objectStore(store);
          if (os.indexNames.contains(index)) os.deleteIndex(index);
        }
        for (const [store, spec] of Object.entries(STORES)) {
          if (oldVersion >= ("since" in spec ? spec.since : 1)) continue;  // made by an older version
          const os = database.createObjectStore(store, {
            keyPath: /** @type {string | string[]} */ (spec.keyPath),
            autoIncrement: "autoIncrement" in spec ? spec.autoIncrement : false,
          });
          for (const [index, keyPath] of Object.entries("indexes" in spec ? spec.indexes : {})) {
            os.createIndex(index, keyPath);
          }
        }
      },
      blocking() {
        // a newer version of the app opened the database in another tab: let it upgrade
        db.close();
      },
    });
    return new LocalStore(db);
  }

  close() {
    this.db.close();
  }

  /**
   * Run `fn` in one readonly transaction over `stores`.
   * @template T @param {StoreName[]} stores @param {(tx: Tx) => Promise<T>} fn @returns {Promise<T>}
   */
  async read(stores, fn) {
    const tx = /** @type {Tx} */ (/** @type {unknown} */ (this.db.transaction(stores, "readonly")));
    const result = await fn(tx);
    await tx.done;
    return result;
  }

  /**
   * Run `fn` in one readwrite transaction over `stores`, committed durably; when `fn` throws, nothing it
   * wrote stays and the error is passed on.
   *
   * `durability: "relaxed"` is for what the server can send again and nothing else: a pull page with its
   * cursor. Such a transaction is still atomic and ordered (a later strict commit flushes it too); a power
   * cut may only take the last pages back, cursor and records together, and the next sync pulls them again.
   * Every write the engineer makes, and every receipt, stays "strict".
   * @template T @param {StoreName[]} stores @param {(tx: Tx) => Promise<T>} fn
   * @param {{durability?: "strict" | "relaxed"}} [opts] @returns {Promise<T>}
   */
  async write(stores, fn, opts = {}) {
    const tx = /** @type {Tx} */ (/** @type {unknown} */ (
      this.db.transaction(stores, "readwrite", { durability: opts.durability ?? "strict" })));
    let result;
    try {
      result = await fn(tx);
    } catch (err) {
      try {
        tx.abort();
      } catch {
        // already finished: it failed on its own
      }
      await tx.done.catch(() => undefined);
      throw err;
    }
    await tx.done;
    return result;
  }
}

/**
 * All records of `store` whose index `index` equals `key`.
 * @param {Tx} tx @param {StoreName} store @param {string} index @param {IDBValidKey} key @returns {Promise<any[]>}
 */
export function byIndex(tx, store, index, key) {
  if (index === "job" && KEYED_BY_JOB.has(store)) return tx.objectStore(store).getAll(jobRange(key));
  return tx.objectStore(store).index(index).getAll(key);
}

/**
 * The keys of the records of `store` whose index `index` equals `key`.
 * @param {Tx} tx @param {StoreName} store @param {string} index @param {IDBValidKey} key @returns {Promise<IDBValidKey[]>}
 */
export function keysByIndex(tx, store, index, key) {
  if (index === "job" && KEYED_BY_JOB.has(store)) return tx.objectStore(store).getAllKeys(jobRange(key));
  return tx.objectStore(store).index(index).getAllKeys(key);
}

/**
 * Every key [jobId, ...] (an array is greater than any string or number, and a prefix sorts first).
 * @param {IDBValidKey} jobId
 */
export function jobRange(jobId) {
  return IDBKeyRange.bound([jobId], [jobId, []]);
}
