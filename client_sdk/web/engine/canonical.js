// RFC 8785 JSON canonicalization (JCS): the bytes the service-report digest is taken over.
//
// Object keys sorted by their UTF-16 code units, no whitespace, strings and numbers exactly as ECMAScript's
// JSON.stringify writes them (which is what JCS specifies). Values are plain JSON: null, booleans, finite
// numbers, strings, arrays and objects; anything else is refused rather than written some other way. The
// protocol's one extension: an integer past 2^53 (a BigInt here) is written as its exact decimal.

/** @param {unknown} value @returns {string} */
export function canonicalJson(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("JCS has no NaN or Infinity");
    return JSON.stringify(value);
  }
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const rec = /** @type {Record<string, unknown>} */ (value);
    // the default sort compares UTF-16 code units, as JCS asks
    const keys = Object.keys(rec).filter((k) => rec[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(rec[k])}`).join(",")}}`;
  }
  throw new TypeError(`not a JSON value: ${typeof value}`);
}
