// The customer signs the report they just read: their name, their signature on the pad, then the
// write-once sign-off (the digest of exactly that content, countersigned by the device key).

import { href } from "../app.js";
import { h, replace, v } from "../dom.js";
import { reportDigest } from "../../engine/report.js";
import { SignaturePad } from "../signature_pad.js";
import { reportDocument } from "./report.js";

/** @type {import("../app.js").View} */
export async function signView(app, route, root) {
  const detail = await app.client.reads.job(route.params.job);
  if (!detail) {
    replace(root, h("p", { class: "empty" }, app.t("job.not_found")));
    return;
  }
  const { job } = detail;
  const back = href("job", { job: job.id, tab: "report" });
  if (job.signed_off || detail.signoff) {
    location.replace(back);
    return;
  }
  const content = await app.client.reads.reportContent(job.id);
  const digest = await reportDigest(content);
  const name = h("input", { id: "signer", autocomplete: "off", maxlength: app.client.rules.doc.text_limits.signoff.signer_name,
    placeholder: app.t("sign.name"), "aria-label": app.t("sign.name") });
  const canvas = h("canvas", { class: "pad", id: "pad", "aria-label": app.t("sign.pad") });
  const submit = h("button", { type: "button", id: "sign-submit", disabled: true }, app.t("sign.submit"));
  const update = () => { submit.disabled = pad.isEmpty || !name.value.trim(); };
  const pad = new SignaturePad(canvas, update);
  name.addEventListener("input", update);
  submit.addEventListener("click", async () => {
    submit.disabled = true;
    const ok = await app.act(() => app.client.signOff(job.id, name.value.trim(), pad.strokes));
    if (ok) {
      app.toast(app.t("sign.done"));
      await app.go(back);
    } else {
      update();
    }
  });
  replace(root,
    h("p", {}, h("a", { href: back, class: "link" }, app.t("sign.back"))),
    await reportDocument(app, detail, content, digest),
    h("section", { class: "card sign" },
      h("h2", {}, app.t("sign.title")),
      h("p", {}, app.t("sign.confirms"), " ", v(digest.slice(0, 16), "mono")),
      h("label", { for: "signer" }, app.t("sign.name")), name,
      h("p", { class: "muted" }, app.t("sign.pad_hint")),
      canvas,
      h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", id: "pad-clear", onclick: () => pad.clear() }, app.t("sign.clear")),
        submit)));
}
