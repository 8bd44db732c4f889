// The codec part of compression and the transport's negotiation and resumable push, against a fake server.
import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { test } from "node:test";

import { sha256Hex } from "../engine/bytes.js";
import { canGzip, gunzip, gzip, takesGzip } from "../engine/encoding.js";
import { HttpTransport, Offline } from "../engine/transport.js";
import { encode } from "../engine/wire.js";

/** The chunk size of these tests (the app sends the rest in one PUT; the protocol takes chunks of any size). */
const UPLOAD_CHUNK = 64 * 1024;

/** Bytes that compress like a change-set (repeated structure), `n` long. @param {number} n */
function envelopeLike(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7) % 61 < 40 ? i % 13 : (i * 2654435761) >>> 24;
  return out;
}

/** Bytes that do not compress, `n` long. @param {number} n */
function noise(n) {
  const out = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

test("gzip from CompressionStream is what zlib reads, and back", async () => {
  assert.ok(canGzip());
  const data = envelopeLike(50_000);
  const coded = await gzip(data);
  assert.ok(coded.length < data.length / 2);
  assert.deepEqual(new Uint8Array(gunzipSync(coded)), data);
  assert.deepEqual(await gunzip(new Uint8Array(gzipSync(data))), data);
  assert.deepEqual(await gunzip(await gzip(new Uint8Array(0))), new Uint8Array(0));
});

test("the server's Accept-Encoding answer header is read as RFC 7694 says", () => {
  assert.equal(takesGzip("gzip"), true);
  assert.equal(takesGzip("identity, GZIP;q=1"), true);
  assert.equal(takesGzip("br"), false);
  assert.equal(takesGzip(null), false);
  assert.equal(takesGzip(""), false);
});

const SIGNED = encode({ body: new Uint8Array([1, 2, 3]), signature: new Uint8Array(64), key_id: "k" });

/**
 * A fake sync server over fetch: session (with or without the gzip header), one-shot push, and uploads that
 * keep what arrived; `cutPut` makes the n-th PUT fail as a dropped link after storing nothing.
 * @param {{takesGzip?: boolean, uploads?: boolean, refuseGzip?: boolean, cutPuts?: number[]}} opts
 */
function fakeServer(opts) {
  /** @type {{method: string, path: string, headers: Record<string, string>, body: Uint8Array}[]} */
  const seen = [];
  /** @type {Map<string, {size: number, data: Uint8Array[], received: number, committed: number}>} */
  const uploads = new Map();
  let puts = 0;
  /** @type {Record<string, string>} */
  const extra = opts.takesGzip ? { "accept-encoding": "gzip" } : {};
  /** @type {typeof fetch} */
  const fetchFn = async (input, init) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    const headers = /** @type {Record<string, string>} */ (init?.headers ?? {});
    const body = init?.body ? new Uint8Array(/** @type {ArrayBuffer} */ (init.body)) : new Uint8Array(0);
    seen.push({ method, path: url.pathname, headers, body });
    const problem = (/** @type {number} */ status, /** @type {string} */ code, extraDoc = {}) =>
      new Response(JSON.stringify({ code, status, ...extraDoc }), { status, headers: { "content-type": "application/problem+json" } });
    if (url.pathname === "/v1/devices/session") return new Response(new Uint8Array(0), { headers: extra });
    /** @param {Uint8Array} bytes */
    const bodyOf = (bytes) => /** @type {BodyInit} */ (/** @type {unknown} */ (bytes));
    if (url.pathname === "/v1/sync/push") {
      if (opts.refuseGzip) {  // a server behind a proxy that lost the coding: no gzip, and it no longer says so
        if (headers["Content-Encoding"]) return problem(415, "unsupported_encoding");
        return new Response(bodyOf(SIGNED));
      }
      return new Response(bodyOf(SIGNED), { headers: extra });
    }
    if (!url.pathname.startsWith("/v1/sync/uploads/") || !opts.uploads) return problem(404, "not_found");
    const sha = url.pathname.split("/")[4];
    const up = uploads.get(sha);
    if (method === "GET") {
      if (!up) return problem(404, "unknown_upload");
      return Response.json({ sha256: sha, size: up.size, received: up.received, complete: up.committed > 0 });
    }
    if (method === "PUT") {
      puts += 1;
      if (opts.cutPuts?.includes(puts)) throw new TypeError("network error: connection reset");
      const offset = Number(url.searchParams.get("offset"));
      const size = Number(url.searchParams.get("size"));
      const entry = up ?? { size, data: [], received: 0, committed: 0 };
      uploads.set(sha, entry);
      if (offset !== entry.received) return problem(409, "offset_mismatch", { received: entry.received });
      entry.data.push(body);
      entry.received += body.length;
      return Response.json({ sha256: sha, size, received: entry.received, complete: false });
    }
    if (!up) return problem(404, "unknown_upload");
    const all = new Uint8Array(up.received);
    let at = 0;
    for (const c of up.data) {
      all.set(c, at);
      at += c.length;
    }
    assert.equal(await sha256Hex(all), sha);
    up.committed += 1;
    return new Response(bodyOf(SIGNED), { headers: extra });
  };
  return { fetchFn, seen, uploads };
}

/** @param {ReturnType<typeof fakeServer>} server */
async function transportOf(server) {
  const t = new HttpTransport("http://server.test", server.fetchFn, { uploadChunk: UPLOAD_CHUNK });
  await t.send("POST", "/v1/devices/session", { body: new Uint8Array([0x80]), auth: false });
  return t;
}

test("an old server that never says gzip gets the push as it was sealed", async () => {
  const server = fakeServer({});
  const t = await transportOf(server);
  const envelope = envelopeLike(20_000);
  await t.push(envelope);
  const push = server.seen.at(-1);
  assert.equal(push?.path, "/v1/sync/push");
  assert.equal(push?.headers["Content-Encoding"], undefined);
  assert.deepEqual(push?.body, envelope);
});

test("a server that takes gzip gets the push gzip-coded, and the same bytes inside", async () => {
  const server = fakeServer({ takesGzip: true });
  const t = await transportOf(server);
  const envelope = envelopeLike(20_000);
  await t.push(envelope);
  const push = server.seen.at(-1);
  assert.equal(push?.headers["Content-Encoding"], "gzip");
  assert.ok((push?.body.length ?? 0) < envelope.length / 2);
  assert.deepEqual(new Uint8Array(gunzipSync(/** @type {Uint8Array} */ (push?.body))), envelope);
  // a small change-set is not worth it
  await t.push(envelopeLike(200));
  assert.equal(server.seen.at(-1)?.headers["Content-Encoding"], undefined);
});

test("a 415 for gzip sends the same change-set plain and stops compressing", async () => {
  const server = fakeServer({ takesGzip: true, refuseGzip: true });
  const t = await transportOf(server);
  const envelope = envelopeLike(20_000);
  await t.push(envelope);
  assert.deepEqual(server.seen.slice(-2).map((r) => r.headers["Content-Encoding"]), ["gzip", undefined]);
  assert.deepEqual(server.seen.at(-1)?.body, envelope);
  assert.equal(t.serverTakesGzip, false);
});

test("a large push goes up in chunks, resumes after a cut from the server's offset and commits once", async () => {
  const server = fakeServer({ takesGzip: true, uploads: true, cutPuts: [2] });
  const t = await transportOf(server);
  const envelope = noise(5 * UPLOAD_CHUNK + 123);
  await t.push(envelope);
  const puts = server.seen.filter((r) => r.method === "PUT");
  const sent = puts.reduce((n, r) => n + r.body.length, 0);
  const [up] = [...server.uploads.values()];
  assert.equal(up.committed, 1);
  assert.ok(sent <= up.size + UPLOAD_CHUNK, `${sent} bytes sent for ${up.size}`); // only the chunk in flight again
  assert.ok(server.seen.some((r) => r.method === "GET" && r.path.startsWith("/v1/sync/uploads/")));
  assert.equal(server.seen.filter((r) => r.path === "/v1/sync/push").length, 0);
});

test("an upload that keeps being cut reports the tablet offline, and the next sync goes on from there", async () => {
  const server = fakeServer({ takesGzip: true, uploads: true, cutPuts: [2, 3, 4, 5] });
  const t = await transportOf(server);
  const envelope = noise(4 * UPLOAD_CHUNK);
  await assert.rejects(t.push(envelope), Offline);
  const [up] = [...server.uploads.values()];
  assert.equal(up.received, UPLOAD_CHUNK);
  const before = server.seen.length;
  await t.push(envelope);
  const again = server.seen.slice(before).filter((r) => r.method === "PUT").reduce((n, r) => n + r.body.length, 0);
  assert.equal(again, up.size - UPLOAD_CHUNK);
  assert.equal(up.committed, 1);
});

test("a server without uploads gets the one-shot push", async () => {
  const server = fakeServer({ takesGzip: true });
  const t = await transportOf(server);
  await t.push(noise(3 * UPLOAD_CHUNK));
  assert.equal(server.seen.at(-1)?.path, "/v1/sync/push");
  assert.equal(t.resumable, false);
});
