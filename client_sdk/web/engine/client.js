// `TabletClient`: the engine's one entry point for the UI (the UI never touches storage or the network).
//
// It owns the local store, the rules, the transport and the device key; writes go through `writes`,
// reads through `reads`, and `sync()` runs one sync at a time across every tab of the app (Web Locks).

import { EnrollmentFailed, NotEnrolled } from "./errors.js";
import { generateDeviceKey, verify } from "./keys.js";
import { Reads } from "./reads.js";
import { certificateMessage } from "./report.js";
import { Rules } from "./rules.js";
import { LocalStore } from "./store.js";
import { SyncLoop } from "./syncer.js";
import { HttpTransport, Offline, ProtocolError, TransportError } from "./transport.js";
import { Writes } from "./writes.js";

/** @typedef {import("./syncer.js").SyncReport} SyncReport */

export const DEFAULT_DB = "fieldsync-tablet";
const SYNC_LOCK = "fieldsync-sync";

/** The engineer's tablet: local jobs, offline writes, and sync with the server. */
export class TabletClient {
  /**
   * @param {LocalStore} store @param {Rules} rules @param {HttpTransport} transport @param {() => number} clock
   */
  constructor(store, rules, transport, clock) {
    this.store = store;
    this.rules = rules;
    this.transport = transport;
    this.clock = clock;
    this.reads = new Reads(store, rules);
    this.writes = new Writes(store, rules, clock);
    /** @type {Promise<SyncReport> | null} */
    this.running = null;
  }

  /**
   * Open (creating) the local database and bind it to a server.
   * @param {{baseUrl: string, rules: import("./rules.js").RulesDoc, dbName?: string, clock?: () => number,
   *   fetch?: typeof fetch}} opts
   */
  static async open(opts) {
    const store = await LocalStore.open(opts.dbName ?? DEFAULT_DB);
    return new TabletClient(store, new Rules(opts.rules), new HttpTransport(opts.baseUrl, opts.fetch),
      opts.clock ?? (() => Date.now()));
  }

  close() {
    this.store.close();
  }

  /** The device record, or null before enrollment. */
  device() {
    return this.reads.device();
  }

  /**
   * Register a key made on this tablet with a one-time token; returns the device id. The private key is
   * non-extractable and stays in IndexedDB. Throws EnrollmentFailed with the server's problem code
   * (`token_used`, `token_expired` ...) or `offline`.
   * @param {string} token @param {string} [name]
   */
  async enroll(token, name = "tablet (web)") {
    if (await this.device()) throw new EnrollmentFailed("already_enrolled");
    const key = await generateDeviceKey();
    const deviceClock = this.clock();
    let enrollment;
    try {
      enrollment = await this.transport.enroll({ token: token.trim(), public_key: key.publicRaw, name, device_clock: deviceClock });
    } catch (err) {
      if (err instanceof Offline) throw new EnrollmentFailed("offline", err.message);
      if (err instanceof ProtocolError) throw new EnrollmentFailed(err.code, err.detail);
      if (err instanceof TransportError) throw new EnrollmentFailed("transport_error", err.message);
      throw err;
    }
    const cert = certificateMessage(enrollment.device_id, enrollment.engineer_id, key.publicRaw);
    if (!(await verify(enrollment.server_public_key, enrollment.certificate, cert))) {
      throw new EnrollmentFailed("bad_certificate", "the server's certificate of the device key does not verify");
    }
    await this.store.write(["meta"], async (tx) => {
      if (await tx.objectStore("meta").get("device")) throw new EnrollmentFailed("already_enrolled");
      await tx.objectStore("meta").put({
        key: "device", device_id: enrollment.device_id, engineer_id: enrollment.engineer_id, name,
        private_key: key.privateKey, public_key: key.publicRaw, server_public_key: enrollment.server_public_key,
        server_key_id: enrollment.server_key_id, certificate: enrollment.certificate, enrolled_at: deviceClock,
        head_seq: 0, head_hash: "", hlc_last: 0n, pull_cursor: "", clock_offset_ms: null, last_sync_at: null,
      });
    });
    return enrollment.device_id;
  }

  /**
   * Push the outbox, upload blobs, pull changes. Offline gives `offline: true`; it never throws for that.
   * Concurrent calls (this tab or another) share one run.
   * @param {import("./syncer.js").Progress} [progress] @returns {Promise<SyncReport>}
   */
  sync(progress) {
    if (this.running) return this.running;
    const run = async () => {
      const device = await this.device();
      if (!device) throw new NotEnrolled("enroll before sync");
      const report = await new SyncLoop(this.store, this.transport, device, this.clock).run(progress);
      if (!report.offline && !report.errors.length) await this.refreshSla();
      return report;
    };
    const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
    const started = /** @type {Promise<SyncReport>} */ (locks ? locks.request(SYNC_LOCK, run) : run());
    this.running = started.finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /**
   * Fetch the SLA due times of this engineer's jobs (informational, shown in the job list; kept for
   * offline use). A failure leaves the last known ones.
   */
  async refreshSla() {
    try {
      const body = await this.transport.send("GET", "/tablet/api/sla", { accept: "application/json" });
      const tickets = JSON.parse(new TextDecoder().decode(body));
      await this.store.write(["meta"], (tx) => tx.objectStore("meta").put({ key: "sla", tickets, at: this.clock() }));
    } catch {
      // informational only: the job list shows the last known due times
    }
  }

  /**
   * The next SLA deadline of each ticket on this tablet (the earliest target still running or paused).
   * @returns {Promise<Map<string, {target: string, due_at: number, breached: boolean, paused: boolean}>>}
   */
  async slaDue() {
    const sla = await this.store.read(["meta"], (tx) => tx.objectStore("meta").get("sla"));
    const out = new Map();
    for (const [ticketId, targets] of Object.entries(sla?.tickets ?? {})) {
      let next = null;
      for (const [target, t] of Object.entries(/** @type {Record<string, any>} */ (targets))) {
        if (!["running", "paused", "breached"].includes(t.state) || t.due_at == null || t.met_at != null) continue;
        if (!next || t.due_at < next.due_at) {
          next = { target, due_at: t.due_at, breached: Boolean(t.breached), paused: t.state === "paused" };
        }
      }
      if (next) out.set(ticketId, next);
    }
    return out;
  }

  /** @param {string} jobId @param {string} signerName @param {number[][][]} pen @param {{role?: string, rating?: number | null, comment?: string | null}} [extra] */
  async signOff(jobId, signerName, pen, extra) {
    const device = await this.device();
    if (!device) throw new NotEnrolled("a sign-off is countersigned by the device key: enroll first");
    return this.writes.signOff(device.private_key, jobId, signerName, pen, extra);
  }
}
