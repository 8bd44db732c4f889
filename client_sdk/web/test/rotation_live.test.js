// Server key rotation against a real `fieldsync serve` (run by tests/integration/test_key_rotation_live.py,
// which gives the URL, a one-time enrollment token and a folder for hand-over files; skipped otherwise).
// The engine enrolls under the first key; the Python side rotates the key and this run syncs on, trusting the
// new key by its endorsement; then the Python side slips in a key nobody endorsed and the sync is refused.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { TabletClient } from "../engine/client.js";
import { freshDbName, rulesDoc } from "./support.js";

const URL = process.env.FIELDSYNC_LIVE_URL;
const TOKEN = process.env.FIELDSYNC_LIVE_TOKEN ?? "";
const DIR = process.env.FIELDSYNC_LIVE_HANDOVER ?? "";
const skip = URL && DIR ? false : "needs a live server (tests/integration/test_key_rotation_live.py)";

/** Say `name` to the Python side, then wait for its `answer`. @param {string} name @param {string} answer */
async function handOver(name, answer) {
  writeFileSync(join(DIR, name), "");
  for (let i = 0; i < 1200 && !existsSync(join(DIR, answer)); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(join(DIR, answer)), `no ${answer} from the Python side`);
}

test("a rotated server key is trusted by its endorsement, an unendorsed one refused", { skip }, async () => {
  const client = await TabletClient.open({ baseUrl: /** @type {string} */ (URL), rules: rulesDoc(), dbName: freshDbName() });
  await client.enroll(TOKEN, "node rotation");
  const first = await client.sync();
  assert.deepEqual(first.errors, []);
  const [job] = await client.reads.jobs();
  assert.ok(job);

  await handOver("enrolled", "rotated");
  await client.writes.setStatus(job.id, "accepted");
  const after = await client.sync();
  assert.deepEqual(after.errors, []);
  assert.equal(after.pushed_ops, 1);

  await handOver("synced", "forged");
  await client.writes.setStatus(job.id, "en_route");
  const refused = await client.sync();
  assert.ok(refused.errors.some((e) => e.startsWith("bad_server_signature")), JSON.stringify(refused.errors));
});
