// Setting up the tablet: the one-time token from the console, pasted, opened as the enrollment link
// (<server>/tablet/#/enroll?token=...), or scanned from the console's QR code where the browser can.

import { h, replace } from "../dom.js";

/** The token in what was pasted or scanned: the link's `token` parameter, else the text itself. @param {string} text */
export function tokenFrom(text) {
  const trimmed = text.trim();
  const match = /[#?&]token=([^&#\s]+)/.exec(trimmed);
  if (match) {
    try {
      return decodeURIComponent(match[1]);
    } catch {
      return match[1];
    }
  }
  return trimmed;
}

/** @type {import("../app.js").View} */
export async function enrollView(app, route, root) {
  if (await app.client.device()) {
    replace(root, h("p", {}, app.t("enroll.done")), h("a", { href: "#/jobs", class: "button" }, app.t("nav.jobs")));
    return;
  }
  const input = h("input", { id: "token", name: "token", autocomplete: "off", spellcheck: "false",
    placeholder: app.t("enroll.token.placeholder"), "aria-label": app.t("enroll.token.label"),
    value: route.query.get("token") ?? "" });
  const error = h("p", { id: "enroll-error", class: "error", role: "alert" });
  const button = h("button", { type: "submit", id: "enroll" }, app.t("enroll.submit"));
  const status = h("p", { id: "enroll-status", class: "muted" });

  const enroll = async () => {
    const token = tokenFrom(input.value);
    if (!token) {
      replace(error, app.t("enroll.error.token_missing"));
      return;
    }
    button.disabled = true;
    replace(error);
    replace(status, app.t("enroll.working"));
    try {
      await app.client.enroll(token, app.t("enroll.device_name"));
    } catch (err) {
      replace(error, app.explain(err));
      replace(status);
      button.disabled = false;
      return;
    }
    history.replaceState(null, "", "#/jobs");
    app.toast(app.t("enroll.success"));
    await app.sync();
  };

  const form = h("form", { class: "card enroll", onsubmit: (/** @type {Event} */ e) => {
    e.preventDefault();
    void enroll();
  } },
  h("h1", {}, app.t("enroll.title")),
  h("p", {}, app.t("enroll.intro")),
  h("label", { for: "token" }, app.t("enroll.token.label")), input, button, status, error);

  if ("BarcodeDetector" in window && "mediaDevices" in navigator) {
    form.append(h("button", { type: "button", id: "scan", class: "secondary",
      onclick: () => void scan(app, (text) => {
        input.value = tokenFrom(text);
        void enroll();
      }) }, app.t("enroll.scan")));
  }
  replace(root, form);
  // not awaited: the enrollment ends in a sync, which renders again once this render is done
  if (route.query.get("token") && app.online) void enroll();
}

/**
 * Scan the console's QR code with the camera until one is read (or the engineer closes the scanner).
 * @param {import("../app.js").App} app @param {(text: string) => void} found
 */
async function scan(app, found) {
  /** @type {any} */
  const Detector = /** @type {any} */ (window).BarcodeDetector;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch {
    app.toast(app.t("enroll.scan.no_camera"), "error");
    return;
  }
  const video = h("video", { autoplay: true, playsinline: true, muted: true });
  video.srcObject = stream;
  let open = true;
  const close = () => {
    open = false;
    for (const track of stream.getTracks()) track.stop();
    dialog.remove();
  };
  const dialog = h("div", { class: "scanner", role: "dialog", "aria-label": app.t("enroll.scan") }, video,
    h("button", { type: "button", class: "secondary", onclick: close }, app.t("action.close")));
  document.body.append(dialog);
  const detector = new Detector({ formats: ["qr_code"] });
  while (open) {
    try {
      const codes = await detector.detect(video);
      if (codes.length) {
        close();
        found(String(codes[0].rawValue));
        return;
      }
    } catch {
      // the first frames may not be ready yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
