// Change-set sealing: encode once, sign those bytes, chain them by hash.
//
// The signed bytes travel unchanged inside the envelope and the server verifies them before decoding; the
// next change-set's prev_hash is the SHA-256 of these bytes, so a device's log is a hash chain.

import { sha256Hex } from "./bytes.js";
import { sign, verify } from "./keys.js";
import { SHAPES, changeSet, decodeChecked, encode, signedChangeSet } from "./wire.js";

/** @typedef {{seq: number, hash: string}} ChainHead  the last change-set sealed (seq 0 and '' when none) */
/** @typedef {import("./wire.js").Op} Op */

/**
 * Encode, chain and sign the next change-set.
 * @param {CryptoKey} privateKey
 * @param {string} deviceId
 * @param {ChainHead} head
 * @param {Op[]} ops
 * @param {number} deviceClock
 * @returns {Promise<{envelope: Uint8Array, body: Uint8Array, head: ChainHead}>}
 */
export async function seal(privateKey, deviceId, head, ops, deviceClock) {
  const cs = changeSet({ device_id: deviceId, seq: head.seq + 1, prev_hash: head.hash, device_clock: deviceClock, ops });
  const body = encode(cs);
  const signature = await sign(privateKey, body);
  const envelope = encode(signedChangeSet(body, signature));
  return { envelope, body, head: { seq: cs.seq, hash: await sha256Hex(body) } };
}

/**
 * Open an envelope and check its signature over the raw bytes before decoding them, as the server does.
 * @param {Uint8Array} envelope @param {Uint8Array} publicRaw
 * @returns {Promise<import("./wire.js").ChangeSet>}
 */
export async function openSealed(envelope, publicRaw) {
  /** @type {{changeset: Uint8Array, signature: Uint8Array}} */
  const signed = decodeChecked(envelope, SHAPES.signedChangeSet, "signed change-set");
  if (!(await verify(publicRaw, signed.signature, signed.changeset))) throw new Error("bad_signature");
  return decodeChecked(signed.changeset, SHAPES.changeSet, "change-set");
}
