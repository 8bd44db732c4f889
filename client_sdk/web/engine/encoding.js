// Content codings of sync bodies: gzip with the platform's CompressionStream (browsers, Node 18+), no library.
//
// The server says it takes gzip-coded pushes with an `Accept-Encoding: gzip` header on its session and sync
// answers (RFC 7694); only then does the app send `Content-Encoding: gzip`. Signatures and hashes stay over
// the bytes before coding: the coding only wraps what travels. Answers come back gzip-coded on their own: the
// browser asks with Accept-Encoding and decodes them before the app sees a byte.

/** Bodies smaller than this travel as they are. */
export const MIN_COMPRESS = 1024;

/** Whether this platform can gzip (CompressionStream; absent in old browsers, which then send plain bodies). */
export function canGzip() {
  return typeof CompressionStream === "function" && typeof DecompressionStream === "function";
}

/**
 * Run bytes through a compression or decompression stream.
 * @param {Uint8Array} data @param {CompressionStream | DecompressionStream} stream @returns {Promise<Uint8Array>}
 */
async function through(data, stream) {
  const writer = stream.writable.getWriter();
  const done = writer.write(/** @type {Uint8Array<ArrayBuffer>} */ (data)).then(() => writer.close());
  const chunks = [];
  let size = 0;
  const reader = stream.readable.getReader();
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    chunks.push(value);
    size += value.length;
  }
  await done;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** @param {Uint8Array} data @returns {Promise<Uint8Array>} one gzip member */
export function gzip(data) {
  return through(data, new CompressionStream("gzip"));
}

/** @param {Uint8Array} data @returns {Promise<Uint8Array>} */
export function gunzip(data) {
  return through(data, new DecompressionStream("gzip"));
}

/**
 * Whether a server's `Accept-Encoding` answer header names gzip (RFC 7694).
 * @param {string | null} header @returns {boolean}
 */
export function takesGzip(header) {
  if (!header) return false;
  return header.split(",").some((part) => part.split(";")[0].trim().toLowerCase() === "gzip");
}
