"""The tablet and the server give the same verdict on the same op (issue 18, "rules as one source").

Hypothesis writes one op per example (statuses and hold reasons, text of every
device field at and past its limit, quantities, ratings, answers with and
without ``na_reason``, strokes at and past their limits, event times at and
past their bounds) on a fresh job in a chosen state, through the real SDK
against the Litestar app in-process:

- the SDK accepts it  <=> the server does not reject it (the SDK's own push is
  applied, merged or sent to review), so a tablet never acknowledges offline
  what the server then refuses;
- the SDK raises with reason R  <=> the same op, pushed by another device of
  the same engineer, is ``rejected(R)``.  The only refusals the server turns
  into review items instead are the status machine's (a transition the job
  cannot make, a second sign-off): the server keeps that field work for review.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from client_sdk import FieldClient
from client_sdk.errors import WriteRefused
from schemas import rules
from schemas.domain import ChecklistItem, ChecklistTemplateIn, JobIn, TicketIn
from schemas.wire import AnswerItem, Attach, MovePart, Op, SetField, SetStatus, SignOff
from server.app import create_app
from server.domain.catalog.service import publish_template
from server.domain.devices.service import issue_enroll_token
from server.domain.tickets.service import create_job, create_ticket
from server.ratelimit import RateLimiter
from server.services import Services
from server.settings import get_settings
from sync.core.changeset import digest
from sync.core.signoff import report_digest, sign_off_message
from sync.storage import open_database
from tests.conftest import Clock
from tests.support import RawDevice
from tools.demo_data import seed_demo

#: refusals of the status machine: the server keeps such field work for review instead of rejecting it
REVIEWED = {"transition_not_allowed", "not_signable_in_status", "already_signed_off"}
#: refused by the tablet only, kept by the server: a plain edit of signed content (the server flags the job
#: changed_after_signoff; a tablet makes the change an amendment with a reason, see docs/protocol.md §8.4)
KEPT = {"signed_content_needs_amend"}

TEMPLATE = [
    ChecklistItem(key="ok", label="Works", type="pass_fail", required=True),
    ChecklistItem(key="temp", label="Temperature", type="number", min=0, max=100, required=False),
    ChecklistItem(key="cond", label="Condition", type="choice", choices=["good", "poor"], required=False),
    ChecklistItem(key="remarks", label="Remarks", type="text", required=False),
    ChecklistItem(key="plate", label="Plate photo", type="photo", required=False),
]

#: how a fresh job is brought into a state before the op under test (each step through the SDK, then synced)
STATES: dict[str, list[tuple[str, Any]]] = {
    "assigned": [],
    "accepted": [("status", "accepted")],
    "on_hold": [("status", "accepted"), ("hold", "awaiting_parts")],
    "on_site": [("status", "on_site")],
    "in_progress": [("status", "on_site"), ("status", "in_progress")],
    "completed": [("status", "on_site"), ("answer", ("ok", True)), ("status", "completed")],
    "signed": [("status", "on_site"), ("answer", ("ok", True)), ("status", "completed"), ("sign", None)],
}

NOW = 1_790_000_000_000
TIMES = [rules.EVENT_TIME_MIN_MS - 1, rules.EVENT_TIME_MIN_MS, rules.EVENT_TIME_MAX_MS - 1, rules.EVENT_TIME_MAX_MS,
         0, 1, NOW - 10 * 365 * 86_400_000, NOW + 86_400_000, -(2**63), 2**63 - 1, 2**63]


def texts(limit: int, nullable: bool = True) -> st.SearchStrategy[str | None]:
    """Texts at the interesting lengths of a field: empty, short, at the limit, one past it, with a NUL."""
    # mostly fine values, so the ops behind a text also meet their other rules
    values: list[str | None] = ["ok", "ok", "ok", "", "x" * limit, "y" * (limit + 1), "a\x00b"]
    return st.sampled_from([None, None, None, *values] if nullable else values)


def strokes() -> st.SearchStrategy[list[list[int]]]:
    points = rules.MAX_STROKE_POINTS
    return st.sampled_from([
        [[10, 20, 30, 40]],
        [[10, 20, 30, 40]],
        [[10, 20, 30, 40]],
        [],
        [[1, 2]] * rules.MAX_STROKES,
        [[1, 2]] * (rules.MAX_STROKES + 1),
        [[7] * points, [8] * points],  # exactly the points allowed
        [[7] * points, [8] * (points + 2)],  # one point too many
        [[2**63 - 1, -(2**63)]],
    ])


LIMITS = rules.TEXT_LIMITS
OPS = st.one_of(
    st.tuples(st.just("status"), st.fixed_dictionaries({
        "status": st.sampled_from([*rules.DEVICE_STATUSES * 3, *rules.JOB_STATUSES, "teleported"]),
        "hold_reason": st.sampled_from([None, None, None, *rules.HOLD_REASONS, "bored"]),
        "note": texts(LIMITS["job.status"]["note"])})),
    st.tuples(st.just("field"), st.one_of(
        st.fixed_dictionaries({"field": st.sampled_from(sorted(LIMITS["job.field"])),
                               "value": texts(LIMITS["job.field"]["notes"])}),
        st.fixed_dictionaries({"field": st.just("remote"), "value": st.sampled_from([True, False, None, "yes", 1])}),
        st.fixed_dictionaries({"field": st.just("rating"),
                               "value": st.sampled_from([None, 0, 1, 5, 6, True, -1, 2**64 - 1, "5"])}))),
    st.tuples(st.just("answer"), st.fixed_dictionaries({
        "item_key": st.sampled_from(["ok", "temp", "cond", "remarks", "plate", "nope"]),
        "value": st.sampled_from([None, True, False, 0, 50, 100.0, 101, -0.5, 2**64 - 1, "good", "bad", "",
                                  "z" * (LIMITS["checklist.answer"]["value"] + 1), "ab" * 32]),
        "note": texts(LIMITS["checklist.answer"]["note"]),
        "na_reason": st.sampled_from([None, None, None, "no access", "  ",
                                      "n" * (LIMITS["checklist.answer"]["na_reason"] + 1)]),
    })),
    st.tuples(st.just("move"), st.fixed_dictionaries({
        "part_no": st.sampled_from(["P-IGN", "P-PCB", "P-NOPE"]),
        "qty": st.sampled_from([1, 1, 2, -1, 0, rules.QTY_MAX, rules.QTY_MAX + 1, 2**63, 2**64 - 1]),
        "serial": texts(LIMITS["part.move"]["serial"]),
        "returned_serial": texts(LIMITS["part.move"]["returned_serial"]),
    })),
    st.tuples(st.just("signoff"), st.fixed_dictionaries({
        "signer_name": texts(LIMITS["signoff"]["signer_name"], nullable=False),
        "signer_role": texts(LIMITS["signoff"]["signer_role"], nullable=False),
        "comment": texts(LIMITS["signoff"]["comment"]),
        "rating": st.sampled_from([None, None, None, 0, 1, 5, 6]),
        "strokes": strokes(),
    })),
    st.tuples(st.just("attach"), st.fixed_dictionaries({
        "kind": st.sampled_from(["photo", "signature", "document"]),
        "content_type": st.sampled_from(["image/jpeg", "", "c" * (LIMITS["attachment"]["content_type"] + 1),
                                         "image/\x00"]),
    })),
)


@dataclass
class TabletClock:
    """The tablet's clock: the server's time, or a chosen instant while one write is made."""

    services: Services
    fixed: int | None = None

    def __call__(self) -> int:
        return self.fixed if self.fixed is not None else self.services.clock()


@dataclass
class World:
    services: Services
    http: TestClient[Any]
    tablet: FieldClient
    clock: TabletClock
    other: RawDevice
    jobs: int = 0
    seen: dict[str, set[str]] = field(default_factory=dict)

    def fresh_job(self) -> str:
        t = create_ticket(self.services, TicketIn(customer="Rules Ltd", site="Lab", priority="P2"), "test")
        ticket = create_job(self.services, t.id, JobIn(engineer_id="e-ana", checklist_template="rules-check"))
        self.jobs += 1
        return ticket.jobs[-1].id


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False),
                        clock=Clock(NOW), limiter=RateLimiter(rate=1e6, burst=1_000_000))
    seed_demo(services)
    publish_template(services, ChecklistTemplateIn(id="rules-check", name="Rules check", items=TEMPLATE))
    with TestClient(create_app(services=services, scheduler=False)) as http:
        clock = TabletClock(services)
        tablet = FieldClient.open(tmp_path / "tablet.db", transport=http, clock=clock)
        token, _ = issue_enroll_token(services, "e-ana")
        tablet.enroll(token)
        yield World(services, http, tablet, clock, RawDevice(http, services, "e-ana"))
        tablet.close()
    services.db.close()


def prepare(w: World, job_id: str, state: str) -> None:
    assert w.tablet.sync().ok
    for step, arg in STATES[state]:
        if step == "status":
            w.tablet.set_status(job_id, arg)
        elif step == "hold":
            w.tablet.set_status(job_id, "on_hold", hold_reason=arg)
        elif step == "answer":
            w.tablet.answer(job_id, *arg)
        else:
            w.tablet.sign_off(job_id, "Ada Customer", [[1, 2, 3, 4]])
    report = w.tablet.sync()
    assert report.ok and not w.tablet.op_results("rejected"), (report, w.tablet.op_results("rejected"))


def write_on_tablet(w: World, job_id: str, kind: str, p: dict[str, Any]) -> str:
    """Make the write through the SDK; return its op id (raises WriteRefused when refused)."""
    t = w.tablet
    if kind == "status":
        return t.set_status(job_id, p["status"], hold_reason=p["hold_reason"], note=p["note"])
    if kind == "field":
        return t.set_field(job_id, p["field"], p["value"])
    if kind == "answer":
        return t.answer(job_id, p["item_key"], p["value"], note=p["note"], na_reason=p["na_reason"])
    if kind == "move":
        return t.use_part(job_id, p["part_no"], qty=p["qty"], serial=p["serial"],
                          returned_serial=p["returned_serial"])
    if kind == "signoff":
        t.sign_off(job_id, p["signer_name"], p["strokes"], signer_role=p["signer_role"], rating=p["rating"],
                   comment=p["comment"])
    else:
        t.attach(job_id, b"\xff\xd8\xff" + job_id.encode(), kind=p["kind"], content_type=p["content_type"] or None)
    return t.pending()[-1].op_id


def same_op_from_another_device(w: World, job_id: str, kind: str, p: dict[str, Any], at: int) -> Op:
    """The op the SDK would have sent, made and signed by another tablet of the same engineer."""
    stamp = {**w.other.stamp(), "job_id": job_id, "at": at}
    if kind == "status":
        return SetStatus(**stamp, status=p["status"], hold_reason=p["hold_reason"], note=p["note"])
    if kind == "field":
        return SetField(**stamp, field=p["field"], value=p["value"])
    if kind == "answer":
        return AnswerItem(**stamp, item_key=p["item_key"], value=p["value"], note=p["note"],
                          na_reason=p["na_reason"], template_version=1)
    if kind == "move":
        return MovePart(**stamp, kind="consume", part_no=p["part_no"], qty=p["qty"], serial=p["serial"],
                        returned_serial=p["returned_serial"])
    if kind == "signoff":
        content_digest = report_digest(w.tablet.report_content(job_id))
        name = p["signer_name"]
        signature = w.other.key.sign(sign_off_message(job_id, content_digest, at, name))
        return SignOff(**stamp, signer_name=name, signer_role=p["signer_role"], signed_at=at,
                       report_digest=content_digest, strokes=p["strokes"], device_signature=signature,
                       rating=p["rating"], comment=p["comment"])
    data = b"\xff\xd8\xff" + job_id.encode()
    return Attach(**stamp, sha256=digest(data), kind=p["kind"], size=len(data),
                  content_type=p["content_type"] or "image/jpeg")


SIGNOFF = {"signer_name": "Ada", "signer_role": "customer", "comment": None, "rating": 5}
POINTS = rules.MAX_STROKE_POINTS


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(state=st.sampled_from(sorted(STATES)), op=OPS, at=st.one_of(st.none(), st.none(), st.sampled_from(TIMES)))
@example(state="completed", op=("signoff", {**SIGNOFF, "strokes": [[7] * POINTS, [8] * POINTS]}), at=None)
@example(state="completed", op=("signoff", {**SIGNOFF, "strokes": [[7] * POINTS, [8] * (POINTS + 2)]}), at=None)
@example(state="on_site", op=("status", {"status": "completed", "hold_reason": None, "note": None}), at=None)
@example(state="on_site", op=("move", {"part_no": "P-IGN", "qty": rules.QTY_MAX + 1, "serial": None,
                                       "returned_serial": None}), at=None)
@example(state="on_site", op=("answer", {"item_key": "temp", "value": "3 MB of text", "note": None,
                                         "na_reason": "gauge broken"}), at=None)
@example(state="on_site", op=("status", {"status": "in_progress", "hold_reason": None, "note": None}),
         at=rules.EVENT_TIME_MAX_MS)
@example(state="on_site", op=("status", {"status": "in_progress", "hold_reason": None, "note": None}),
         at=rules.EVENT_TIME_MAX_MS - 1)
def test_sdk_and_server_give_the_same_verdict(world: World, state: str, op: tuple[str, dict[str, Any]],
                                              at: int | None) -> None:
    w = world
    kind, params = op
    job_id = w.fresh_job()
    prepare(w, job_id, state)
    w.clock.fixed = at
    try:
        op_id = write_on_tablet(w, job_id, kind, params)
        refused: str | None = None
    except WriteRefused as exc:
        refused = exc.reason
    finally:
        w.clock.fixed = None
    w.seen.setdefault(kind, set()).add(refused or "accepted")
    if refused is None:
        report = w.tablet.sync()
        assert report.ok, report.errors
        [outcome] = [o for o in w.tablet.op_results() if o.op_id == op_id]
        assert outcome.result != "rejected", (kind, params, at, outcome)
        return
    sent = same_op_from_another_device(w, job_id, kind, params, w.services.clock() if at is None else at)
    [result] = w.other.push([sent]).results
    if refused in REVIEWED:
        assert result.result in ("needs_review", "merged"), (kind, params, at, refused, result)
    elif refused in KEPT:
        assert result.result != "rejected", (kind, params, at, refused, result)
    else:
        assert (result.result, result.reason) == ("rejected", refused), (kind, params, at, refused, result)
