// The app's state between screens: the engine, the catalog, the current route, the sync state it shows.
//
// The UI only calls the engine (TabletClient); it never touches IndexedDB or the network itself. Sync runs
// automatically when the network comes back, shortly after a write while online, every minute while
// something waits, and when the engineer asks; its state is always visible in the header, including work
// the server already holds safely while its results are still to come (accepted receipts).

import { WriteRefused, EnrollmentFailed } from "../engine/errors.js";
import { h, replace, v } from "./dom.js";

/** @typedef {import("../engine/client.js").TabletClient} TabletClient */
/** @typedef {import("./i18n.js").Catalog} Catalog */
/** @typedef {{name: string, params: Record<string, string>, query: URLSearchParams}} Route */
/** @typedef {(app: App, route: Route, root: HTMLElement) => Promise<void>} View */

const AFTER_WRITE_MS = 1500;
const WHILE_WAITING_MS = 60_000;

/**
 * @param {string} hash e.g. "#/job/J-1/checklist" or "#/enroll?token=..."
 * @returns {Route}
 */
export function parseRoute(hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const q = new URLSearchParams(query);
  if (parts[0] === "enroll") return { name: "enroll", params: {}, query: q };
  if (parts[0] === "sync") return { name: "sync", params: {}, query: q };
  if (parts[0] === "kb") return { name: "kb", params: {}, query: q };
  if (parts[0] === "job" && parts[1]) {
    if (parts[2] === "sign") return { name: "sign", params: { job: parts[1] }, query: q };
    return { name: "job", params: { job: parts[1], tab: parts[2] ?? "work" }, query: q };
  }
  return { name: "jobs", params: {}, query: q };
}

/** @param {string} name @param {Record<string, string>} [params] */
export function href(name, params = {}) {
  if (name === "job") return `#/job/${encodeURIComponent(params.job)}${params.tab && params.tab !== "work" ? `/${params.tab}` : ""}`;
  if (name === "sign") return `#/job/${encodeURIComponent(params.job)}/sign`;
  return `#/${name}`;
}

export class App {
  /**
   * @param {TabletClient} client @param {Catalog} catalog @param {Record<string, View>} views
   * @param {{main: HTMLElement, syncBar: HTMLElement, toast: HTMLElement}} parts
   */
  constructor(client, catalog, views, parts) {
    this.client = client;
    this.catalog = catalog;
    this.t = catalog.t.bind(catalog);
    this.views = views;
    this.parts = parts;
    /** @type {import("../engine/syncer.js").SyncReport | null} */
    this.lastReport = null;
    this.syncing = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.soon = null;
    this.rendering = Promise.resolve();
  }

  get online() {
    return navigator.onLine;
  }

  /** Show the screen of the current location. */
  async render() {
    const device = await this.client.device();
    let route = parseRoute(location.hash);
    if (!device && route.name !== "enroll") route = { name: "enroll", params: {}, query: route.query };
    document.body.dataset.route = route.name;
    const root = h("div", { class: "view", dataset: { view: route.name } });
    try {
      await this.views[route.name](this, route, root);
    } catch (err) {
      replace(root, h("p", { class: "error", role: "alert" }, this.explain(err)));
    }
    replace(this.parts.main, root);
    await this.refreshSyncBar();
  }

  /** Render again after the current render (a write, a sync, a route change). */
  refresh() {
    this.rendering = this.rendering.then(() => this.render());
    return this.rendering;
  }

  /** @param {string} hash */
  go(hash) {
    if (location.hash === hash) return this.refresh();
    location.hash = hash;
    return this.rendering;
  }

  /**
   * A message for an error, from the catalogs: a refused write's rule, a failed enrollment's reason.
   * @param {unknown} err @returns {Node}
   */
  explain(err) {
    if (err instanceof WriteRefused) return this.reason(err.code, err.params);
    if (err instanceof EnrollmentFailed) {
      const key = `enroll.error.${err.code}`;
      return this.catalog.has(key) ? document.createTextNode(this.t(key))
        : h("span", {}, this.t("enroll.error.other"), " ", v(err.code, "code"));
    }
    return h("span", {}, this.t("error.unexpected"), " ", v(String(err), "code"));
  }

  /**
   * A rule's reason code (the app's or the server's) in words. Codes the server composes
   * (`transition_<from>_to_<to>_refused`, `checklist_incomplete:<items>`) are taken apart first.
   * @param {string | null | undefined} code @param {Record<string, string | number>} [params]
   * @returns {Node}
   */
  reason(code, params = {}) {
    if (!code) return document.createTextNode("");
    const transition = /^transition_(\w+?)_to_(\w+)_refused$/.exec(code);
    if (transition && this.catalog.has(`status.${transition[1]}`) && this.catalog.has(`status.${transition[2]}`)) {
      return document.createTextNode(this.t("reason.transition_refused", {
        from: this.t(`status.${transition[1]}`), to: this.t(`status.${transition[2]}`) }));
    }
    const signedIn = /^signed_off_in_status_(\w+)$/.exec(code);
    if (signedIn) return this.reason("signed_off_in_status", { status: signedIn[1] });
    const [base, detail] = code.split(":", 2);
    const key = `reason.${base}`;
    if (!this.catalog.has(key)) return h("span", {}, this.t("reason.unknown"), " ", v(code, "code"));
    /** @type {Record<string, string | number>} */
    const words = { ...params };
    for (const name of ["status", "from", "to"]) {
      if (name in words && this.catalog.has(`status.${words[name]}`)) words[name] = this.t(`status.${words[name]}`);
    }
    // item keys in a server's reason are data (the checklist's own keys)
    if (detail || params.items) return h("span", {}, this.t(key, { ...words, items: "" }), v(params.items ?? detail));
    return document.createTextNode(this.t(key, words));
  }

  /** A write the engineer made: show what was refused, else refresh and sync soon. @param {() => Promise<unknown>} write */
  async act(write) {
    try {
      await write();
    } catch (err) {
      this.toast(this.explain(err), "error");
      return false;
    }
    await this.refresh();
    this.syncSoon(AFTER_WRITE_MS);
    return true;
  }

  /** Errors belong to the screen they were made on: leaving it takes them away. */
  clearErrors() {
    for (const el of this.parts.toast.querySelectorAll(".toast.error")) el.remove();
  }

  /** @param {Node | string} message @param {"info" | "error"} [kind] */
  toast(message, kind = "info") {
    const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
    this.parts.toast.append(el);
    setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
  }

  // -- sync --------------------------------------------------------------------------------------

  /** @param {number} ms */
  syncSoon(ms) {
    if (this.soon) clearTimeout(this.soon);
    this.soon = setTimeout(() => {
      this.soon = null;
      if (this.online) void this.sync();
    }, ms);
  }

  /** One sync run (shared with one already running); the screen and the header follow it. */
  async sync() {
    if (!(await this.client.device())) return null;
    this.syncing = true;
    await this.refreshSyncBar();
    try {
      this.lastReport = await this.client.sync();
    } catch (err) {
      this.toast(this.explain(err), "error");
    } finally {
      this.syncing = false;
    }
    const report = this.lastReport;
    if (report && !report.offline && (report.rejected || report.needs_review)) {
      this.toast(this.t("sync.toast.attention", { rejected: report.rejected, review: report.needs_review }), "error");
    }
    // outcomes of earlier accepted change-sets change what the screens show too
    const news = report && (report.pushed_ops || report.pulled_changes || report.applied + report.merged
      + report.rejected + report.needs_review);
    if (news && !this.busy()) await this.refresh();
    else await this.refreshSyncBar();
    return report;
  }

  /**
   * True while the engineer is entering something a new render would wipe: a signature being drawn, a
   * field with focus. A sync then only updates the header; the screen shows the news on its next render.
   */
  busy() {
    const active = document.activeElement;
    return document.body.dataset.route === "sign"
      || (active instanceof HTMLElement && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName));
  }

  /** Keep syncing while ops wait (to be sent, or for their results) and the network is there. */
  startBackgroundSync() {
    addEventListener("online", () => {
      void this.refreshSyncBar();
      void this.sync();
    });
    addEventListener("offline", () => void this.refreshSyncBar());
    setInterval(async () => {
      if (!this.online || this.syncing) return;
      // ops to send, or ops the server holds whose results are still to come
      const state = await this.client.reads.syncState();
      if (state.waiting + state.accepted > 0) void this.sync();
    }, WHILE_WAITING_MS);
  }

  /** The header's sync state: offline / syncing / n waiting / last synced at, and the verdicts to look at. */
  async refreshSyncBar() {
    const bar = this.parts.syncBar;
    const device = await this.client.device();
    if (!device) {
      replace(bar);
      return;
    }
    const s = await this.client.reads.syncState();
    const report = this.syncing ? null : this.lastReport;
    const offline = !this.online || Boolean(report?.offline);
    const failed = !offline && Boolean(report?.errors.length);
    const state = this.syncing ? "syncing" : offline ? "offline" : failed ? "error" : s.waiting ? "waiting"
      : s.accepted ? "accepted" : "synced";
    bar.dataset.state = state;
    bar.dataset.waiting = String(s.waiting);
    const words = [this.t(`sync.state.${state}`)];
    if (failed && report) {
      // the first problem in words when the catalogs know its code (a revoked tablet, a bad server key ...)
      const code = report.errors[0].split(":")[0];
      if (this.catalog.has(`reason.${code}`)) words.push(this.t(`reason.${code}`));
    }
    if (s.waiting) words.push(this.t("sync.waiting", { n: s.waiting }));
    // the server holds these (safe) but has not said yet how each op went
    if (s.accepted) words.push(this.t("sync.outcomes_pending", { n: s.accepted }));
    replace(bar,
      h("a", { href: "#/sync", class: "sync-link", id: "sync-state" },
        h("span", { class: `dot ${state}` }), words.join(" · "),
        s.rejected + s.needs_review ? h("span", { class: "badge warn", id: "sync-attention" },
          this.t("sync.attention", { n: s.rejected + s.needs_review })) : null),
      h("span", { class: "last-sync", id: "last-sync" },
        s.last_sync_at ? this.t("sync.last", { when: this.catalog.when(s.last_sync_at) }) : this.t("sync.never")),
      h("button", { type: "button", id: "sync-now", class: "secondary", disabled: this.syncing,
        onclick: () => void this.sync() }, this.t("sync.now")));
  }
}
