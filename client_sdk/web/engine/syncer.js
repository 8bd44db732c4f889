// The sync loop: session, push the outbox, upload blobs, pull pages. Every state change is one transaction.
//
// 1. session: sign the server's nonce with the device key (no clock needed).
// 2. outcomes: ask for the receipt of every change-set the server accepted earlier (below) and apply each.
// 3. push: re-send a sealed but unacknowledged change-set's exact bytes, else seal the oldest outbox ops
//    into the next change-set and store envelope + new chain head + op ids in one transaction *before*
//    sending. A verified receipt records every op's result (rejected and needs-review ones stay listed with
//    their reason), drops those ops from the outbox and clears the sealed record, in one transaction.
//    A verified Accepted (202: the server holds the bytes, its merge follows) marks the sealed record
//    accepted: its ops are safe, never sent again, and stay in the outbox (their local values in force)
//    until the receipt comes. Then the outcomes of accepted change-sets are asked for once more, waiting
//    at most OUTCOME_WAIT_S; what is still merging is fetched by the next sync (the records persist).
// 4. blobs: upload attachment bytes in chunks, resuming from what the server already holds.
// 5. pull: fetch pages after the stored cursor; each page is applied together with its new cursor (the next
//    page is fetched meanwhile).
// Being offline is the normal case: it ends the run with `offline: true` and leaves everything in place.

import { equalBytes } from "./bytes.js";
import { seal } from "./changeset.js";
import { applyPage, PAGE_STORES } from "./apply.js";
import { endorsedKeys, sign, verify } from "./keys.js";
import { BadResponse, Offline, ProtocolError, TransportError } from "./transport.js";
import { SHAPES, decodeChecked, decodeOp } from "./wire.js";

export const MAX_OPS_PER_PUSH = 2000;
export const BLOB_CHUNK = 256 * 1024;
export const PULL_LIMIT = 5000;
/** The longest a sync waits, after its pushes, for the outcomes of the change-sets the server accepted. */
export const OUTCOME_WAIT_S = 5;

/**
 * @typedef {object} SyncReport
 * @property {number} pushed_ops      ops the server took in this run (accepted or with their receipt)
 * @property {number} accepted_ops    ops safe on the server whose outcome has not come back yet
 * @property {number} outcomes_pending change-sets safe on the server whose outcome has not come back yet
 * @property {number} applied
 * @property {number} merged
 * @property {number} rejected
 * @property {number} needs_review
 * @property {number} pulled_changes
 * @property {number} uploaded_blobs
 * @property {boolean} offline
 * @property {string[]} errors      "code: detail"
 * @property {number | null} clock_offset_ms
 */

/** @returns {SyncReport} */
export function emptyReport() {
  return {
    pushed_ops: 0, accepted_ops: 0, outcomes_pending: 0, applied: 0, merged: 0, rejected: 0, needs_review: 0,
    pulled_changes: 0, uploaded_blobs: 0, offline: false, errors: [], clock_offset_ms: null,
  };
}

/** A server signature that does not verify with the key this tablet enrolled with. */
export class ServerSignatureInvalid extends Error {}

/** @typedef {(phase: string, done: number, total: number) => void} Progress */

/** One device's sync run over a transport. */
export class SyncLoop {
  /**
   * @param {import("./store.js").LocalStore} store
   * @param {import("./transport.js").HttpTransport} transport
   * @param {Record<string, any>} device  the device record
   * @param {() => number} clock
   */
  constructor(store, transport, device, clock) {
    this.store = store;
    this.transport = transport;
    this.device = device;
    this.clock = clock;
    /** @type {Uint8Array[]} the enrolled server key and each later one it endorsed (from the session) */
    this.trustedKeys = [device.server_public_key];
    this.chainChecked = false;
  }

  /** @param {Progress} [progress] @returns {Promise<SyncReport>} */
  async run(progress = () => undefined) {
    const report = emptyReport();
    try {
      if (this.transport.token === null) await this.openSession(report);
      await this.fetchOutcomes(report, 0);
      await this.push(report, progress);
      await this.fetchOutcomes(report, OUTCOME_WAIT_S);
      await this.uploadBlobs(report, progress);
      await this.pull(report, progress);
    } catch (err) {
      if (err instanceof Offline) report.offline = true;
      else if (err instanceof ProtocolError) report.errors.push(`${err.code}: ${err.detail}`);
      else if (err instanceof ServerSignatureInvalid) report.errors.push(`bad_server_signature: ${err.message}`);
      else if (err instanceof TransportError) report.errors.push(`transport_error: ${err.message}`);
      else throw err;
    }
    return report;
  }

  // -- session ---------------------------------------------------------------------------------------

  /** Prove possession of the device key: sign the server's nonce, keep the token. @param {SyncReport} [report] */
  async openSession(report) {
    const challenge = await this.transport.challenge(this.device.device_id);
    const signature = await sign(this.device.private_key, new TextEncoder().encode(challenge.nonce));
    const session = await this.transport.session({
      device_id: this.device.device_id, nonce: challenge.nonce, signature, device_clock: this.clock(),
    });
    this.transport.token = session.token;
    if (Array.isArray(session.server_keys) && session.server_keys.length > 0) {
      // a rotated server key is trusted only when endorsed by one trusted already (protocol §3.4)
      this.trustedKeys = await endorsedKeys(this.device.server_public_key, session.server_keys);
    }
    this.chainChecked = true;
    await this.updateDevice({ clock_offset_ms: session.clock_offset_ms });
    if (report) report.clock_offset_ms = session.clock_offset_ms;
  }

  /**
   * Run an authenticated call; on an expired session open a new one and retry once.
   * @template T @param {SyncReport} report @param {() => Promise<T>} call @returns {Promise<T>}
   */
  async authed(report, call) {
    if (this.transport.token === null) await this.openSession(report);
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof ProtocolError && err.needsNewSession)) throw err;
    }
    await this.openSession(report);
    return call();
  }

  /**
   * The body of a server-signed answer, after checking the signature with a trusted server key: the enrolled
   * one and those it endorsed (key rotation). A signature none of them checks, before this run read the
   * server's key chain, opens a session (which carries the chain) first.
   * @param {import("./wire.js").Signed} signed
   */
  async verifiedBody(signed) {
    if (!(await this.signedByTrusted(signed)) && !this.chainChecked) await this.openSession();
    if (!(await this.signedByTrusted(signed))) {
      throw new ServerSignatureInvalid(`server signature (key ${signed.key_id}) does not verify`);
    }
    return signed.body;
  }

  /** @param {import("./wire.js").Signed} signed @returns {Promise<boolean>} */
  async signedByTrusted(signed) {
    for (const key of [...this.trustedKeys].reverse()) {  // the newest first: it signs nearly everything
      if (await verify(key, signed.signature, signed.body)) return true;
    }
    return false;
  }

  /** @param {Record<string, unknown>} changes */
  async updateDevice(changes) {
    await this.store.write(["meta"], async (tx) => {
      const device = await tx.objectStore("meta").get("device");
      await tx.objectStore("meta").put({ ...device, ...changes });
    });
  }

  // -- push ------------------------------------------------------------------------------------------

  /** @param {SyncReport} report @param {Progress} progress */
  async push(report, progress) {
    const total = await this.store.read(["outbox"], (tx) => tx.objectStore("outbox").count());
    progress("push", 0, total);
    for (;;) {
      const sealed = (await this.firstSealed()) ?? (await this.sealNext());
      if (!sealed) return;
      const answer = await this.authed(report, () => this.transport.push(sealed.envelope));
      const verdict = await this.verdict(answer, sealed);
      if (verdict.accepted) await this.recordAccepted(verdict.accepted, report);
      else await this.recordReceipt(verdict.receipt, report);
      progress("push", report.pushed_ops, Math.max(total, report.pushed_ops));
    }
  }

  /**
   * A server-signed answer about the change-set `sealed`, verified: its Receipt, or its Accepted (the body's
   * `kind` says which; a 202 must be an Accepted), for exactly that change-set of this device.
   * @param {import("./transport.js").SignedAnswer} answer @param {{seq: number, hash: string}} sealed
   * @returns {Promise<{accepted: import("./wire.js").Accepted, receipt?: undefined}
   *   | {accepted?: undefined, receipt: import("./wire.js").Receipt}>}
   */
  async verdict(answer, sealed) {
    const body = await this.verifiedBody(answer.signed);
    /** @type {import("./wire.js").Accepted | import("./wire.js").Receipt} */
    let message;
    try {
      const kind = /** @type {Record<string, unknown>} */ (decodeChecked(body, {}, "answer")).kind;
      if (kind === "accepted") message = decodeChecked(body, SHAPES.accepted, "accepted");
      else if (answer.status === 202) throw new Error(`a 202 answer is not an Accepted (kind ${String(kind)})`);
      else message = decodeChecked(body, SHAPES.receipt, "receipt");
    } catch (err) {
      throw new BadResponse("bad_response", answer.status, String(err));
    }
    if (message.device_id !== this.device.device_id || message.seq !== sealed.seq
        || message.changeset_hash !== sealed.hash) {
      throw new BadResponse("receipt_mismatch", answer.status,
        `answer for seq ${message.seq} does not match change-set ${sealed.seq}`);
    }
    return "kind" in message ? { accepted: /** @type {import("./wire.js").Accepted} */ (message) }
      : { receipt: /** @type {import("./wire.js").Receipt} */ (message) };
  }

  /**
   * The server holds this change-set: its ops are safe. The sealed record stays (it is how the next syncs know
   * which outcomes to ask for) but is never sent again. @param {import("./wire.js").Accepted} accepted
   * @param {SyncReport} report
   */
  async recordAccepted(accepted, report) {
    const n = await this.store.write(["sealed"], async (tx) => {
      const record = await tx.objectStore("sealed").get(accepted.seq);
      if (!record) return 0; // its receipt came meanwhile
      if (record.accepted_at === undefined) {
        await tx.objectStore("sealed").put({ ...record, accepted_at: accepted.server_time });
      }
      return record.op_ids.length;
    });
    report.pushed_ops += n;
    report.accepted_ops += n;
  }

  /**
   * Ask for the outcome of every change-set the server accepted and apply each receipt as a push's answer
   * would be; those still merging after `waitS` seconds (over all of them) stay for the next sync.
   * @param {SyncReport} report @param {number} waitS
   */
  async fetchOutcomes(report, waitS) {
    const accepted = await this.acceptedSealed();
    const deadline = Date.now() + waitS * 1000;
    let pendingSets = 0;
    let pendingOps = 0;
    const stillPending = (/** @type {{op_ids: string[]}} */ sealed) => {
      pendingSets += 1;
      pendingOps += sealed.op_ids.length;
    };
    for (const sealed of accepted) {
      const wait = Math.max(0, Math.floor((deadline - Date.now()) / 1000));
      let answer;
      try {
        answer = await this.authed(report, () => this.transport.receipt(sealed.seq, wait));
      } catch (err) {
        if (!(err instanceof ProtocolError) || err.status !== 404 || err.code !== "unknown_changeset") throw err;
        // the server does not hold what it accepted (restored from a backup): the push sends the same bytes
        // again and the chain decides, as the Python SDK does; reported, never dropped
        await this.store.write(["sealed"], async (tx) => {
          const record = await tx.objectStore("sealed").get(sealed.seq);
          if (record) {
            delete record.accepted_at;
            await tx.objectStore("sealed").put(record);
          }
        });
        report.errors.push(`unknown_changeset: accepted change-set ${sealed.seq} is unknown to the server; it is sent again`);
        break;
      }
      const verdict = await this.verdict(answer, sealed);
      if (verdict.receipt) await this.recordReceipt(verdict.receipt, report);
      else stillPending(sealed);
    }
    report.outcomes_pending = pendingSets;
    report.accepted_ops = pendingOps;
  }

  /** The change-sets the server accepted whose receipt this tablet lacks, oldest first. */
  acceptedSealed() {
    return this.store.read(["sealed"], async (tx) =>
      (await tx.objectStore("sealed").getAll()).filter((r) => r.accepted_at !== undefined));
  }

  /** The oldest change-set sealed but neither accepted nor acknowledged (after a crash or a lost answer). */
  firstSealed() {
    return this.store.read(["sealed"], async (tx) => {
      let cursor = await tx.objectStore("sealed").openCursor();
      while (cursor && cursor.value.accepted_at !== undefined) cursor = await cursor.continue();
      return cursor ? cursor.value : null;
    });
  }

  /**
   * Seal the oldest unsealed outbox ops into the next change-set: the ops are read, the bytes signed, then
   * one transaction stores the envelope, the new chain head and which ops it holds. The sync lock keeps
   * other tabs from sealing meanwhile; the head is checked again all the same.
   */
  async sealNext() {
    const { head, rows } = await this.store.read(["meta", "outbox"], async (tx) => {
      const device = await tx.objectStore("meta").get("device");
      /** @type {any[]} */
      const rows = [];
      let cursor = await tx.objectStore("outbox").openCursor();
      while (cursor && rows.length < MAX_OPS_PER_PUSH) {
        if (cursor.value.sealed_seq === undefined) rows.push(cursor.value);
        cursor = await cursor.continue();
      }
      return { head: { seq: device.head_seq ?? 0, hash: device.head_hash ?? "" }, rows };
    });
    if (!rows.length) return null;
    const now = this.clock();
    const ops = rows.map((r) => decodeOp(r.body));
    const sealed = await seal(this.device.private_key, this.device.device_id, head, ops, now);
    return this.store.write(["meta", "outbox", "sealed"], async (tx) => {
      const device = await tx.objectStore("meta").get("device");
      if ((device.head_seq ?? 0) !== head.seq || (device.head_hash ?? "") !== head.hash) {
        throw new TransportError("chain head moved while sealing: sync again");
      }
      const record = {
        seq: sealed.head.seq, envelope: sealed.envelope, hash: sealed.head.hash, prev_hash: head.hash,
        op_ids: rows.map((r) => r.op_id), sealed_at: now,
      };
      await tx.objectStore("sealed").put(record);
      for (const row of rows) {
        const current = await tx.objectStore("outbox").get(row.seq);
        if (!current || !equalBytes(current.body, row.body)) throw new TransportError("outbox changed while sealing");
        await tx.objectStore("outbox").put({ ...current, sealed_seq: sealed.head.seq });
      }
      await tx.objectStore("meta").put({ ...device, head_seq: sealed.head.seq, head_hash: sealed.head.hash });
      return record;
    });
  }

  /** @param {import("./wire.js").Receipt} receipt @param {SyncReport} report */
  async recordReceipt(receipt, report) {
    const results = new Map(receipt.results.map((r) => [r.op_id, r]));
    const now = this.clock();
    const n = await this.store.write(["outbox", "sealed", "op_results", "movements", "meta"], async (tx) => {
      // an accepted change-set's ops were counted as pushed when the server accepted them (maybe last sync)
      const wasAccepted = (await tx.objectStore("sealed").get(receipt.seq))?.accepted_at !== undefined;
      const ops = await tx.objectStore("outbox").index("sealed").getAll(receipt.seq);
      for (const op of ops) {
        const r = results.get(op.op_id);
        const kind = r ? r.result : "missing";
        await tx.objectStore("op_results").put({
          op_id: op.op_id, job_id: op.job_id, type: op.type, key: op.key, result: kind,
          reason: r ? (r.reason ?? null) : "no result in receipt", conflict_id: r?.conflict_id ?? null,
          changeset_seq: receipt.seq, received_at: now,
        });
        // the ledger never got it: the provisional local movement goes
        if (kind === "rejected" && op.type === "part.move") {
          const m = await tx.objectStore("movements").get(op.op_id);
          if (m?.local) await tx.objectStore("movements").delete(op.op_id);
        }
        if (kind === "applied" || kind === "merged" || kind === "rejected" || kind === "needs_review") report[kind] += 1;
        else report.errors.push(`missing_result: op ${op.op_id} has no result in receipt`);
        await tx.objectStore("outbox").delete(op.seq);
      }
      await tx.objectStore("sealed").delete(receipt.seq);
      const device = await tx.objectStore("meta").get("device");
      await tx.objectStore("meta").put({ ...device, clock_offset_ms: receipt.clock_offset_ms });
      return wasAccepted ? 0 : ops.length;
    });
    report.pushed_ops += n;
    report.clock_offset_ms = receipt.clock_offset_ms;
  }

  // -- blobs -----------------------------------------------------------------------------------------

  /** Upload the bytes of attachments whose op the server already has. @param {SyncReport} report @param {Progress} progress */
  async uploadBlobs(report, progress) {
    const blobs = await this.store.read(["blobs", "outbox"], async (tx) => {
      const waiting = new Set((await tx.objectStore("outbox").getAll())
        .filter((o) => o.type === "attachment").map((o) => o.key.slice("attachment:".length)));
      return (await tx.objectStore("blobs").index("pending").getAll(1))
        .filter((b) => !waiting.has(b.sha256))
        .sort((a, b) => a.created_at - b.created_at || (a.sha256 < b.sha256 ? -1 : 1));
    });
    progress("blobs", 0, blobs.length);
    let done = 0;
    for (const blob of blobs) {
      try {
        if (await this.uploadBlob(report, blob.sha256, blob.data)) report.uploaded_blobs += 1;
      } catch (err) {
        if (!(err instanceof ProtocolError) || err.needsNewSession || err instanceof BadResponse) throw err;
        report.errors.push(`${err.code}: blob ${blob.sha256}: ${err.detail}`);
      }
      progress("blobs", ++done, blobs.length);
    }
  }

  /** @param {SyncReport} report @param {string} sha256 @param {Uint8Array} data */
  async uploadBlob(report, sha256, data) {
    const size = data.length;
    const status = await this.authed(report, () => this.transport.blobStatus(sha256));
    let offset = status ? status.received : 0;
    let complete = Boolean(status?.complete);
    while (!complete && offset < size) {
      const at = offset;
      const put = await this.authed(report, () =>
        this.transport.blobPut(sha256, at, size, data.subarray(at, at + BLOB_CHUNK)));
      if (put.received <= offset && !put.complete) {
        report.errors.push(`blob_stalled: blob ${sha256} stuck at ${offset} of ${size}`);
        return false;
      }
      offset = put.received;
      complete = put.complete;
    }
    if (!complete) {
      report.errors.push(`blob_incomplete: blob ${sha256}: server holds ${offset} of ${size}`);
      return false;
    }
    await this.store.write(["blobs"], async (tx) => {
      const blob = await tx.objectStore("blobs").get(sha256);
      if (blob) {
        delete blob.pending;
        await tx.objectStore("blobs").put({ ...blob, uploaded: true });
      }
    });
    return true;
  }

  // -- pull ------------------------------------------------------------------------------------------

  /**
   * Pages after the stored cursor, each applied with its cursor in one transaction. The next page is asked
   * for while this one is written (the server and IndexedDB work side by side); it is applied only after.
   * @param {SyncReport} report @param {Progress} progress
   */
  async pull(report, progress) {
    let cursor = (await this.store.read(["meta"], (tx) => tx.objectStore("meta").get("device"))).pull_cursor ?? "";
    progress("pull", 0, 0);
    let next = this.fetchPage(report, cursor);
    for (;;) {
      const page = await next;
      const ahead = page.more && page.cursor && page.cursor !== cursor ? this.fetchPage(report, page.cursor) : null;
      ahead?.catch(() => undefined); // awaited below; a failure while this page is written must not go unhandled
      const now = this.clock();
      await this.store.write(PAGE_STORES, async (tx) => {
        await applyPage(tx, page.changes);
        const device = await tx.objectStore("meta").get("device");
        await tx.objectStore("meta").put({
          ...device, pull_cursor: page.cursor || device.pull_cursor, ...(page.more ? {} : { last_sync_at: now }),
        });
      }, { durability: page.more ? "relaxed" : "strict" }); // the server can send a lost page again (store.js)
      report.pulled_changes += page.changes.length;
      progress("pull", report.pulled_changes, page.more ? 0 : report.pulled_changes);
      if (!page.more) return;
      if (!ahead) {
        report.errors.push(`cursor_stuck: server said more but cursor stayed ${cursor}`);
        return;
      }
      cursor = page.cursor;
      next = ahead;
    }
  }

  /** One verified pull page after `cursor`. @param {SyncReport} report @param {string} cursor */
  async fetchPage(report, cursor) {
    const request = { cursor, limit: PULL_LIMIT, device_clock: this.clock() };
    const signed = await this.authed(report, () => this.transport.pull(request));
    /** @type {import("./wire.js").PullPage} */
    let page;
    try {
      page = decodeChecked(await this.verifiedBody(signed), SHAPES.pullPage, "pull page");
    } catch (err) {
      if (err instanceof ServerSignatureInvalid) throw err;
      throw new BadResponse("bad_response", 200, String(err));
    }
    if (page.device_id !== this.device.device_id) throw new BadResponse("bad_response", 200, "page for another device");
    return page;
  }
}
