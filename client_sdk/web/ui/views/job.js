// One job: its header (customer, site, priority, SLA due) and tabs for the work: status steps, checklist,
// parts, notes and diagnosis, and the service report with the customer's sign-off.

import { href } from "../app.js";
import { h, replace, v } from "../dom.js";
import { checklistTab } from "./checklist.js";
import { partsTab } from "./parts.js";
import { reportTab } from "./report.js";

const TABS = ["work", "checklist", "parts", "notes", "report"];

/** @typedef {NonNullable<Awaited<ReturnType<import("../../engine/reads.js").Reads["job"]>>>} JobDetail */

/** @type {import("../app.js").View} */
export async function jobView(app, route, root) {
  const detail = await app.client.reads.job(route.params.job);
  if (!detail) {
    replace(root, h("p", { class: "empty" }, app.t("job.not_found")), h("a", { href: "#/jobs", class: "button" }, app.t("nav.jobs")));
    return;
  }
  const due = (await app.client.slaDue()).get(detail.job.ticket_id);
  const tab = TABS.includes(route.params.tab) ? route.params.tab : "work";
  const body = h("section", { class: "tab-body", dataset: { tab } });
  const attention = detail.results.filter((r) => r.result === "rejected" || r.result === "needs_review").length
    + detail.conflicts.filter((c) => c.status === "open").length;
  replace(root,
    header(app, detail, due),
    h("nav", { class: "tabs", role: "tablist" }, TABS.map((name) => h("a", {
      href: href("job", { job: detail.job.id, tab: name }), role: "tab", class: name === tab ? "active" : "",
      "aria-selected": name === tab ? "true" : "false", dataset: { tab: name },
    }, app.t(`job.tab.${name}`),
    name === "checklist" && detail.missing_required.length ? h("span", { class: "badge" }, detail.missing_required.length) : null,
    name === "work" && attention ? h("span", { class: "badge warn" }, attention) : null))),
    body);
  if (tab === "checklist") await checklistTab(app, detail, body);
  else if (tab === "parts") await partsTab(app, detail, body);
  else if (tab === "notes") notesTab(app, detail, body);
  else if (tab === "report") await reportTab(app, detail, body);
  else workTab(app, detail, body);
}

/**
 * @param {import("../app.js").App} app @param {JobDetail} detail
 * @param {{target: string, due_at: number, breached: boolean, paused: boolean} | undefined} due
 */
function header(app, detail, due) {
  const { job } = detail;
  const ticket = job.ticket ?? {};
  return h("header", { class: "job-header card" },
    h("div", {},
      h("h1", {}, v(ticket.customer)),
      h("p", { class: "site" }, v(ticket.site)),
      ticket.title ? h("p", { class: "muted" }, v(ticket.title)) : null,
      ticket.asset_serial ? h("p", { class: "muted" }, app.t("job.asset"), " ", v(ticket.asset_serial, "mono")) : null),
    h("div", { class: "job-facts" },
      h("span", { class: `prio prio-${ticket.priority}` }, app.catalog.has(`priority.${ticket.priority}`) ? app.t(`priority.${ticket.priority}`) : v(ticket.priority)),
      due ? h("span", { class: `due${due.breached ? " overdue" : ""}` }, app.t(due.breached ? "jobs.overdue" : "jobs.due",
        { target: app.t(`sla.${due.target}`), when: app.catalog.when(due.due_at) })) : null,
      h("span", { class: `status st-${job.status}`, id: "job-status", dataset: { status: job.status } },
        app.t(`status.${job.status}`),
        job.status === "on_hold" && job.hold_reason ? ` · ${app.t(`hold.${job.hold_reason}`)}` : ""),
      job.signed_off && job.status !== "signed_off" ? h("span", { class: "tag ok", id: "signed-badge" }, app.t("job.signed")) : null,
      job.changed_after_signoff ? h("span", { class: "tag bad" }, app.t("job.changed_after_signoff")) : null,
      job.pending_ops ? h("span", { class: "badge", id: "job-waiting" }, app.t("job.waiting", { n: job.pending_ops })) : null));
}

/** Status steps the machine allows from here, and what the server said about this job's ops. @param {import("../app.js").App} app @param {JobDetail} detail @param {HTMLElement} body */
function workTab(app, detail, body) {
  const { job } = detail;
  const holdChoices = h("div", { class: "hold-choices", hidden: true, id: "hold-reasons" },
    h("p", {}, app.t("status.hold_reason")),
    app.client.rules.doc.hold_reasons.map((reason) => h("button", {
      type: "button", class: "secondary", dataset: { hold: reason },
      onclick: () => void app.act(() => app.client.writes.setStatus(job.id, "on_hold", reason)),
    }, app.t(`hold.${reason}`))));
  const steps = detail.next_statuses.map((status) => h("button", {
    type: "button", class: status === "on_hold" || status === "cannot_complete" ? "secondary" : "",
    dataset: { status },
    onclick: () => {
      if (status === "on_hold") holdChoices.hidden = !holdChoices.hidden;
      else void app.act(() => app.client.writes.setStatus(job.id, status));
    },
  }, app.t(`status.do.${status}`)));
  replace(body,
    h("section", { class: "card" },
      h("h2", {}, app.t("status.title")),
      h("p", {}, app.t("status.now", { status: app.t(`status.${job.status}`) })),
      detail.missing_required.length && detail.next_statuses.includes("completed")
        ? h("p", { class: "muted" }, app.t("status.complete_needs", { n: detail.missing_required.length })) : null,
      steps.length ? h("div", { class: "steps", id: "status-steps" }, steps) : h("p", { class: "muted" }, app.t("status.none")),
      holdChoices),
    activity(app, detail));
}

/** Review items and the server's verdicts on this job's ops: nothing disappears silently. @param {import("../app.js").App} app @param {JobDetail} detail */
export function activity(app, detail) {
  const flagged = detail.results.filter((r) => r.result === "rejected" || r.result === "needs_review");
  const conflicts = detail.conflicts;
  if (!flagged.length && !conflicts.length) return null;
  return h("section", { class: "card attention", id: "job-attention" },
    h("h2", {}, app.t("activity.title")),
    flagged.length ? h("ul", { class: "outcomes" }, flagged.map((r) => h("li", { class: r.result, dataset: { op: r.op_id, result: r.result } },
      h("span", { class: `tag ${r.result === "rejected" ? "bad" : "warn"}` }, app.t(`result.${r.result}`)), " ",
      h("span", {}, opLabel(app, r, detail)), " — ", app.reason(r.reason)))) : null,
    conflicts.length ? h("ul", { class: "conflicts" }, conflicts.map((c) => h("li", { dataset: { conflict: c.id, status: c.status } },
      h("span", { class: `tag ${c.status === "open" ? "warn" : "ok"}` }, app.t(`conflict.${c.status === "open" ? "open" : "resolved"}`)), " ",
      app.t("conflict.what", { what: conflictSubject(app, c, detail) }), " ",
      h("span", { class: "values" }, (c.values ?? []).map((/** @type {any} */ val, /** @type {number} */ i) => h("span", { class: "value" },
        i ? " / " : "", v(formatValue(app, val.value)),
        c.applied === i ? h("span", { class: "muted in-force" }, " ", app.t("conflict.in_force")) : null))),
    ))) : null);
}

/** @param {import("../app.js").App} app @param {any} c @param {JobDetail} detail */
function conflictSubject(app, c, detail) {
  if (c.kind === "answer") {
    const item = detail.template?.items.find((/** @type {any} */ i) => i.key === c.key);
    return item ? item.label : c.key;
  }
  return app.catalog.has(`conflict.kind.${c.kind}`) ? app.t(`conflict.kind.${c.kind}`) : c.kind;
}

/** What an op was about, in words. @param {import("../app.js").App} app @param {any} r @param {JobDetail | null} detail */
export function opLabel(app, r, detail) {
  const [kind, rest] = String(r.key ?? "").split(/:(.*)/s);
  if (kind === "answer" && detail?.template) {
    const item = detail.template.items.find((/** @type {any} */ i) => i.key === rest);
    return h("span", {}, app.t("op.answer"), " ", v(item ? item.label : rest));
  }
  if (kind === "field") return h("span", {}, app.t(`field.${rest}`));
  return h("span", {}, app.t(`op.${r.type}`));
}

/** @param {import("../app.js").App} app @param {unknown} value */
export function formatValue(app, value) {
  if (value === true) return app.t("answer.pass");
  if (value === false) return app.t("answer.fail");
  if (value === null || value === undefined) return "—";
  return String(value);
}

/** Notes, diagnosis, resolution: plain fields, last writer wins on the server. @param {import("../app.js").App} app @param {JobDetail} detail @param {HTMLElement} body */
function notesTab(app, detail, body) {
  const { job } = detail;
  const locked = job.signed_off;
  replace(body, h("section", { class: "card" }, ["diagnosis", "resolution", "notes"].map((field) => {
    const area = h("textarea", { id: `field-${field}`, rows: 4, maxlength: app.client.rules.doc.text_limits["job.field"][field],
      disabled: locked, "aria-label": app.t(`field.${field}`) });
    area.value = job[field] ?? "";
    return h("div", { class: "field" },
      h("label", { for: `field-${field}` }, app.t(`field.${field}`),
        detail.pending.has(`field:${field}`) ? h("span", { class: "badge" }, app.t("answer.waiting")) : null),
      area,
      locked ? null : h("button", { type: "button", class: "secondary", dataset: { save: field },
        onclick: () => void app.act(() => app.client.writes.setField(job.id, field, area.value)) }, app.t("action.save")));
  }), locked ? h("p", { class: "muted" }, app.t("notes.locked")) : null));
}
