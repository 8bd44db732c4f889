// The app's words, from the catalogs the server serves (schemas/i18n/<locale>/tablet.json): flat dotted
// keys, `{name}` placeholders. The locale is the one the engineer chose (remembered on this tablet), else
// the browser's language: Chinese for any zh-*, English otherwise.

export const LOCALES = /** @type {const} */ (["zh_CN", "en"]);
/** @typedef {typeof LOCALES[number]} Locale */
const REMEMBERED = "fieldsync.locale";

/** @param {string | null | undefined} chosen @param {readonly string[]} languages @returns {Locale} */
export function pickLocale(chosen, languages) {
  if (chosen === "zh_CN" || chosen === "en") return chosen;
  for (const lang of languages) {
    if (/^zh\b/i.test(lang)) return "zh_CN";
    if (/^en\b/i.test(lang)) return "en";
  }
  return "zh_CN";
}

/** The locale this tablet shows. @returns {Locale} */
export function currentLocale() {
  let chosen = null;
  try {
    chosen = localStorage.getItem(REMEMBERED);
  } catch {
    // storage blocked: fall back to the browser's language
  }
  return pickLocale(chosen, navigator.languages?.length ? navigator.languages : [navigator.language]);
}

/** @param {Locale} locale */
export function rememberLocale(locale) {
  localStorage.setItem(REMEMBERED, locale);
}

/** A loaded catalog. */
export class Catalog {
  /** @param {Locale} locale @param {Record<string, string>} messages */
  constructor(locale, messages) {
    this.locale = locale;
    this.messages = messages;
    this.tag = locale.replace("_", "-");
    this.timeFormat = new Intl.DateTimeFormat(this.tag, { dateStyle: "medium", timeStyle: "short" });
    this.clockFormat = new Intl.DateTimeFormat(this.tag, { timeStyle: "short" });
  }

  /** @param {Locale} locale @param {(url: string) => Promise<Response>} [fetchFn] */
  static async load(locale, fetchFn = (url) => fetch(url)) {
    const response = await fetchFn(`/tablet/i18n/${locale}/tablet.json`);
    if (!response.ok) throw new Error(`catalog ${locale}: HTTP ${response.status}`);
    return new Catalog(locale, await response.json());
  }

  /**
   * The message for `key` with `{name}` placeholders filled in; a missing key shows as the key itself.
   * @param {string} key @param {Record<string, unknown>} [params]
   */
  t(key, params = {}) {
    const text = this.messages[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  }

  /** @param {string} key */
  has(key) {
    return key in this.messages;
  }

  /** Date and time in this locale. @param {number | null | undefined} ms */
  when(ms) {
    return ms ? this.timeFormat.format(new Date(ms)) : "";
  }

  /** Time of day in this locale. @param {number | null | undefined} ms */
  clock(ms) {
    return ms ? this.clockFormat.format(new Date(ms)) : "";
  }
}
