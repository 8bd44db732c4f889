/* fieldsync console: ticking SLA clocks, live regions refreshed when the data changes, confirm prompts.
   No framework, no network beyond this server. */
(function () {
  "use strict";
  var body = document.body;
  var offset = 0; // server clock minus browser clock, in ms

  function syncClock(serverNow) {
    var n = Number(serverNow);
    if (n > 0) { offset = n - Date.now(); }
  }
  syncClock(body.getAttribute("data-now"));

  // Texts of the page's language, from the console catalog (rendered into data-t-* attributes of <body>).
  function text(name, fallback) { return body.getAttribute("data-t-" + name) || fallback; }
  function fill(template, params) {
    return template.replace(/\{(\w+)\}/g, function (all, key) { return key in params ? String(params[key]) : all; });
  }
  var durs = text("dur", "{d}d {h}h|{h}h {m}m|{m}m {s}s|{s}s").split("|");

  function fmt(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var pad = function (v) { return v < 10 ? "0" + v : String(v); };
    if (d) { return fill(durs[0], { d: d, h: h }); }
    if (h) { return fill(durs[1], { h: h, m: pad(m) }); }
    if (m) { return fill(durs[2], { m: m, s: pad(sec) }); }
    return fill(durs[3], { s: sec });
  }

  function tick() {
    var now = Date.now() + offset;
    var clocks = document.querySelectorAll(".clock[data-ticking][data-due]");
    for (var i = 0; i < clocks.length; i++) {
      var left = Number(clocks[i].getAttribute("data-due")) - now;
      var el = clocks[i].querySelector("[data-left]");
      if (el) { el.textContent = fill(left >= 0 ? text("left", "{d} left") : text("over", "{d} over"), { d: fmt(left) }); }
      if (left < 0 && !clocks[i].classList.contains("breached")) {
        clocks[i].classList.remove("ok", "w50", "w75");
        clocks[i].classList.add("breached");
        clocks[i].setAttribute("data-state", "breached");
        var st = clocks[i].querySelector(".clock-state");
        if (st) { st.textContent = text("breached", "breached"); }
      }
    }
  }

  var version = null;
  var liveUrl = body.getAttribute("data-live-url");
  var pageUrl = body.getAttribute("data-page-url");
  var state = document.getElementById("live-state");

  function setState(text, cls) {
    if (state) { state.textContent = text; state.className = "live " + (cls || ""); }
  }

  function refreshRegions() {
    return fetch(pageUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || !r.ok) { throw new Error("page " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var regions = document.querySelectorAll("[data-live][id]");
        for (var i = 0; i < regions.length; i++) {
          var old = regions[i];
          if (old.contains(document.activeElement) && document.activeElement !== document.body) { continue; }
          var fresh = doc.getElementById(old.id);
          if (fresh) { old.replaceWith(document.importNode(fresh, true)); }
        }
        syncClock(doc.body.getAttribute("data-now"));
        tick();
      })
      .catch(function () { version = null; });
  }

  function poll() {
    fetch(liveUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { setState(text("signed-out", "signed out"), "bad"); return null; }
        if (!r.ok) { throw new Error("live " + r.status); }
        return r.json();
      })
      .then(function (data) {
        if (!data) { return null; }
        syncClock(data.now);
        setState(text("live", "live"), "ok");
        if (version !== null && data.v !== version) {
          version = data.v;
          return refreshRegions();
        }
        version = data.v;
        return null;
      })
      .catch(function () { setState(text("offline", "offline — retrying"), "bad"); })
      .then(function () { window.setTimeout(poll, 3000); });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var msg = form && form.getAttribute && form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });

  // The New ticket form's due times follow its priority and category (and the clock, once a minute).
  var dueSeq = 0;
  function refreshDue() {
    var box = document.getElementById("new-ticket-due");
    var form = document.getElementById("new-ticket");
    if (!box || !form) { return; }
    var query = "?priority=" + encodeURIComponent(form.elements.priority.value) +
      "&category=" + encodeURIComponent(form.elements.category.value);
    var seq = ++dueSeq;
    fetch(box.getAttribute("data-src") + query, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || !r.ok) { throw new Error("due " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("new-ticket-due");
        var current = document.getElementById("new-ticket-due");
        if (seq === dueSeq && fresh && current) { current.replaceWith(document.importNode(fresh, true)); }
      })
      .catch(function () { /* the times shown stay; the next change or minute tries again */ });
  }
  var newTicket = document.getElementById("new-ticket");
  if (newTicket && document.getElementById("new-ticket-due")) {
    newTicket.addEventListener("change", function (ev) {
      var name = ev.target && ev.target.name;
      if (name === "priority" || name === "category") { refreshDue(); }
    });
    window.setInterval(refreshDue, 60000);
    // a form restored by the browser (back button) may show another priority than the page was rendered for
    var box = document.getElementById("new-ticket-due");
    if (box.getAttribute("data-priority") !== newTicket.elements.priority.value ||
        box.getAttribute("data-category") !== newTicket.elements.category.value) { refreshDue(); }
  }

  tick();
  window.setInterval(tick, 1000);
  if (liveUrl) { poll(); }
})();
