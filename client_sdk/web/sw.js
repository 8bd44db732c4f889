// The app's service worker: it keeps the whole app shell (every file the app needs, its rules and its
// catalogs) so that after the first load the app opens and works with no network at all, for days.
//
// The server writes the shell's file list and version into SHELL below when it serves this file; any change
// to the app changes the version, so the browser installs the new shell and drops the old one. Shell files
// are answered from the cache first; everything else (the sync protocol under /v1, /tablet/api) goes to
// the network untouched.

const SHELL = /** @type {{version: string, files: string[]}} */ (/*SHELL*/{"version":"dev","files":[]}/*SHELL*/);
const PREFIX = "fieldsync-tablet-";
const CACHE = PREFIX + SHELL.version;
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

sw.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.files.map((url) => new Request(url, { cache: "reload" })));
    await sw.skipWaiting();
  })());
});

sw.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await sw.clients.claim();
  })());
});

sw.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== sw.location.origin || !url.pathname.startsWith("/tablet/")) return;
  if (url.pathname.startsWith("/tablet/api/")) return;
  const key = request.mode === "navigate" ? "/tablet/" : url.pathname;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(key);
    return hit ?? fetch(request);
  })());
});
