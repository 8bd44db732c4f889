// Hybrid logical clocks as BigInt: `physical_ms << 16 | counter`.
//
// Today's milliseconds shifted by 16 bits are about 1.1e17, past Number's 2^53, so HLC values are BigInt
// everywhere in the app (in memory, in IndexedDB and on the wire as msgpack uint64).

export const COUNTER_BITS = 16n;
export const COUNTER_MASK = (1n << COUNTER_BITS) - 1n;

/** @param {number} physicalMs @param {number} [counter] @returns {bigint} */
export function pack(physicalMs, counter = 0) {
  return (BigInt(Math.trunc(physicalMs)) << COUNTER_BITS) | (BigInt(counter) & COUNTER_MASK);
}

/** The wall-clock milliseconds of an HLC value. @param {bigint} hlc @returns {number} */
export function physical(hlc) {
  return Number(hlc >> COUNTER_BITS);
}

/** Next local timestamp after `last` given the wall clock `nowMs`. @param {bigint} last @param {number} nowMs */
export function tick(last, nowMs) {
  const candidate = pack(nowMs);
  return candidate > last ? candidate : last + 1n;
}

/** Merge a timestamp seen from elsewhere; the result is after both. @param {bigint} last @param {bigint} remote @param {number} nowMs */
export function receive(last, remote, nowMs) {
  return tick(last > remote ? last : remote, nowMs);
}

/**
 * An HLC as it arrives in a decoded record (number when small, BigInt when past 2^53, absent as 0).
 * @param {unknown} value @returns {bigint}
 */
export function asHlc(value) {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  return 0n;
}
