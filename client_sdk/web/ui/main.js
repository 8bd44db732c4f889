// Boot: the service worker (so the app opens with no network at all), durable storage, the rules and the
// catalog, the engine, the screens, and sync in the background.

import { TabletClient } from "../engine/client.js";
import { ed25519Supported } from "../engine/keys.js";
import { App } from "./app.js";
import { h, replace } from "./dom.js";
import { Catalog, LOCALES, currentLocale, rememberLocale } from "./i18n.js";
import { enrollView } from "./views/enroll.js";
import { jobView } from "./views/job.js";
import { jobsView } from "./views/jobs.js";
import { kbView } from "./views/kb.js";
import { signView } from "./views/sign.js";
import { syncView } from "./views/sync.js";

const LANGUAGE_NAMES = { zh_CN: "中文", en: "English" };

async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("/tablet/sw.js", { scope: "/tablet/" });
  } catch (err) {
    console.warn("service worker not registered", err);
  }
}

async function main() {
  void registerServiceWorker();
  // ask the browser to keep this app's data under storage pressure (granted for installed apps)
  void navigator.storage?.persist?.().then((granted) => { document.body.dataset.persisted = String(granted); });
  const locale = currentLocale();
  document.documentElement.lang = locale.replace("_", "-");
  const [catalog, rules] = await Promise.all([
    Catalog.load(locale),
    fetch("/tablet/rules.json").then((r) => r.json()),
  ]);
  document.title = catalog.t("app.title");
  const main = /** @type {HTMLElement} */ (document.getElementById("main"));
  if (!(await ed25519Supported())) {
    replace(main, h("p", { class: "error", role: "alert" }, catalog.t("error.no_ed25519")));
    return;
  }
  const client = await TabletClient.open({ baseUrl: location.origin, rules });
  const app = new App(client, catalog, { enroll: enrollView, jobs: jobsView, job: jobView, sign: signView, sync: syncView,
    kb: kbView }, {
    main, syncBar: /** @type {HTMLElement} */ (document.getElementById("sync-bar")),
    toast: /** @type {HTMLElement} */ (document.getElementById("toasts")),
  });
  renderChrome(app);
  addEventListener("hashchange", () => {
    app.clearErrors();
    void app.refresh();
  });
  await app.refresh();
  app.startBackgroundSync();
  if (app.online && (await client.device())) void app.sync();
  Object.assign(window, { fieldsync: app }); // for the browser tests and for support on a tablet's console
}

/** The header's title and language switch. @param {App} app */
function renderChrome(app) {
  const title = /** @type {HTMLElement} */ (document.getElementById("app-title"));
  replace(title, h("a", { href: "#/jobs" }, app.t("app.title")));
  const select = h("select", { id: "lang", "data-v": "", "aria-label": app.t("app.language"),
    onchange: (/** @type {Event} */ e) => {
      rememberLocale(/** @type {import("./i18n.js").Locale} */ (/** @type {HTMLSelectElement} */ (e.target).value));
      location.reload();
    } }, LOCALES.map((l) => h("option", { value: l, selected: l === app.catalog.locale, lang: l.replace("_", "-") },
    LANGUAGE_NAMES[l])));
  replace(/** @type {HTMLElement} */ (document.getElementById("lang-switch")), select);
}

main().catch((err) => {
  const main = document.getElementById("main");
  if (main) replace(main, h("pre", { class: "error", role: "alert" }, String(err?.stack ?? err)));
});
