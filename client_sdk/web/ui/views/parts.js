// Parts from the van's stock: what is left, what this job used (with serials), and the old part taken back.

import { h, replace, v } from "../dom.js";

/** @param {import("../app.js").App} app @param {import("./job.js").JobDetail} detail @param {HTMLElement} body */
export async function partsTab(app, detail, body) {
  const stock = await app.client.reads.stock();
  const locked = detail.job.signed_off;
  const byNo = new Map(stock.map((p) => [p.part_no, p]));
  const select = h("select", { id: "part-no", "aria-label": app.t("parts.part") },
    h("option", { value: "" }, app.t("parts.choose")),
    stock.map((p) => h("option", { value: p.part_no, dataset: { serialized: String(p.serialized) } },
      `${p.name} · ${p.part_no} · ${app.t("parts.in_van", { n: p.qty })}`)));
  select.setAttribute("data-v", "");
  const qty = h("input", { id: "part-qty", type: "number", inputmode: "numeric", min: 1, step: 1, value: 1,
    "aria-label": app.t("parts.qty") });
  const serial = h("input", { id: "part-serial", autocomplete: "off", "aria-label": app.t("parts.serial"),
    placeholder: app.t("parts.serial") });
  const returned = h("input", { id: "part-returned", autocomplete: "off", "aria-label": app.t("parts.returned"),
    placeholder: app.t("parts.returned") });
  const serialHint = h("p", { class: "muted", hidden: true }, app.t("parts.serial_needed"));
  select.addEventListener("change", () => {
    const part = byNo.get(select.value);
    serialHint.hidden = !part?.serialized;
    if (part?.serialized) qty.value = "1";
  });
  const use = async () => {
    if (!select.value) {
      app.toast(app.t("parts.choose"), "error");
      return;
    }
    await app.act(() => app.client.writes.usePart(detail.job.id, select.value, Number(qty.value),
      serial.value.trim() || null, returned.value.trim() || null));
  };
  replace(body,
    locked ? null : h("section", { class: "card" },
      h("h2", {}, app.t("parts.use_title")),
      h("div", { class: "form-grid" },
        h("label", { for: "part-no" }, app.t("parts.part")), select,
        h("label", { for: "part-qty" }, app.t("parts.qty")), qty,
        h("label", { for: "part-serial" }, app.t("parts.serial")), serial,
        h("label", { for: "part-returned" }, app.t("parts.returned")), returned),
      serialHint,
      h("button", { type: "button", id: "use-part", onclick: () => void use() }, app.t("parts.use"))),
    h("section", { class: "card" },
      h("h2", {}, app.t("parts.used_title")),
      detail.movements.filter((m) => m.kind === "consume").length
        ? h("table", { class: "parts", id: "used-parts" },
          h("thead", {}, h("tr", {}, ["parts.part", "parts.qty", "parts.serial", "parts.returned", "parts.state"]
            .map((k) => h("th", {}, app.t(k))))),
          h("tbody", {}, detail.movements.filter((m) => m.kind === "consume").map((m) => h("tr", { dataset: { movement: m.id } },
            h("td", {}, v(m.name || m.part_no), " ", v(m.part_no, "mono muted")),
            h("td", {}, v(m.qty)),
            h("td", {}, v(m.serial ?? "—", "mono")),
            h("td", {}, v(m.returned_serial ?? "—", "mono")),
            h("td", {}, m.pending ? h("span", { class: "badge" }, app.t("answer.waiting"))
              : h("span", { class: "tag ok" }, app.t(m.billable === false ? "parts.warranty" : m.billable ? "parts.billable" : "parts.recorded")))))))
        : h("p", { class: "muted", id: "no-parts" }, app.t("parts.none"))),
    h("section", { class: "card" },
      h("h2", {}, app.t("parts.van_title")),
      h("table", { class: "parts", id: "van-stock" },
        h("tbody", {}, stock.map((p) => h("tr", { dataset: { part: p.part_no } },
          h("td", {}, v(p.name)), h("td", {}, v(p.part_no, "mono")),
          h("td", { class: p.qty < 0 ? "bad" : "" }, v(p.qty))))))));
}
