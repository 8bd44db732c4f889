// The service report as the customer reads it before signing: exactly the content the signature confirms
// (its digest is shown), in words; after sign-off, the signature, who signed and when.

import { href } from "../app.js";
import { h, replace, v } from "../dom.js";
import { reportDigest } from "../../engine/report.js";
import { drawStrokes } from "../signature_pad.js";
import { photoPreview } from "./checklist.js";
import { formatValue } from "./job.js";

/** @param {import("../app.js").App} app @param {import("./job.js").JobDetail} detail @param {HTMLElement} body */
export async function reportTab(app, detail, body) {
  const { job, signoff } = detail;
  const content = await app.client.reads.reportContent(job.id);
  const digest = await reportDigest(content);
  const amendments = await app.client.reads.amendments(job.id);
  replace(body, await reportDocument(app, detail, content, digest), signoff
    ? [signedBlock(app, signoff, digest), amendments.length ? amendedBlock(app, detail, amendments) : null]
    : h("section", { class: "card sign-cta" },
      app.client.rules.signable(job.status)
        ? h("a", { class: "button", href: href("sign", { job: job.id }), id: "to-sign" }, app.t("report.customer_signs"))
        : h("p", { class: "muted", id: "not-signable" }, app.t("report.not_signable", { status: app.t(`status.${job.status}`) }))));
}

/**
 * The report content, readable: labels instead of keys, part names, photos, times.
 * @param {import("../app.js").App} app @param {import("./job.js").JobDetail} detail
 * @param {import("../../engine/report.js").ReportContent} content @param {string} digest
 */
export async function reportDocument(app, detail, content, digest) {
  const ticket = detail.job.ticket ?? {};
  /** @type {import("../../engine/rules.js").ChecklistItem[]} */
  const items = detail.template?.items ?? [];
  const labels = new Map(items.map((i) => [i.key, i.label]));
  const names = new Map(detail.movements.map((m) => [m.part_no, m.name]));
  const photos = [];
  for (const sha of content.photos) photos.push(await photoPreview(app, sha));
  const row = (/** @type {string} */ key, /** @type {import("../dom.js").Child | import("../dom.js").Child[]} */ value) =>
    h("tr", {}, h("th", {}, app.t(key)), h("td", {}, value));
  return h("article", { class: "card report", id: "report" },
    h("h2", {}, app.t("report.title")),
    h("table", { class: "facts" }, h("tbody", {},
      row("report.customer", v(ticket.customer)),
      row("report.site", v(ticket.site)),
      ticket.title ? row("report.request", v(ticket.title)) : null,
      ticket.asset_serial ? row("report.asset", v(ticket.asset_serial, "mono")) : null,
      content.times.on_site ? row("report.on_site", app.catalog.when(content.times.on_site)) : null,
      content.times.completed ? row("report.completed", app.catalog.when(content.times.completed)) : null,
      row("field.diagnosis", v(content.diagnosis || "—")),
      row("field.resolution", v(content.resolution || "—")),
      content.notes ? row("field.notes", v(content.notes)) : null)),
    h("h3", {}, app.t("report.checklist")),
    content.answers.length ? h("table", { class: "answers", id: "report-answers" }, h("tbody", {}, inTemplateOrder(content.answers, items).map((a) =>
      h("tr", { dataset: { item: a.key } },
        h("th", {}, v(labels.get(a.key) ?? a.key)),
        h("td", {}, a.na_reason != null ? h("span", {}, app.t("checklist.na_is"), " ", v(a.na_reason))
          : items.find((i) => i.key === a.key)?.type === "photo"
            ? app.t("report.photo_attached") : v(formatValue(app, a.value)))))))
      : h("p", { class: "muted" }, app.t("report.no_answers")),
    h("h3", {}, app.t("report.parts")),
    content.parts.length ? h("table", { class: "parts", id: "report-parts" }, h("tbody", {}, content.parts.map((p) =>
      h("tr", {},
        h("td", {}, v(p.qty), " × ", v(names.get(p.part_no) || p.part_no), " ", v(p.part_no, "mono muted")),
        h("td", {}, p.serial ? [app.t("parts.serial"), " ", v(p.serial, "mono")] : null),
        h("td", {}, p.returned_serial ? [app.t("parts.returned"), " ", v(p.returned_serial, "mono")] : null)))))
      : h("p", { class: "muted" }, app.t("report.no_parts")),
    photos.length ? h("div", {}, h("h3", {}, app.t("report.photos")), h("div", { class: "photos" }, photos)) : null,
    h("p", { class: "digest muted" }, app.t("report.digest"), " ", v(digest.slice(0, 16), "mono"), v(digest, "mono full-digest")));
}

/** @param {import("../app.js").App} app @param {any} signoff @param {string} digest */
function signedBlock(app, signoff, digest) {
  const canvas = h("canvas", { class: "signature", id: "signature-view", width: 600, height: 240,
    "aria-label": app.t("sign.signature") });
  const strokes = signoff.pen?.length ? signoff.pen : signoff.strokes;
  if (strokes?.length) drawStrokes(canvas, strokes);
  return h("section", { class: "card signed", id: "signed" },
    h("h2", {}, app.t("report.signed_title")),
    h("p", {}, app.t("report.signed_by", { when: app.catalog.when(signoff.signed_at) }), " ", v(signoff.signer_name, "signer")),
    strokes?.length ? canvas : h("p", { class: "muted" }, app.t("report.signature_elsewhere")),
    signoff.report_digest === digest
      ? h("p", { class: "tag ok", id: "digest-state" }, app.t("report.digest_matches"))
      : h("p", { class: "tag bad", id: "digest-state" }, app.t("report.digest_differs")));
}

/**
 * What changed after the customer signed, and why (the signature covers the content as signed).
 * @param {import("../app.js").App} app @param {import("./job.js").JobDetail} detail @param {any[]} amendments
 */
function amendedBlock(app, detail, amendments) {
  const labels = new Map((detail.template?.items ?? []).map((/** @type {{key: string, label: string}} */ i) => [i.key, i.label]));
  return h("section", { class: "card amended", id: "amended" },
    h("h2", {}, app.t("report.amended_title")),
    h("ul", {}, amendments.map((a) => h("li", { dataset: { key: a.key } },
      h("strong", {}, v(a.target === "answer" ? labels.get(a.key) ?? a.key : app.t(`field.${a.key}`))), ": ",
      v(formatValue(app, a.value)), h("br", {}),
      h("span", { class: "muted" }, app.t("report.amended_by", { when: app.catalog.when(a.at), reason: a.reason }))))));
}

/**
 * Answers in the checklist's order (the content itself is sorted by key, for the digest).
 * @param {import("../../engine/report.js").ReportAnswer[]} answers @param {{key: string}[]} items
 */
function inTemplateOrder(answers, items) {
  const rank = new Map(items.map((item, i) => [item.key, i]));
  return [...answers].sort((a, b) => (rank.get(a.key) ?? items.length) - (rank.get(b.key) ?? items.length));
}
