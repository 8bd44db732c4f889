// The HTTP side of the protocol over fetch: enrollment, sessions, push, pull and resumable blob upload.
//
// Pushes travel gzip-coded once the server has said it takes them (`Accept-Encoding: gzip` on its session and
// sync answers); a push body above RESUMABLE_MIN goes up as a resumable upload (/v1/sync/uploads/{sha256}) in
// PUTs of at most UPLOAD_CHUNK whose bytes the server keeps as it reads them, so a cut link costs the bytes in
// flight (at most one PUT) and the next attempt sends only the rest;
// the commit answers with the receipt, the same one on every retry. A server without uploads (404 not_found)
// gets the one-shot push. Answers arrive gzip-coded and are decoded by the browser.
//
// Pushes and commits ask for an early answer (`Prefer: respond-async`, protocol §4.7): 202 with a signed
// Accepted once the server holds the verified bytes, the outcome later from GET /v1/sync/receipts/{seq}.
// A server that does not know the header answers 200 with the receipt, as before.
//
// Sync bodies are msgpack (application/msgpack), blob chunks raw bytes, errors problem documents with a
// stable `code`. Every failure becomes one of:
//
//   TransportError            anything that stopped a request
//    ├── Offline              no answer: no network, refused, cut off
//    └── ProtocolError        the server answered with a problem (code, status, detail)
//         ├── ServerError     5xx
//         └── BadResponse     a 2xx body that is not what the protocol says

import { own, sha256Hex } from "./bytes.js";
import { MIN_COMPRESS, canGzip, gzip, takesGzip } from "./encoding.js";
import {
  SHAPES, decodeChecked, encode, enrollRequest, pullRequest, sessionRequest,
} from "./wire.js";

export const MSGPACK = "application/msgpack";
/** Push bodies (as sent, after gzip) above this go up as a resumable upload. */
export const RESUMABLE_MIN = 64 * 1024;
/**
 * The most one upload PUT carries. The server keeps a PUT's bytes as it reads them, so a cut usually costs only
 * the bytes in flight; what it had received but not yet read is lost with the connection, and this bounds that.
 */
export const UPLOAD_CHUNK = 256 * 1024;
/** Attempts in a row that move an upload no further before the push reports the tablet offline. */
export const MAX_STALLS = 4;

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
/**
 * A server-signed answer and its status: 200 a Receipt, 202 an Accepted (the body says which).
 * @typedef {{status: number, signed: import("./wire.js").Signed}} SignedAnswer
 */
/** The most seconds a receipt request may ask the server to wait (protocol §4.7). */
export const MAX_RECEIPT_WAIT_S = 30;

/** The device's HTTP client; `token` is the session token sent as `Authorization: Device <token>`. */
export class HttpTransport {
  /**
   * @param {string} baseUrl @param {typeof fetch} [fetchFn]
   * @param {{compress?: boolean, resumable?: boolean, uploadChunk?: number, respondAsync?: boolean}} [opts]
   */
  constructor(baseUrl, fetchFn, opts = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.fetch = fetchFn ?? ((input, init) => fetch(input, init));
    /** @type {string | null} */
    this.token = null;
    /** gzip-code pushes when the server takes them and the platform can */
    this.compress = opts.compress ?? true;
    /** send large pushes as resumable uploads while the server has the route */
    this.resumable = opts.resumable ?? true;
    this.uploadChunk = opts.uploadChunk ?? UPLOAD_CHUNK;
    /** ask for a signed Accepted (202) as soon as the server holds a push's bytes */
    this.respondAsync = opts.respondAsync ?? true;
    /** learned from the `Accept-Encoding` header of the server's session and sync answers */
    this.serverTakesGzip = false;
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

  /**
   * Send sealed change-set bytes (gzip-coded when the server takes it); the answer is a server-signed receipt
   * (200) or, when the server takes `Prefer: respond-async`, a server-signed Accepted (202).
   * The bytes the server verifies and hashes are `envelope` exactly: the coding only wraps them.
   * @param {Uint8Array} envelope @returns {Promise<SignedAnswer>}
   */
  async push(envelope) {
    let body = envelope;
    /** @type {"gzip" | undefined} */
    let coding;
    if (this.compress && this.serverTakesGzip && canGzip() && envelope.length >= MIN_COMPRESS) {
      body = await gzip(envelope);
      coding = "gzip";
    }
    if (this.resumable && body.length > RESUMABLE_MIN) {
      const answer = await this.pushResumable(body, coding ?? "identity");
      if (answer) return answer;
    }
    const prefer = this.respondAsync;
    let answer;
    try {
      answer = await this.request("POST", "/v1/sync/push", { body, contentEncoding: coding, prefer });
    } catch (err) {
      if (!(err instanceof ProtocolError) || err.status !== 415 || !coding) throw err;
      this.serverTakesGzip = false; // the server stopped taking gzip: send it plain
      answer = await this.request("POST", "/v1/sync/push", { body: envelope, prefer });
    }
    return this.signedAnswer(answer, "signed receipt");
  }

  /**
   * The outcome of an accepted change-set: 200 its signed Receipt, 202 (still merging after `waitS` seconds) its
   * signed Accepted again; 404 `unknown_changeset` is thrown as a ProtocolError.
   * @param {number} seq @param {number} waitS @returns {Promise<SignedAnswer>}
   */
  async receipt(seq, waitS) {
    const wait = Math.max(0, Math.min(MAX_RECEIPT_WAIT_S, Math.round(waitS)));
    return this.signedAnswer(await this.request("GET", `/v1/sync/receipts/${seq}?wait=${wait}`), "signed receipt");
  }

  /** @param {{status: number, bytes: Uint8Array}} answer @param {string} what @returns {SignedAnswer} */
  signedAnswer(answer, what) {
    if (answer.status !== 200 && answer.status !== 202) {
      throw new BadResponse("bad_response", answer.status, `${what}: unexpected status ${answer.status}`);
    }
    /** @type {import("./wire.js").Signed} */
    const signed = this.decode(answer.bytes, SHAPES.signed, what);
    return { status: answer.status, signed };
  }

  /**
   * Upload `body` in chunks from where the server stands, then commit; null when the server has no uploads.
   * @param {Uint8Array} body @param {string} coding @returns {Promise<SignedAnswer | null>}
   */
  async pushResumable(body, coding) {
    const path = `/v1/sync/uploads/${await sha256Hex(body)}`;
    const size = body.length;
    let stalls = 0;
    /** @type {BlobStatus | null} */
    let status = null;
    let known = false;
    for (;;) {
      try {
        if (!known) {
          status = await this.uploadStatus(path);
          known = true;
        }
        let offset = status === null || status.size !== size ? 0 : status.received;
        let complete = status !== null && status.complete;
        while (!complete && offset < size) {
          const chunk = body.subarray(offset, offset + this.uploadChunk);
          /** @type {BlobStatus} */
          const put = this.json(await this.send("PUT", `${path}?offset=${offset}&size=${size}&encoding=${coding}`, {
            body: chunk, contentType: "application/octet-stream", accept: "application/json",
          }));
          status = put;
          offset = put.received;
          complete = put.complete;
          stalls = 0;
        }
        const commit = await this.request("POST", `${path}/commit`, { prefer: this.respondAsync });
        return this.signedAnswer(commit, "signed receipt");
      } catch (err) {
        if (err instanceof ProtocolError && err.status === 404 && err.code === "not_found") {
          this.resumable = false; // a server from before resumable uploads: the one-shot push
          return null;
        }
        const resumable = err instanceof Offline || (err instanceof ProtocolError
          && ["offset_mismatch", "upload_incomplete", "unknown_upload"].includes(err.code));
        if (!resumable) throw err;
        stalls += 1; // cut off, or the server holds another offset: ask it how far it got and go on from there
        if (stalls >= MAX_STALLS) throw err;
        known = false;
      }
    }
  }

  /** @param {string} path @returns {Promise<BlobStatus | null>} */
  async uploadStatus(path) {
    try {
      return this.json(await this.send("GET", path, { accept: "application/json" }));
    } catch (err) {
      if (err instanceof ProtocolError && err.status === 404 && err.code === "unknown_upload") return null;
      throw err;
    }
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
   * @param {{body?: Uint8Array, auth?: boolean, contentType?: string, accept?: string, contentEncoding?: string}} [opts]
   * @returns {Promise<Uint8Array>}
   */
  async send(method, path, opts = {}) {
    return (await this.request(method, path, opts)).bytes;
  }

  /**
   * One request; a 2xx answer's status and body, anything else thrown as one of the errors above.
   * @param {string} method @param {string} path
   * @param {{body?: Uint8Array, auth?: boolean, contentType?: string, accept?: string, contentEncoding?: string,
   *   prefer?: boolean}} [opts]  `prefer`: ask for an early answer (`Prefer: respond-async`)
   * @returns {Promise<{status: number, bytes: Uint8Array}>}
   */
  async request(method, path, opts = {}) {
    const { body, auth = true, contentType = MSGPACK, accept = MSGPACK, contentEncoding, prefer = false } = opts;
    /** @type {Record<string, string>} */
    const headers = { Accept: `${accept}, application/problem+json` };
    if (prefer) headers.Prefer = "respond-async";
    if (body !== undefined) headers["Content-Type"] = contentType;
    if (body !== undefined && contentEncoding) headers["Content-Encoding"] = contentEncoding;
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
    const codings = response.headers ? response.headers.get("accept-encoding") : null;
    if (codings !== null || path === "/v1/devices/session") this.serverTakesGzip = takesGzip(codings);
    return { status: response.status, bytes };
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
