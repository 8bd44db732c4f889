// Accepted receipts against a fake server (protocol §4.7): a 202 makes a change-set's ops safe (never sent
// again, kept across a reload) and its outcome is fetched by a later sync and applied as a push answer was;
// an old server's 200 works as before; a 404 for an accepted change-set (a restored server) is reported and
// the same bytes are sent again, never dropped.
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { applyPage, PAGE_STORES } from "../engine/apply.js";
import { own, sha256Hex } from "../engine/bytes.js";
import { openSealed } from "../engine/changeset.js";
import { TabletClient } from "../engine/client.js";
import { generateDeviceKey, sign } from "../engine/keys.js";
import { SyncLoop } from "../engine/syncer.js";
import { HttpTransport, Offline, ProtocolError } from "../engine/transport.js";
import { encode } from "../engine/wire.js";
import { freshDbName, rulesDoc, steppingClock } from "./support.js";

const JOB = {
  id: "J-1", ticket_id: "T-1", engineer_id: "e-ana", status: "assigned", template_id: null, template_version: null,
  notes: "", diagnosis: "", resolution: "", remote: false, signed_off: false, field_hlc: {},
  ticket: { customer: "Hotel Aurora", site: "Plant room", priority: "P1", title: "Boiler down" },
};

/**
 * The server side of push, receipts and pull, in memory: it checks the chain, answers 202 with a signed
 * Accepted when asked (`async`), merges when told to (`mergeAll`), and answers receipt requests.
 */
class FakeServer {
  /** @param {CryptoKey} serverKey @param {Uint8Array} devicePublic */
  constructor(serverKey, devicePublic) {
    this.serverKey = serverKey;
    this.devicePublic = devicePublic;
    this.token = "session";
    /** answer pushes with 202 (a server that knows `Prefer: respond-async`) */
    this.async = true;
    /** answer receipt requests with 404 unknown_changeset */
    this.forget = false;
    /** the network is down for receipt requests */
    this.receiptsOffline = false;
    this.head = { seq: 0, hash: "" };
    /** @type {Map<number, {hash: string, ops: any[], accepted: Uint8Array, receipt: Uint8Array | null}>} */
    this.changesets = new Map();
    /** @type {number[]} seq of every push received */
    this.pushes = [];
    /** @type {Array<[number, number]>} (seq, wait) of every receipt request */
    this.receiptRequests = [];
  }

  /** @param {Record<string, unknown>} body */
  async signed(body) {
    const bytes = encode(body);
    return { body: bytes, signature: await sign(this.serverKey, bytes), key_id: "k1" };
  }

  /** @param {Uint8Array} envelope */
  async push(envelope) {
    const cs = await openSealed(envelope, this.devicePublic);
    const { decodeChecked, SHAPES } = await import("../engine/wire.js");
    const hash = await sha256Hex(decodeChecked(envelope, SHAPES.signedChangeSet, "sc").changeset);
    this.pushes.push(cs.seq);
    const known = this.changesets.get(cs.seq);
    if (!known) {
      assert.equal(cs.seq, this.head.seq + 1, "the chain has no gap");
      assert.equal(cs.prev_hash, this.head.hash, "the chain has no fork");
      const accepted = encode({
        kind: "accepted", protocol_version: 1, device_id: cs.device_id, seq: cs.seq, changeset_hash: hash,
        server_time: 1_767_225_600_000, op_count: cs.ops.length,
      });
      this.changesets.set(cs.seq, { hash, ops: cs.ops, accepted, receipt: null });
      this.head = { seq: cs.seq, hash };
      if (!this.async) this.merge(cs.seq);
    }
    return this.answer(cs.seq);
  }

  /** @param {number} seq */
  merge(seq) {
    const cs = /** @type {any} */ (this.changesets.get(seq));
    if (cs.receipt) return;
    cs.receipt = encode({
      protocol_version: 1, device_id: "D-1", seq, changeset_hash: cs.hash, server_time: 1_767_225_601_000,
      clock_offset_ms: 0, results: cs.ops.map((/** @type {any} */ op) => ({ op_id: op.op_id, result: "applied" })),
    });
  }

  mergeAll() {
    for (const seq of this.changesets.keys()) this.merge(seq);
  }

  /** @param {number} seq */
  async answer(seq) {
    const cs = /** @type {any} */ (this.changesets.get(seq));
    const bytes = cs.receipt ?? cs.accepted;
    return { status: cs.receipt ? 200 : 202, signed: { body: bytes, signature: await sign(this.serverKey, bytes), key_id: "k1" } };
  }

  /** @param {number} seq @param {number} wait */
  async receipt(seq, wait) {
    this.receiptRequests.push([seq, wait]);
    if (this.receiptsOffline) throw new Offline("GET receipts: offline");
    if (this.forget || !this.changesets.has(seq)) throw new ProtocolError("unknown_changeset", 404, `no change-set ${seq}`);
    return this.answer(seq);
  }

  async pull() {
    return this.signed({ protocol_version: 1, device_id: "D-1", cursor: "c1", more: false, server_time: 0, changes: [] });
  }
}

/** @type {string} */
let dbName;
/** @type {TabletClient} */
let client;
/** @type {FakeServer} */
let server;

async function open() {
  return TabletClient.open({ baseUrl: "http://127.0.0.1:9", rules: rulesDoc(), dbName, clock: steppingClock() });
}

beforeEach(async () => {
  dbName = freshDbName();
  client = await open();
  const deviceKey = await generateDeviceKey();
  const serverKey = await generateDeviceKey();
  server = new FakeServer(serverKey.privateKey, deviceKey.publicRaw);
  await client.store.write(["meta"], (tx) => tx.objectStore("meta").put({
    key: "device", device_id: "D-1", engineer_id: "e-ana", private_key: deviceKey.privateKey,
    public_key: deviceKey.publicRaw, server_public_key: serverKey.publicRaw, head_seq: 0, head_hash: "",
    hlc_last: 0n, pull_cursor: "",
  }));
  await client.store.write(PAGE_STORES, (tx) => applyPage(tx, [{ kind: "job", id: "J-1", data: JOB }]));
});

async function sync() {
  const loop = new SyncLoop(client.store, /** @type {any} */ (server), await client.device(), steppingClock());
  loop.chainChecked = true;
  return loop.run();
}

async function sealedRecords() {
  return client.store.read(["sealed"], (tx) => tx.objectStore("sealed").getAll());
}

test("202: the ops are safe, never sent again, and the outcome of a later sync is applied as a push answer", async () => {
  await client.writes.setStatus("J-1", "accepted");
  await client.writes.setField("J-1", "notes", "gate code 4711");
  const first = await sync();
  assert.equal(first.offline, false);
  assert.deepEqual(first.errors, []);
  assert.equal(first.pushed_ops, 2);
  assert.equal(first.accepted_ops, 2);
  assert.equal(first.outcomes_pending, 1);
  assert.equal(first.applied, 0);
  assert.deepEqual(server.pushes, [1]);
  // at the start (nothing accepted yet: no request), then after the push with a bounded wait
  assert.deepEqual(server.receiptRequests, [[1, 5]]);
  let state = await client.reads.syncState();
  assert.deepEqual([state.waiting, state.accepted], [0, 2]);
  assert.ok((await client.reads.pending()).every((p) => p.accepted));
  assert.equal((await client.reads.job("J-1"))?.job.status, "accepted", "the local value stays in force meanwhile");

  // the tab is closed and the app opened again: what the server holds is still known, and still not re-sent
  client.close();
  client = await open();
  const second = await sync();
  assert.deepEqual(server.pushes, [1]);
  assert.equal(second.outcomes_pending, 1);

  server.mergeAll();
  await client.writes.setStatus("J-1", "en_route"); // a new change-set chains onto the accepted one
  const third = await sync();
  assert.deepEqual(third.errors, []);
  assert.deepEqual(server.pushes, [1, 2]);
  assert.equal(third.applied, 2, "seq 1's outcome at the start of the sync");
  assert.equal(third.pushed_ops, 1);
  assert.equal(third.outcomes_pending, 1, "seq 2 was accepted, its merge is still to come");
  server.mergeAll();
  const fourth = await sync();
  assert.equal(fourth.applied, 1);
  assert.equal(fourth.outcomes_pending, 0);
  assert.equal(fourth.accepted_ops, 0);
  assert.deepEqual(await sealedRecords(), []);
  state = await client.reads.syncState();
  assert.deepEqual([state.waiting, state.accepted], [0, 0]);
  const results = await client.reads.opResults();
  assert.equal(results.length, 3);
  assert.ok(results.every((r) => r.result === "applied"));
});

test("a merge done within the bounded wait after pushing is applied in the same sync", async () => {
  const receipt = server.receipt.bind(server);
  server.receipt = async (seq, wait) => {
    server.mergeAll(); // the server's batch merged it while the tablet waited
    return receipt(seq, wait);
  };
  await client.writes.setStatus("J-1", "accepted");
  const report = await sync();
  assert.equal(report.applied, 1);
  assert.equal(report.pushed_ops, 1);
  assert.equal(report.outcomes_pending, 0);
  assert.deepEqual(await sealedRecords(), []);
  assert.equal((await client.reads.syncState()).waiting, 0);
});

test("offline after the 202: the run ends offline, nothing is re-sent, the next sync gets the outcome", async () => {
  server.receiptsOffline = true;
  await client.writes.setStatus("J-1", "accepted");
  const cut = await sync();
  assert.equal(cut.offline, true);
  assert.deepEqual(server.pushes, [1]);
  assert.equal((await client.reads.syncState()).accepted, 1);
  server.receiptsOffline = false;
  server.mergeAll();
  const next = await sync();
  assert.equal(next.offline, false);
  assert.equal(next.applied, 1);
  assert.deepEqual(server.pushes, [1]);
  assert.deepEqual(await sealedRecords(), []);
});

test("an old server answers 200 with the receipt: applied as always, no outcome to ask for", async () => {
  server.async = false;
  await client.writes.setStatus("J-1", "accepted");
  const report = await sync();
  assert.equal(report.applied, 1);
  assert.equal(report.pushed_ops, 1);
  assert.equal(report.accepted_ops, 0);
  assert.deepEqual(server.receiptRequests, []);
  assert.deepEqual(await sealedRecords(), []);
});

test("the same bytes answered 200 after their merge (a lost 202) are applied once", async () => {
  await client.writes.setStatus("J-1", "accepted");
  // the first answer is lost on the way back: the sealed change-set is sent again after the merge
  const push = server.push.bind(server);
  server.push = async (envelope) => {
    await push(envelope);
    server.mergeAll();
    throw new Offline("answer lost");
  };
  assert.equal((await sync()).offline, true);
  server.push = push;
  const report = await sync();
  assert.deepEqual(server.pushes, [1, 1]);
  assert.equal(report.applied, 1);
  assert.equal((await client.reads.opResults()).length, 1);
});

test("404 for an accepted change-set (a server restored from a backup): reported and the same bytes sent again", async () => {
  await client.writes.setStatus("J-1", "accepted");
  await sync();
  const [before] = await sealedRecords();
  // the server lost what it had accepted
  server.changesets.clear();
  server.head = { seq: 0, hash: "" };
  const report = await sync();
  assert.ok(report.errors.some((e) => e.startsWith("unknown_changeset:")), report.errors.join());
  assert.deepEqual(server.pushes, [1, 1], "the change-set went again");
  const [after] = await sealedRecords();
  assert.deepEqual(after.envelope, before.envelope, "byte for byte");
  assert.equal(report.outcomes_pending, 1, "accepted again, its merge to come");
  server.mergeAll();
  const next = await sync();
  assert.deepEqual(next.errors, []);
  assert.equal(next.applied, 1);
  assert.deepEqual(await sealedRecords(), []);
});

test("the transport asks for the early answer on pushes only, and passes the status on", async () => {
  /** @type {{url: string, method: string, prefer: string | undefined}[]} */
  const seen = [];
  const signed = encode({ body: new Uint8Array([0x80]), signature: new Uint8Array(64), key_id: "k1" });
  /** @type {typeof fetch} */
  const fake = async (input, init) => {
    const headers = /** @type {Record<string, string>} */ (init?.headers ?? {});
    const url = String(input);
    seen.push({ url, method: init?.method ?? "GET", prefer: headers.Prefer });
    if (url.includes("/receipts/404")) {
      return new Response(JSON.stringify({ code: "unknown_changeset", detail: "no change-set 404" }), { status: 404 });
    }
    return new Response(own(signed), { status: url.includes("/receipts/") ? 200 : 202 });
  };
  const transport = new HttpTransport("http://127.0.0.1:9", fake, { resumable: false });
  transport.token = "t";
  const pushed = await transport.push(new Uint8Array([1, 2, 3]));
  assert.equal(pushed.status, 202);
  assert.equal(seen[0].prefer, "respond-async");
  const outcome = await transport.receipt(3, 99);
  assert.equal(outcome.status, 200);
  assert.ok(seen[1].url.endsWith("/v1/sync/receipts/3?wait=30"), "the wait is capped at the protocol's 30 s");
  assert.equal(seen[1].prefer, undefined);
  await assert.rejects(transport.receipt(404, 0), (err) => err instanceof ProtocolError && err.code === "unknown_changeset");
  const old = new HttpTransport("http://127.0.0.1:9", fake, { resumable: false, respondAsync: false });
  await old.push(new Uint8Array([1]));
  assert.equal(seen.at(-1)?.prefer, undefined);
});
