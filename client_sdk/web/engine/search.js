// Knowledge-base search tokens, the rule of sync/core/search.py (protocol §6.3), so the tablet finds offline
// the cases the server's GET /v1/kb?q= finds: text NFKC-normalised and lower-cased; a run of CJK characters
// (Han, kana, Hangul) indexed as every character and every overlapping pair (a query's run of one character
// asks for itself, a longer one for its pairs: 异响 finds 风机异响); other words (letters and digits) as
// their Snowball English (porter2) stem. schemas/vectors/search_tokens.json holds the Python rule's output
// and test/search.test.js holds this file to it.

import { stem } from "../vendor/porter2/index.js";

/** CJK scripts written without spaces between words (the ranges of `CJK` in sync/core/search.py). */
export const CJK = "\\u3005\\u3007\\u1100-\\u11ff\\u3040-\\u30ff\\u3130-\\u318f\\u31f0-\\u31ff\\u3400-\\u4dbf"
  + "\\u4e00-\\u9fff\\ua960-\\ua97f\\uac00-\\ud7af\\ud7b0-\\ud7ff\\uf900-\\ufaff\\u{20000}-\\u{3134f}";
/** A word of letters and digits, then its CJK and other runs. */
const WORD = /[\p{L}\p{N}]+/gu;
const RUN = new RegExp(`([${CJK}]+)|[^${CJK}]+`, "gu");
/** A query asks for at most this many tokens. */
export const MAX_QUERY_TOKENS = 32;
/** A longer word is left out of index and query alike (in code points). */
export const MAX_WORD = 200;

/**
 * [is CJK, run as code points] of `text`, normalised and lower-cased, in order.
 * @param {string} text @returns {[boolean, string[]][]}
 */
function runs(text) {
  const folded = (text ?? "").normalize("NFKC").toLowerCase();
  /** @type {[boolean, string[]][]} */
  const out = [];
  for (const word of folded.match(WORD) ?? []) {
    for (const m of word.matchAll(RUN)) {
      const chars = Array.from(m[0]);
      if (chars.length <= MAX_WORD) out.push([m[1] !== undefined, chars]);
    }
  }
  return out;
}

/** The tokens an index holds for `text`, in text order (repeats kept). @param {string} text @returns {string[]} */
export function indexTokens(text) {
  /** @type {string[]} */
  const tokens = [];
  for (const [cjk, chars] of runs(text)) {
    if (!cjk) {
      tokens.push(stem(chars.join("")));
      continue;
    }
    chars.forEach((c, i) => {
      tokens.push(c);
      if (i + 1 < chars.length) tokens.push(c + chars[i + 1]);
    });
  }
  return tokens;
}

/** The tokens a query asks for, each once, in query order. @param {string} text @returns {string[]} */
export function queryTokens(text) {
  /** @type {string[]} */
  const tokens = [];
  for (const [cjk, chars] of runs(text)) {
    if (!cjk) tokens.push(stem(chars.join("")));
    else if (chars.length === 1) tokens.push(chars[0]);
    else for (let i = 0; i + 1 < chars.length; i++) tokens.push(chars[i] + chars[i + 1]);
  }
  return [...new Set(tokens)].slice(0, MAX_QUERY_TOKENS);
}

/**
 * @typedef {{id: string, model: string, equipment_type: string, symptom: string, cause: string, fix: string,
 *   parts: string[], ticket_id: string | null, created_at: number}} KbCase
 */

/** What a case is found by: symptom, cause, fix, each part, model, equipment type. @param {KbCase} c */
export function kbIndexTokens(c) {
  return [c.symptom, c.cause, c.fix, ...c.parts, c.model, c.equipment_type].flatMap((t) => indexTokens(t ?? ""));
}

/**
 * The cases holding every token of `query`, best first by BM25 (SQLite FTS5's `bm25`: k1 = 1.2, b = 0.75,
 * statistics over every case held), newest first among equals; an empty query lists the newest. `model`
 * filters exactly, in any case.
 * @param {KbCase[]} cases @param {string} query @param {{model?: string | null, limit?: number}} [opts]
 * @returns {KbCase[]}
 */
export function searchCases(cases, query, opts = {}) {
  const limit = Math.max(1, Math.min(opts.limit ?? 20, 200));
  const model = opts.model ? opts.model.toLowerCase() : null;
  const newest = (/** @type {KbCase} */ a, /** @type {KbCase} */ b) => (b.created_at ?? 0) - (a.created_at ?? 0);
  const inModel = (/** @type {KbCase} */ c) => model === null || (c.model ?? "").toLowerCase() === model;
  const asked = queryTokens(query);
  if (asked.length === 0) return cases.filter(inModel).sort(newest).slice(0, limit);
  const docs = cases.map((c) => ({ c, tokens: kbIndexTokens(c) }));
  const avg = docs.reduce((n, d) => n + d.tokens.length, 0) / Math.max(1, docs.length);
  const idf = new Map(asked.map((t) => {
    const n = docs.filter((d) => d.tokens.includes(t)).length;
    return [t, Math.max(1e-6, Math.log((docs.length - n + 0.5) / (n + 0.5)))];
  }));
  return docs
    .filter((d) => inModel(d.c) && asked.every((t) => d.tokens.includes(t)))
    .map((d) => {
      let score = 0;
      for (const t of asked) {
        const tf = d.tokens.filter((x) => x === t).length;
        score += /** @type {number} */ (idf.get(t)) * (tf * 2.2) / (tf + 1.2 * (0.25 + 0.75 * d.tokens.length / avg));
      }
      return { c: d.c, score };
    })
    .sort((a, b) => b.score - a.score || newest(a.c, b.c))
    .slice(0, limit)
    .map((d) => d.c);
}
