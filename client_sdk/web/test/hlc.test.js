import assert from "node:assert/strict";
import { test } from "node:test";

import { asHlc, pack, physical, receive, tick } from "../engine/hlc.js";

test("HLC values past 2^53 stay exact and keep their wall-clock part", () => {
  const h = pack(1_767_225_600_123, 7);
  assert.ok(h > BigInt(Number.MAX_SAFE_INTEGER));
  assert.equal(physical(h), 1_767_225_600_123);
  assert.equal(h & 0xffffn, 7n);
});

test("tick is strictly increasing, also when the wall clock stands still or goes back", () => {
  let last = 0n;
  for (const now of [1000, 1000, 999, 500, 2000, 2000]) {
    const next = tick(last, now);
    assert.ok(next > last);
    last = next;
  }
});

test("receive orders after both the local and the remote clock", () => {
  const remote = pack(5_000_000);
  const merged = receive(pack(1000), remote, 2000);
  assert.ok(merged > remote);
  assert.equal(asHlc(12), 12n);
  assert.equal(asHlc(remote), remote);
  assert.equal(asHlc(undefined), 0n);
});
