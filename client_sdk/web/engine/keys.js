// Ed25519 with WebCrypto: the device key is made on the tablet and its private half is never extractable.
//
// The CryptoKey objects themselves are stored in IndexedDB (structured clone keeps them non-extractable),
// so no script, not even this app's, can read the private key's bytes.

import { concat, equalBytes, own, utf8 } from "./bytes.js";

const ED25519 = { name: "Ed25519" };
// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410): for fixed test keys and vectors only
const PKCS8_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/** @typedef {{privateKey: CryptoKey, publicKey: CryptoKey, publicRaw: Uint8Array}} DeviceKey */

/** True when this browser's WebCrypto has Ed25519. */
export async function ed25519Supported() {
  try {
    await crypto.subtle.generateKey(ED25519, false, ["sign", "verify"]);
    return true;
  } catch {
    return false;
  }
}

/** A fresh device key with a non-extractable private half. @returns {Promise<DeviceKey>} */
export async function generateDeviceKey() {
  const pair = /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey(ED25519, false, ["sign", "verify"]));
  const publicRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, publicRaw };
}

/**
 * A key from a raw 32-byte seed (test vectors; a real tablet never does this).
 * @param {Uint8Array} seed @returns {Promise<DeviceKey>}
 */
export async function keyFromSeed(seed) {
  if (seed.length !== 32) throw new TypeError("an Ed25519 seed is 32 bytes");
  const privateKey = await crypto.subtle.importKey("pkcs8", own(concat(PKCS8_PREFIX, seed)), ED25519, false, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", await crypto.subtle.importKey(
    "pkcs8", own(concat(PKCS8_PREFIX, seed)), ED25519, true, ["sign"]));
  const publicRaw = base64UrlDecode(jwk.x ?? "");
  const publicKey = await crypto.subtle.importKey("raw", own(publicRaw), ED25519, true, ["verify"]);
  return { privateKey, publicKey, publicRaw };
}

/** @param {CryptoKey} privateKey @param {Uint8Array} message @returns {Promise<Uint8Array>} */
export async function sign(privateKey, message) {
  return new Uint8Array(await crypto.subtle.sign(ED25519, privateKey, own(message)));
}

/**
 * True when `signature` is a valid Ed25519 signature of `message` by the raw public key.
 * @param {Uint8Array} publicRaw @param {Uint8Array} signature @param {Uint8Array} message
 */
export async function verify(publicRaw, signature, message) {
  if (publicRaw.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", own(publicRaw), ED25519, false, ["verify"]);
    return await crypto.subtle.verify(ED25519, key, own(signature), own(message));
  } catch {
    return false;
  }
}

/**
 * The bytes the server's previous signing key signs to endorse the next one (protocol §3.4).
 * @param {Uint8Array} previousKey @param {Uint8Array} newKey @returns {Uint8Array}
 */
export function keyRotationMessage(previousKey, newKey) {
  return concat(utf8("fieldsync-server-key:v1:"), previousKey, utf8(":"), newKey);
}

/**
 * `trusted` and each later key of the server's chain (oldest first) endorsed by the key before it; the walk
 * stops at the first key whose endorsement does not verify. A chain without `trusted` gives `[trusted]`.
 * @param {Uint8Array} trusted
 * @param {{public_key: Uint8Array, endorsement?: Uint8Array | null}[]} chain
 * @returns {Promise<Uint8Array[]>}
 */
export async function endorsedKeys(trusted, chain) {
  const start = chain.findIndex((k) => equalBytes(k.public_key, trusted));
  const out = [trusted];
  if (start < 0) return out;
  for (const link of chain.slice(start + 1)) {
    const previous = out[out.length - 1];
    if (!(link.endorsement instanceof Uint8Array) || !(link.public_key instanceof Uint8Array)) break;
    if (!(await verify(previous, link.endorsement, keyRotationMessage(previous, link.public_key)))) break;
    out.push(link.public_key);
  }
  return out;
}

/** @param {string} text @returns {Uint8Array} */
function base64UrlDecode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
