// The HTTP side of the protocol over fetch: enrollment, sessions, push, pull and resumable blob upload.
//
// Sync bodies are msgpack (application/msgpack), blob chunks raw bytes, errors problem documents with a
// stable `code`. Every failure becomes one of:
//
//   TransportError            anything that stopped a request
//    ├── Offline              no answer: no network, refused, cut off
//    └── ProtocolError        the server answered with a problem (code, status, detail)
//         ├── ServerError     5xx
//         └── BadResponse     a 2xx body that is not what the protocol says

import { own } from "./bytes.js";
import {
  SHAPES, decodeChecked, encode, enrollRequest, pullRequest, sessionRequest,
} from "./wire.js";

export const MSGPACK = "application/msgpack";

export class TransportError extends Error {}
export class Offline extends TransportError {}
export class ProtocolError extends TransportError {
  /** @param {string} code @param {number} status @param {string} [detail] */
  constructor(code, status, detail = "") {
    super(detail ? `${status} ${code}: ${detail}` : `${status} ${code}`);
    this.code = code;
    this.status = status;
    this.detail = detail;
  }

  /** True when a fresh session (challenge + signature) may make the request pass. */
  get needsNewSession() {
    return this.status === 401 && (this.code === "session_expired" || this.code === "unauthorized");
  }
}
export class ServerError extends ProtocolError {}
export class BadResponse extends ProtocolError {}

/** @typedef {{sha256: string, size: number, received: number, complete: boolean}} BlobStatus */

/** The device's HTTP client; `token` is the session token sent as `Authorization: Device <token>`. */
export class HttpTransport {
  /** @param {string} baseUrl @param {typeof fetch} [fetchFn] */
  constructor(baseUrl, fetchFn) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.fetch = fetchFn ?? ((input, init) => fetch(input, init));
    /** @type {string | null} */
    this.token = null;
  }

  /** @param {{token: string, public_key: Uint8Array, name?: string, device_clock?: number}} req */
  async enroll(req) {
    const body = await this.send("POST", "/v1/devices/enroll", { body: encode(enrollRequest(req)), auth: false });
    /** @type {import("./wire.js").Enrollment} */
    const out = this.decode(body, SHAPES.enrollment, "enrollment");
    return out;
  }

  /** @param {string} deviceId */
  async challenge(deviceId) {
    const body = await this.send("POST", "/v1/devices/challenge", { body: encode({ device_id: deviceId }), auth: false });
    /** @type {import("./wire.js").Challenge} */
    const out = this.decode(body, SHAPES.challenge, "challenge");
    return out;
  }

  /** @param {{device_id: string, nonce: string, signature: Uint8Array, device_clock?: number}} req */
  async session(req) {
    const body = await this.send("POST", "/v1/devices/session", { body: encode(sessionRequest(req)), auth: false });
    /** @type {import("./wire.js").Session} */
    const out = this.decode(body, SHAPES.session, "session");
    return out;
  }

  /** Send sealed change-set bytes unchanged; the answer is a server-signed receipt. @param {Uint8Array} envelope */
  async push(envelope) {
    /** @type {import("./wire.js").Signed} */
    const out = this.decode(await this.send("POST", "/v1/sync/push", { body: envelope }), SHAPES.signed, "signed receipt");
    return out;
  }

  /** @param {{cursor?: string, limit?: number, device_clock?: number}} req */
  async pull(req) {
    const body = await this.send("POST", "/v1/sync/pull", { body: encode(pullRequest(req)) });
    /** @type {import("./wire.js").Signed} */
    const out = this.decode(body, SHAPES.signed, "signed pull page");
    return out;
  }

  /** Upload state of a blob, or null when the server has never seen it. @param {string} sha256 */
  async blobStatus(sha256) {
    try {
      const body = await this.send("GET", `/v1/blobs/${sha256}/status`, { accept: "application/json" });
      return this.json(body);
    } catch (err) {
      if (err instanceof ProtocolError && err.status === 404) return null;
      throw err;
    }
  }

  /** @param {string} sha256 @param {number} offset @param {number} size @param {Uint8Array} chunk @returns {Promise<BlobStatus>} */
  async blobPut(sha256, offset, size, chunk) {
    const body = await this.send("PUT", `/v1/blobs/${sha256}?offset=${offset}&size=${size}`, {
      body: chunk, contentType: "application/octet-stream", accept: "application/json",
    });
    return this.json(body);
  }

  /**
   * @param {string} method @param {string} path
   * @param {{body?: Uint8Array, auth?: boolean, contentType?: string, accept?: string}} [opts]
   * @returns {Promise<Uint8Array>}
   */
  async send(method, path, opts = {}) {
    const { body, auth = true, contentType = MSGPACK, accept = MSGPACK } = opts;
    /** @type {Record<string, string>} */
    const headers = { Accept: `${accept}, application/problem+json` };
    if (body !== undefined) headers["Content-Type"] = contentType;
    if (auth && this.token) headers.Authorization = `Device ${this.token}`;
    if (typeof navigator !== "undefined" && navigator.onLine === false) throw new Offline(`${method} ${path}: offline`);
    let response;
    try {
      response = await this.fetch(this.baseUrl + path, {
        method, headers, body: body === undefined ? undefined : own(body), cache: "no-store", credentials: "omit",
      });
    } catch (err) {
      throw new Offline(`${method} ${path}: ${String(err)}`);
    }
    let bytes;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (err) {
      throw new Offline(`${method} ${path}: cut off: ${String(err)}`);
    }
    if (response.status >= 400) throw problemError(response.status, bytes, response.statusText);
    return bytes;
  }

  /**
   * @template T @param {Uint8Array} body @param {Record<string, string>} shape @param {string} what @returns {T}
   */
  decode(body, shape, what) {
    try {
      return decodeChecked(body, shape, what);
    } catch (err) {
      throw new BadResponse("bad_response", 200, String(err));
    }
  }

  /** @param {Uint8Array} body @returns {any} */
  json(body) {
    try {
      return JSON.parse(new TextDecoder().decode(body));
    } catch (err) {
      throw new BadResponse("bad_response", 200, `not JSON: ${String(err)}`);
    }
  }
}

/**
 * A problem document as an error (JSON first, anything else after).
 * @param {number} status @param {Uint8Array} body @param {string} statusText
 */
export function problemError(status, body, statusText) {
  /** @type {Record<string, unknown>} */
  let doc = {};
  try {
    const parsed = JSON.parse(new TextDecoder().decode(body));
    if (parsed && typeof parsed === "object") doc = parsed;
  } catch {
    // not JSON: the status alone says what happened
  }
  const code = String(doc.code || `http_${status}`);
  const detail = String(doc.detail || doc.title || statusText || "");
  return status >= 500 ? new ServerError(code, status, detail) : new ProtocolError(code, status, detail);
}
