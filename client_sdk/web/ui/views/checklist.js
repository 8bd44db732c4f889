// The pinned checklist: a control for every item type (pass/fail, number with its range, choice, text,
// photo from the camera) and "not applicable" with a reason. Answers are checked by the shared rules
// before they are stored; a refusal says which rule.

import { h, replace, v } from "../dom.js";

/** @typedef {import("./job.js").JobDetail} JobDetail */

/** @type {string[]} */
let objectUrls = [];
/** jobs being amended after signature on this screen -> the reason the engineer gave @type {Map<string, string>} */
const amending = new Map();

/** @param {import("../app.js").App} app @param {JobDetail} detail @param {HTMLElement} body */
export async function checklistTab(app, detail, body) {
  for (const url of objectUrls) URL.revokeObjectURL(url);
  objectUrls = [];
  const { job, template } = detail;
  if (!template) {
    replace(body, h("p", { class: "empty" }, app.t(job.template_id ? "checklist.not_here" : "checklist.none")));
    return;
  }
  const answers = new Map(detail.answers.map((a) => [a.item_key, a]));
  const items = [];
  for (const item of template.items) items.push(await itemRow(app, detail, item, answers.get(item.key)));
  replace(body,
    job.signed_off ? amendBox(app, detail, body) : null,
    detail.missing_required.length
      ? h("p", { class: "notice", id: "missing-required" }, app.t("checklist.missing", { n: detail.missing_required.length }))
      : h("p", { class: "notice ok", id: "missing-required" }, app.t("checklist.complete")),
    h("ol", { class: "checklist", id: "checklist" }, items));
}

/**
 * A signed job: its answers change only as an amendment with a reason (the engine refuses a plain edit).
 * @param {import("../app.js").App} app @param {JobDetail} detail @param {HTMLElement} body
 */
function amendBox(app, detail, body) {
  const jobId = detail.job.id;
  const reason = h("input", { id: "amend-reason", "aria-label": app.t("amend.reason"), placeholder: app.t("amend.reason"),
    maxlength: app.client.rules.doc.text_limits["signoff.amend"]?.reason ?? 1000 });
  reason.value = amending.get(jobId) ?? "";
  reason.addEventListener("input", () => { if (amending.has(jobId)) amending.set(jobId, reason.value); });
  return h("section", { class: "card amend", id: "amend-box" },
    h("p", { class: "notice" }, app.t(amending.has(jobId) ? "amend.active" : "amend.notice")),
    reason,
    amending.has(jobId) ? null : h("button", { type: "button", class: "secondary", id: "amend-start", onclick: () => {
      amending.set(jobId, reason.value);
      void checklistTab(app, detail, body);
    } }, app.t("amend.start")));
}

/**
 * @param {import("../app.js").App} app @param {JobDetail} detail
 * @param {import("../../engine/rules.js").ChecklistItem} item @param {any} answer
 */
async function itemRow(app, detail, item, answer) {
  const jobId = detail.job.id;
  const locked = detail.job.signed_off && !amending.has(jobId);
  const save = (/** @type {import("../../engine/wire.js").Scalar} */ value, naReason = /** @type {string | null} */ (null)) =>
    app.act(() => detail.job.signed_off
      ? app.client.writes.amend(jobId, amending.get(jobId) ?? "", { itemKey: item.key, value, naReason })
      : app.client.writes.answer(jobId, item.key, value, { naReason }));
  const answered = answer && (answer.value !== null || answer.na_reason !== null);
  const na = answer?.na_reason != null;
  const naBox = h("div", { class: "na-box", hidden: true },
    h("input", { class: "na-reason", "aria-label": app.t("checklist.na_reason"), placeholder: app.t("checklist.na_reason") }),
    h("button", { type: "button", class: "secondary na-confirm", onclick: (/** @type {Event} */ e) => {
      const input = /** @type {HTMLInputElement} */ (/** @type {HTMLElement} */ (e.target).parentElement?.querySelector(".na-reason"));
      void save(null, input.value);
    } }, app.t("checklist.na_confirm")));
  return h("li", { class: `item${answered ? " answered" : ""}${na ? " na" : ""}`, dataset: { item: item.key, type: item.type } },
    h("div", { class: "item-head" },
      h("span", { class: "label" }, v(item.label)),
      item.required ? h("span", { class: "req" }, app.t("checklist.required")) : h("span", { class: "muted" }, app.t("checklist.optional")),
      detail.pending.has(`answer:${item.key}`) ? h("span", { class: "badge" }, app.t("answer.waiting")) : null),
    na ? h("p", { class: "na-text" }, app.t("checklist.na_is"), " ", v(answer.na_reason)) : null,
    await control(app, item, na ? null : answer?.value ?? null, save, locked, jobId),
    locked ? null : h("div", { class: "item-actions" },
      h("button", { type: "button", class: "link na-open", onclick: () => { naBox.hidden = !naBox.hidden; } }, app.t("checklist.na")),
      naBox));
}

/**
 * @param {import("../app.js").App} app @param {import("../../engine/rules.js").ChecklistItem} item
 * @param {unknown} value @param {(value: import("../../engine/wire.js").Scalar) => Promise<unknown>} save
 * @param {boolean} locked @param {string} jobId
 */
async function control(app, item, value, save, locked, jobId) {
  switch (item.type) {
    case "pass_fail":
      return h("div", { class: "choice-row" }, [true, false].map((b) => h("button", {
        type: "button", class: value === b ? "pressed" : "secondary", "aria-pressed": value === b ? "true" : "false",
        dataset: { value: String(b) }, disabled: locked, onclick: () => void save(b),
      }, app.t(b ? "answer.pass" : "answer.fail"))));
    case "choice":
      return h("div", { class: "choice-row" }, (item.choices ?? []).map((c) => h("button", {
        type: "button", class: value === c ? "pressed" : "secondary", "aria-pressed": value === c ? "true" : "false",
        dataset: { value: c }, disabled: locked, onclick: () => void save(c),
      }, v(c))));
    case "number": {
      const input = h("input", {
        type: "number", inputmode: "decimal", step: "any", class: "number", disabled: locked,
        min: item.min ?? undefined, max: item.max ?? undefined, "aria-label": item.label, "data-v": "",
        value: typeof value === "number" ? value : "",
      });
      const commit = () => {
        if (input.value.trim() === "") return;
        const n = Number(input.value);
        void save(Number.isFinite(n) ? n : input.value);
      };
      // saved by the button or Enter, not on blur: tapping the button would otherwise save twice
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") commit();
      });
      const range = item.min != null || item.max != null
        ? h("span", { class: "muted range" }, app.t("checklist.range", { min: item.min ?? "…", max: item.max ?? "…" })) : null;
      return h("div", { class: "number-row" }, input, range,
        locked ? null : h("button", { type: "button", class: "secondary", onclick: commit }, app.t("action.save")));
    }
    case "photo": {
      const preview = await photoPreview(app, typeof value === "string" ? value : null);
      const input = h("input", { type: "file", accept: "image/*", capture: "environment", class: "photo-input",
        "aria-label": item.label, "data-v": "", disabled: locked });
      input.addEventListener("change", async () => {
        const file = input.files?.[0];
        if (!file) return;
        const bytes = new Uint8Array(await file.arrayBuffer());
        await app.act(() => app.client.writes.answerPhoto(jobId, item.key, bytes, file.type || "application/octet-stream"));
      });
      return h("div", { class: "photo-row" }, preview,
        locked ? null : h("label", { class: "button secondary photo-button" }, app.t(value ? "checklist.photo_again" : "checklist.photo_take"), input));
    }
    default: {
      const area = h("textarea", { rows: 3, class: "text", maxlength: app.client.rules.doc.text_limits["checklist.answer"].value, disabled: locked,
        "aria-label": item.label, "data-v": "" });
      area.value = typeof value === "string" ? value : "";
      return h("div", { class: "text-row" }, area,
        locked ? null : h("button", { type: "button", class: "secondary", onclick: () => void save(area.value) }, app.t("action.save")));
    }
  }
}

/** A thumbnail of a photo held on the tablet (or a note that it is on the server only). @param {import("../app.js").App} app @param {string | null} sha */
export async function photoPreview(app, sha) {
  if (!sha) return h("span", { class: "muted" }, app.t("checklist.no_photo"));
  const data = await app.client.reads.blob(sha);
  if (!data) return h("span", { class: "muted" }, app.t("checklist.photo_on_server"));
  const url = URL.createObjectURL(new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (data)]));
  objectUrls.push(url);
  return h("img", { class: "thumb", src: url, alt: app.t("checklist.photo_alt"), dataset: { sha } });
}
