// The knowledge base offline: the solved cases synced for this tablet's jobs, searched as the engineer types,
// by the server's rule (engine/search.js: 异响 finds 风机异响, "bearings" finds "bearing"), best first.

import { h, replace, v } from "../dom.js";

/** @type {import("../app.js").View} */
export async function kbView(app, route, root) {
  const results = h("div", { id: "kb-results" });
  const input = h("input", { type: "search", id: "kb-q", name: "q", value: route.query.get("q") ?? "",
    autocomplete: "off", placeholder: app.t("kb.placeholder"), "aria-label": app.t("kb.search") });
  let asked = 0;
  const show = async () => {
    const mine = ++asked;
    const query = input.value;
    const cases = await app.client.reads.searchKb(query, { limit: 50 });
    if (mine !== asked) return; // a later keystroke's answer wins
    history.replaceState(null, "", `#/kb${query ? `?q=${encodeURIComponent(query)}` : ""}`);
    results.dataset.q = query;
    replace(results, cases.length
      ? h("ul", { class: "kb-cases", id: "kb-cases" }, cases.map((c) => caseCard(app, c)))
      : h("p", { class: "empty", id: "kb-none" }, app.t(query.trim() ? "kb.none" : "kb.empty")));
  };
  input.addEventListener("input", () => void show());
  replace(root, h("h1", {}, app.t("kb.title")),
    h("form", { role: "search", class: "kb-search", onsubmit: (/** @type {Event} */ e) => {
      e.preventDefault();
      void show();
    } }, input),
    h("p", { class: "muted" }, app.t("kb.explain")),
    results);
  await show();
}

/** @param {import("../app.js").App} app @param {import("../../engine/search.js").KbCase} c */
function caseCard(app, c) {
  const row = (/** @type {string} */ key, /** @type {string} */ value) =>
    value ? h("p", {}, h("span", { class: "muted" }, app.t(key)), " ", v(value)) : null;
  return h("li", { class: "card kb-case", dataset: { case: c.id } },
    h("strong", { class: "symptom" }, v(c.symptom)),
    row("kb.cause", c.cause),
    row("kb.fix", c.fix),
    row("kb.parts", c.parts.join(", ")),
    row("kb.model", [c.model, c.equipment_type].filter(Boolean).join(" · ")));
}
