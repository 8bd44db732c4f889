"""Van stock is the ledger: after any sequence of office movements and device consumptions, counts match a model."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.domain import EngineerIn, JobIn, TicketIn
from schemas.wire import MovePart
from server.domain.catalog.service import create_engineer
from server.domain.tickets.service import create_job, create_ticket
from server.services import Services
from tests.support import RawDevice

PLAIN = ("P-SEAL", "P-VALVE")
VANS = (0, 1)
qty = st.integers(min_value=1, max_value=5)

step = st.one_of(
    st.tuples(st.just("issue"), st.sampled_from(VANS), st.sampled_from(PLAIN), qty),
    st.tuples(st.just("transfer"), st.sampled_from(VANS), st.sampled_from(PLAIN), qty),
    st.tuples(st.just("adjust"), st.sampled_from(VANS), st.sampled_from(PLAIN),
              st.integers(min_value=-4, max_value=4).filter(bool)),
    st.tuples(st.just("consume"), st.just(0), st.sampled_from(PLAIN), st.integers(min_value=1, max_value=4)),
    st.tuples(st.just("serial_in"), st.sampled_from(VANS), st.just("P-PUMP"), st.just(1)),
    st.tuples(st.just("serial_move"), st.sampled_from(VANS), st.just("P-PUMP"), st.integers(0, 10)),
    st.tuples(st.just("serial_use"), st.just(0), st.just("P-PUMP"), st.integers(0, 10)),
)


def test_van_stock_matches_a_model_of_the_ledger(app_client: Any, services: Services, seeded: Any,
                                                 staff: Any) -> None:
    hdr = staff["backoffice"]
    counter = itertools.count()

    def move(body: dict[str, Any], refused: bool = False) -> None:
        r = app_client.post("/v1/movements", json=body, headers=hdr)
        if refused:  # an office transfer never takes a van below what it holds
            assert r.status_code == 409 and r.json()["code"] == "insufficient_stock", r.text
        else:
            assert r.status_code == 201, r.text

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(steps=st.lists(step, min_size=1, max_size=12))
    def run(steps: list[tuple[str, int, str, int]]) -> None:
        n = next(counter)
        engineers = [f"e-prop{n}a", f"e-prop{n}b"]
        for e in engineers:
            create_engineer(services, EngineerIn(id=e, name=e))
        vans = [f"van-{e}" for e in engineers]
        ticket = create_ticket(services, TicketIn(customer="C", site="S", priority="P3", category="fault"), "t")
        job_id = create_job(services, ticket.id, JobIn(engineer_id=engineers[0])).jobs[0].id
        device = RawDevice(app_client, services, engineers[0])
        model: list[Counter[str]] = [Counter(), Counter()]
        serials: list[set[str]] = [set(), set()]
        made = 0
        for kind, van, part, amount in steps:
            other = 1 - van
            if kind == "issue":
                move({"kind": "issue", "part_no": part, "qty": amount, "from_location": "wh-main",
                      "to_location": vans[van]})
                model[van][part] += amount
            elif kind == "transfer":
                refused = amount > max(0, model[van][part])
                move({"kind": "transfer", "part_no": part, "qty": amount, "from_location": vans[van],
                      "to_location": vans[other]}, refused)
                if not refused:
                    model[van][part] -= amount
                    model[other][part] += amount
            elif kind == "adjust":
                move({"kind": "adjust", "part_no": part, "qty": amount, "to_location": vans[van]})
                model[van][part] += amount
            elif kind == "consume":  # from the engineer's tablet; may take the van below zero
                op = MovePart(**device.stamp(), job_id=job_id, kind="consume", part_no=part, qty=amount)
                assert device.push([op]).results[0].result == "applied"
                model[0][part] -= amount
            elif kind == "serial_in":
                serial = f"PUMP-{n}-{made}"
                made += 1
                move({"kind": "adjust", "part_no": part, "qty": 1, "serial": serial, "to_location": vans[van]})
                serials[van].add(serial)
                model[van][part] += 1
            elif serials[van]:
                serial = sorted(serials[van])[amount % len(serials[van])]
                serials[van].discard(serial)
                model[van][part] -= 1
                if kind == "serial_move":
                    move({"kind": "transfer", "part_no": part, "serial": serial, "from_location": vans[van],
                          "to_location": vans[other]})
                    serials[other].add(serial)
                    model[other][part] += 1
                else:
                    op = MovePart(**device.stamp(), job_id=job_id, kind="consume", part_no=part, serial=serial)
                    assert device.push([op]).results[0].result == "applied"
        negative = set()
        for i, e in enumerate(engineers):
            r = app_client.get(f"/v1/vans/{e}", headers=hdr)
            assert r.status_code == 200, r.text
            van_stock = r.json()
            assert {p["part_no"]: p["qty"] for p in van_stock["parts"] if p["qty"]} == \
                {p: q for p, q in model[i].items() if q}
            assert {s["serial"] for s in van_stock["serials"]} == serials[i]
            negative |= {f"{vans[i]}/{p}" for p, q in model[i].items() if q < 0}
        items = app_client.get("/v1/reconciliation", params={"kind": "negative_van_stock"}, headers=hdr).json()
        assert {i["key"] for i in items["items"] if i["key"].startswith(tuple(vans))} == negative

    run()
