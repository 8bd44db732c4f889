"""The public page a report's QR code opens: what was signed, and whether the job still matches it.

Plain server-rendered HTML (Jinja2, autoescaped), in the report's locale, with no
script and no staff session: the link's token is the only key
(:func:`server.domain.signed_reports.service.public_report`).
"""

from __future__ import annotations

from typing import Final

from jinja2 import Environment

from server.domain.signed_reports.service import SignedReport
from service_report.pdf import ReportTexts

_ENV: Final = Environment(autoescape=True)
_PAGE: Final = _ENV.from_string("""<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{{ title }}</title>
<style>body{font-family:sans-serif;max-width:42rem;margin:1rem auto;padding:0 1rem;line-height:1.5}
.ok{background:#e6f4ea;border-left:4px solid #1e8e3e;padding:.5rem}.warn{background:#fdecea;border-left:4px solid
#d93025;padding:.5rem}dt{font-weight:bold}small{color:#555}</style></head><body>
{% if company %}<p><strong>{{ company }}</strong></p>{% endif %}
<h1>{{ title }}</h1>
<p class="{{ 'ok' if ok else 'warn' }}" id="verdict" data-valid="{{ 'true' if valid else 'false' }}"
   data-matches="{{ 'true' if ok else 'false' }}">{{ verdict }}</p>
<h2>{{ signed_heading }}</h2>
<dl>{% for label, value in facts %}<dt>{{ label }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
<p><small>{{ fingerprint }}</small></p>
</body></html>
""")


def render_page(report: SignedReport, problems: list[str]) -> str:
    """The page's HTML for a signed report and the problems its check found."""
    view, bundle = report.view, report.bundle
    c = bundle.content
    t = ReportTexts(view)
    when = t.when(bundle.signed_at)
    if problems:
        verdict = t("page.verdict_bad", problems="; ".join(problems))
    elif report.changed:
        verdict = t("page.verdict_changed", name=bundle.signer_name, when=when)
    else:
        verdict = t("page.verdict_ok", name=bundle.signer_name, when=when)
    facts: list[tuple[str, str]] = [(t(k), v) for k, v in (("customer", view.customer), ("site", view.site),
                                                              ("engineer", view.engineer_name or c.engineer_id)) if v]
    facts += [(t("diagnosis"), c.diagnosis or t("none")), (t("resolution"), c.resolution or t("none"))]
    if c.notes:
        facts.append((t("notes"), c.notes))
    for a in c.answers:
        value = t("answer.not_applicable", reason=a.na_reason) if a.na_reason else str(
            t("answer.yes") if a.value is True else t("answer.no") if a.value is False else a.value)
        facts.append((view.item_labels.get(a.key, a.key), value + (f" — {a.note}" if a.note else "")))
    for p in c.parts:
        info = view.parts.get(p.part_no)
        description = info.description if info and info.description else p.part_no
        facts.append((t("section.parts"), t("parts.line", qty=p.qty, description=description, part_no=p.part_no)))
    facts.append((t("section.photos"), t("page.photos", count=len(c.photos))))
    facts.append((t("section.signoff"), t("signed_by", name=bundle.signer_name, role=t("role.customer")
                                          if bundle.signer_role == "customer" else bundle.signer_role, when=when)))
    return _PAGE.render(lang=t.locale.replace("_", "-"), title=t("page.title", job=c.job_id), ok=not problems
                        and not report.changed, valid=not problems, verdict=verdict, company=view.company.name,
                        signed_heading=t("page.signed_content"), facts=facts,
                        fingerprint=t("page.fingerprint", digest=bundle.report_digest))
