// The job list: customer, site, priority and the SLA due time of every job on the tablet.

import { href } from "../app.js";
import { h, replace, v } from "../dom.js";

const PRIORITY_ORDER = ["P1", "P2", "P3", "complaint"];

/** @type {import("../app.js").View} */
export async function jobsView(app, route, root) {
  const [jobs, due] = await Promise.all([app.client.reads.jobs(), app.client.slaDue()]);
  const open = jobs.filter((j) => !["closed", "cancelled"].includes(j.status));
  const done = jobs.filter((j) => ["closed", "cancelled"].includes(j.status));
  const rank = (/** @type {any} */ j) => {
    const d = due.get(j.ticket_id);
    return [PRIORITY_ORDER.indexOf(j.ticket?.priority ?? ""), d ? d.due_at : Infinity];
  };
  open.sort((a, b) => {
    const [pa, da] = rank(a);
    const [pb, db] = rank(b);
    return da - db || pa - pb;
  });
  const kbLink = h("p", { class: "kb-link" }, h("a", { href: href("kb"), id: "kb-link" }, app.t("kb.link")));
  if (!jobs.length) {
    replace(root, h("h1", {}, app.t("jobs.title")), kbLink,
      h("p", { class: "empty", id: "no-jobs" }, app.t(app.online ? "jobs.empty" : "jobs.empty_offline")));
    return;
  }
  replace(root, h("h1", {}, app.t("jobs.title")), kbLink,
    h("ul", { class: "jobs", id: "jobs" }, [...open, ...done].map((job) => jobCard(app, job, due.get(job.ticket_id)))));
}

/**
 * @param {import("../app.js").App} app @param {any} job
 * @param {{target: string, due_at: number, breached: boolean, paused: boolean} | undefined} due
 */
function jobCard(app, job, due) {
  const ticket = job.ticket ?? {};
  const priority = ticket.priority ?? "";
  const overdue = due && (due.breached || due.due_at < Date.now());
  return h("li", {},
    h("a", { class: `job-card prio-${priority}`, href: href("job", { job: job.id }), dataset: { job: job.id } },
      h("div", { class: "job-main" },
        h("strong", { class: "customer" }, v(ticket.customer)),
        h("span", { class: "site" }, v(ticket.site)),
        ticket.title ? h("span", { class: "title muted" }, v(ticket.title)) : null),
      h("div", { class: "job-side" },
        h("span", { class: `prio prio-${priority}` }, app.catalog.has(`priority.${priority}`) ? app.t(`priority.${priority}`) : v(priority)),
        due ? h("span", { class: `due${overdue ? " overdue" : ""}${due.paused ? " paused" : ""}`, dataset: { due: String(due.due_at) } },
          app.t(overdue ? "jobs.overdue" : due.paused ? "jobs.due_paused" : "jobs.due",
            { target: app.t(`sla.${due.target}`), when: app.catalog.when(due.due_at) }))
          : h("span", { class: "due muted" }, app.t("jobs.no_due")),
        h("span", { class: `status st-${job.status}` }, app.t(`status.${job.status}`)),
        job.pending_ops ? h("span", { class: "badge", dataset: { pending: String(job.pending_ops) } },
          app.t("job.waiting", { n: job.pending_ops })) : null)));
}
