// Building the DOM without HTML strings: elements from tags, attributes and children; text is always text.
//
// Text that comes from data (a customer's name, a part number, what the engineer typed) is wrapped by
// `v()` in <span class="v">, so a test can tell it from the app's own words, which all come from the
// catalogs (i18n.js).

/** @typedef {Node | string | number | null | undefined | false} Child */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [attrs]  `class`, `text`, `on<event>` handlers, `dataset`, booleans, strings
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "text") {
      el.textContent = String(value);
    } else if (name === "value" && "value" in el) {
      /** @type {HTMLInputElement} */ (/** @type {unknown} */ (el)).value = String(value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

/** @param {Element} el @param {(Child | Child[])[]} children */
export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
}

/** A value from data, marked as such. @param {unknown} value @param {string} [cls] */
export function v(value, cls = "") {
  return h("span", { class: cls ? `v ${cls}` : "v" }, value === null || value === undefined ? "" : String(value));
}

/** Replace an element's children. @param {Element} el @param {...(Child | Child[])} children */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}
