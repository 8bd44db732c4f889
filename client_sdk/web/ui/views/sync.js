// Sync in detail: what waits to be sent, what the server said about each op (rejected and needs-review
// ones with their reason; nothing disappears silently), and how the last sync went.

import { href } from "../app.js";
import { h, replace, v } from "../dom.js";
import { opLabel } from "./job.js";

/** @type {import("../app.js").View} */
export async function syncView(app, route, root) {
  const [pending, results, jobs, state] = await Promise.all([
    app.client.reads.pending(), app.client.reads.opResults(), app.client.reads.jobs(), app.client.reads.syncState()]);
  const customers = new Map(jobs.map((j) => [j.id, j.ticket?.customer ?? j.id]));
  const flagged = results.filter((r) => r.result === "rejected" || r.result === "needs_review");
  const report = app.lastReport;
  const jobLink = (/** @type {string} */ jobId) => h("a", { href: href("job", { job: jobId }) }, v(customers.get(jobId) ?? jobId));
  replace(root,
    h("h1", {}, app.t("sync.title")),
    h("section", { class: "card" },
      h("p", { id: "sync-explain" }, app.t(app.online ? "sync.explain_online" : "sync.explain_offline")),
      h("p", {}, state.last_sync_at ? app.t("sync.last", { when: app.catalog.when(state.last_sync_at) }) : app.t("sync.never")),
      report ? h("p", { id: "last-report" }, app.t(report.offline ? "sync.report_offline" : "sync.report",
        { sent: report.pushed_ops, received: report.pulled_changes, photos: report.uploaded_blobs })) : null,
      state.accepted ? h("p", { id: "outcomes-pending" }, app.t("sync.report_outcomes_pending", { n: state.accepted }))
        : null,
      report?.errors.length ? h("ul", { class: "errors" }, report.errors.map((e) => h("li", {}, v(e, "code")))) : null,
      h("button", { type: "button", onclick: () => void app.sync(), disabled: app.syncing }, app.t("sync.now"))),
    h("section", { class: "card" },
      h("h2", {}, app.t("sync.waiting_title", { n: pending.filter((p) => !p.accepted).length })),
      pending.length ? h("ul", { class: "outbox", id: "outbox" }, pending.map((p) => h("li", { dataset: { op: p.op_id } },
        opLabel(app, p, null), " · ", jobLink(p.job_id), " · ", app.catalog.when(p.created_at),
        p.accepted ? h("span", { class: "badge safe" }, app.t("sync.safe_pending"))
          : p.sealed_seq !== undefined ? h("span", { class: "badge" }, app.t("sync.sent_unconfirmed")) : null)))
        : h("p", { class: "muted" }, app.t("sync.nothing_waiting"))),
    h("section", { class: "card" },
      h("h2", {}, app.t("sync.attention_title")),
      flagged.length ? h("ul", { class: "outcomes", id: "outcomes" }, flagged.map((r) => h("li", { dataset: { op: r.op_id, result: r.result } },
        h("span", { class: `tag ${r.result === "rejected" ? "bad" : "warn"}` }, app.t(`result.${r.result}`)), " ",
        opLabel(app, r, null), " · ", jobLink(r.job_id), " — ", app.reason(r.reason))))
        : h("p", { class: "muted" }, app.t("sync.nothing_flagged"))),
    h("section", { class: "card" },
      h("h2", {}, app.t("sync.done_title")),
      h("p", { class: "muted" }, app.t("sync.done_counts", {
        applied: results.filter((r) => r.result === "applied").length,
        merged: results.filter((r) => r.result === "merged").length }))));
}
