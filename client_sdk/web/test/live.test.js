// The engine against a real `fieldsync serve` (run by tests/integration/test_tablet_engine_live.py, which
// gives the server's URL and a one-time enrollment token; skipped otherwise): enroll, pull, a whole job
// offline, sync, and a tampered, a forged and an out-of-chain change-set refused by the server. The pushes
// ask for accepted receipts (202, protocol §4.7) and their outcomes come from /v1/sync/receipts/{seq}.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";

import { concat } from "../engine/bytes.js";
import { seal } from "../engine/changeset.js";
import { TabletClient } from "../engine/client.js";
import { generateDeviceKey } from "../engine/keys.js";
import { SyncLoop } from "../engine/syncer.js";
import { ProtocolError } from "../engine/transport.js";
import * as wire from "../engine/wire.js";
import { freshDbName, rulesDoc } from "./support.js";

const URL = process.env.FIELDSYNC_LIVE_URL;
const TOKEN = process.env.FIELDSYNC_LIVE_TOKEN ?? "";
const OUT = process.env.FIELDSYNC_LIVE_OUT;
const skip = URL ? false : "needs a live server (tests/integration/test_tablet_engine_live.py)";

// a small real PNG (1x1), as a camera would give bytes
const PNG = Uint8Array.from(Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64"));

/** @param {() => Promise<unknown>} send @returns {Promise<{status: number, code: string}>} */
async function refusal(send) {
  try {
    await send();
  } catch (err) {
    if (err instanceof ProtocolError) return { status: err.status, code: err.code };
    throw err;
  }
  throw new Error("the server accepted it");
}

test("a whole job through the engine against a real server, and bad change-sets refused", { skip }, async () => {
  /** @type {{method: string, path: string, status: number, prefer: string | null, applied: string | null}[]} */
  const sent = [];
  /** @type {typeof fetch} */
  const recording = async (input, init) => {
    const response = await fetch(input, init);
    const headers = /** @type {Record<string, string>} */ (init?.headers ?? {});
    sent.push({ method: init?.method ?? "GET", path: new globalThis.URL(String(input)).pathname, status: response.status,
      prefer: headers.Prefer ?? null, applied: response.headers.get("preference-applied") });
    return response;
  };
  const client = await TabletClient.open({ baseUrl: /** @type {string} */ (URL), rules: rulesDoc(), dbName: freshDbName(),
    fetch: recording });
  const deviceId = await client.enroll(TOKEN, "node engine");
  const first = await client.sync();
  assert.equal(first.offline, false);
  assert.deepEqual(first.errors, []);
  const jobs = await client.reads.jobs();
  const job = jobs.find((j) => j.ticket.customer === "Hotel Aurora" && j.ticket.priority === "P1");
  assert.ok(job, "the engineer's P1 job came with the first pull");
  const detail = await client.reads.job(job.id);
  assert.equal(detail?.template?.id, "boiler-service");

  for (const status of ["accepted", "en_route", "on_site", "in_progress"]) await client.writes.setStatus(job.id, status);
  const photo = await client.writes.attach(job.id, PNG, "photo", "image/png");
  /** @type {Record<string, wire.Scalar>} */
  const answers = { gas_tight: true, flue_co2: 9.25, pressure_bar: 1, condition: "fair", photo_plate: photo, remarks: "风机异响 fixed" };
  for (const [key, value] of Object.entries(answers)) await client.writes.answer(job.id, key, value);
  await client.writes.setField(job.id, "diagnosis", "Ignition electrode worn");
  await client.writes.usePart(job.id, "P-IGN", 1, null, "IGN-OLD-1");
  await client.writes.usePart(job.id, "P-PCB", 1, "PCB-e-ana-0", "PCB-OLD-9");
  await client.writes.setStatus(job.id, "completed");
  const signed = await client.signOff(job.id, "Maria Customer", [[[10, 10, 0], [40, 60, 20], [80, 20, 45]], [[90, 30, 300], [120, 35, 320]]]);

  const report = await client.sync();
  assert.deepEqual(report.errors, []);
  assert.equal(report.rejected, 0);
  assert.equal(report.needs_review, 0);
  assert.equal(report.uploaded_blobs, 1);
  assert.equal((await client.reads.pending()).length, 0);
  assert.equal(report.outcomes_pending, 0, "every outcome came within the sync's bounded wait");
  // the server accepted the change-set early (202, signed Accepted) and its receipt came from the receipts route
  const pushes = sent.filter((r) => r.method === "POST" && (r.path === "/v1/sync/push" || r.path.endsWith("/commit")));
  assert.ok(pushes.length > 0 && pushes.every((r) => r.prefer === "respond-async"), JSON.stringify(sent));
  assert.ok(pushes.some((r) => r.status === 202 && r.applied === "respond-async"), JSON.stringify(pushes));
  assert.ok(sent.some((r) => r.path.startsWith("/v1/sync/receipts/") && r.status === 200), JSON.stringify(sent));
  const after = await client.reads.job(job.id);
  assert.equal(after?.job.status, "signed_off");
  assert.equal(after?.job.changed_after_signoff, false, "the server's digest of its own copy matches the signed one");

  // the change-sets the server must refuse, made with the engine's own sealing code
  const device = await client.device();
  const loop = new SyncLoop(client.store, client.transport, device, () => Date.now());
  await loop.openSession();
  const op = wire.setField({ op_id: "f".repeat(32), hlc: 1n << 60n, job_id: job.id, at: Date.now(), field: "notes", value: "x" });
  const head = { seq: device.head_seq, hash: device.head_hash };
  const good = await seal(device.private_key, deviceId, head, [op], Date.now());
  const tamperedBody = Uint8Array.from(good.body);
  tamperedBody[tamperedBody.length - 2] ^= 0x01; // "x" becomes "y" after signing
  const signature = /** @type {{signature: Uint8Array}} */ (wire.decode(good.envelope)).signature;
  const tampered = wire.encode(wire.signedChangeSet(tamperedBody, signature));
  const stranger = await generateDeviceKey();
  const forged = (await seal(stranger.privateKey, deviceId, head, [op], Date.now())).envelope;
  const gap = (await seal(device.private_key, deviceId, { seq: head.seq + 5, hash: head.hash }, [op], Date.now())).envelope;
  const fork = (await seal(device.private_key, deviceId, { seq: head.seq, hash: "0".repeat(64) }, [op], Date.now())).envelope;
  const garbage = concat(new Uint8Array([0x82]), good.envelope.subarray(1, 20));
  const refusals = {
    tampered: await refusal(() => client.transport.push(tampered)),
    forged: await refusal(() => client.transport.push(forged)),
    gap: await refusal(() => client.transport.push(gap)),
    fork: await refusal(() => client.transport.push(fork)),
    garbage: await refusal(() => client.transport.push(garbage)),
  };
  assert.deepEqual(refusals.tampered, { status: 400, code: "bad_signature" });
  assert.deepEqual(refusals.forged, { status: 400, code: "bad_signature" });
  assert.equal(refusals.gap.code, "chain_gap");
  assert.equal(refusals.fork.code, "chain_fork");

  if (OUT) {
    writeFileSync(OUT, JSON.stringify({
      device_id: deviceId, job_id: job.id, ticket_id: job.ticket_id, answers, photo, report_digest: signed.report_digest,
      refusals, head_seq: (await client.device()).head_seq,
    }));
  }
  client.close();
});
