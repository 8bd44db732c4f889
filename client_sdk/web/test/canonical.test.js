// RFC 8785 (JCS) canonical JSON: what the report digest is taken over.
import assert from "node:assert/strict";
import { test } from "node:test";

import { canonicalJson } from "../engine/canonical.js";

test("keys sort by UTF-16 code units, nested, with no whitespace", () => {
  const value = { "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis" };
  // RFC 8785 section 3.2.3's sorting example, in its order
  const text = canonicalJson(value);
  const keys = [...text.matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((m) => JSON.parse(`"${m[1]}"`));
  assert.deepEqual(keys, ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"]);
  assert.equal(canonicalJson({ b: [1, { d: 1, c: 2 }], a: null }), '{"a":null,"b":[1,{"c":2,"d":1}]}');
});

test("numbers and strings are written as ECMAScript writes them", () => {
  // RFC 8785 section 3.2.2.3 examples
  assert.equal(canonicalJson([333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001]),
    "[333333333.3333333,1e+30,4.5,0.002,1e-27]");
  assert.equal(canonicalJson("\u20ac$\u000f\nA'B\"\\\\\"/"), '"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"');
  assert.equal(canonicalJson(9), "9");
  assert.equal(canonicalJson(-0), "0");
});

test("values JSON cannot hold are refused", () => {
  for (const bad of [NaN, Infinity, undefined, () => 1, new Date(0)]) {
    assert.throws(() => canonicalJson(bad));
  }
});

test("an integer past 2^53 is written as its exact decimal (the protocol's one extension)", () => {
  assert.equal(canonicalJson({ n: 2n ** 63n - 1n }), '{"n":9223372036854775807}');
});
