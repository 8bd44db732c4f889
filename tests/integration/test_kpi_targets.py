"""KPI targets: the management sets one per KPI, any staff member reads them, and a value meets its target
the KPI's way (rates at or above, mean times at or below)."""

from __future__ import annotations

from typing import Any

import pytest

from server.domain.kpis.service import target_met


def test_targets_are_set_listed_replaced_and_cleared(app_client: Any, staff: Any) -> None:
    admin, office = staff["admin"], staff["backoffice"]
    assert app_client.get("/v1/kpis/targets", headers=office).json() == []
    r = app_client.put("/v1/kpis/targets/first_time_fix_rate", json={"target": 0.8}, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["kpi"], body["target"], body["better"]) == ("first_time_fix_rate", 0.8, "more")
    assert body["set_at"].endswith("Z") and "T" in body["set_at"]  # RFC 3339, UTC
    app_client.put("/v1/kpis/targets/mean_restore_min", json={"target": 240}, headers=admin)
    app_client.put("/v1/kpis/targets/first_time_fix_rate", json={"target": 0.85}, headers=admin)
    listed = app_client.get("/v1/kpis/targets", headers=office).json()
    assert [(t["kpi"], t["target"], t["better"]) for t in listed] == [
        ("first_time_fix_rate", 0.85, "more"), ("mean_restore_min", 240.0, "less")]
    assert app_client.delete("/v1/kpis/targets/mean_restore_min", headers=admin).status_code == 204
    assert app_client.delete("/v1/kpis/targets/mean_restore_min", headers=admin).status_code == 204
    assert [t["kpi"] for t in app_client.get("/v1/kpis/targets", headers=office).json()] == ["first_time_fix_rate"]


@pytest.mark.parametrize(("kpi", "body", "status", "code"), [
    ("first_time_fix_rate", {"target": 1.5}, 400, "bad_target"),
    ("satisfaction", {"target": 0}, 400, "bad_target"),
    ("mean_respond_min", {"target": -1}, 400, "bad_target"),
    ("first_time_fix_rate", {"target": "high"}, 400, "invalid_body"),
    ("first_time_fix_rate", {"target": 0.5, "note": "x"}, 400, "invalid_body"),
    ("tickets", {"target": 3}, 404, "unknown_kpi"),
])
def test_a_bad_target_is_refused_and_nothing_is_written(app_client: Any, staff: Any, kpi: str, body: Any,
                                                        status: int, code: str) -> None:
    r = app_client.put(f"/v1/kpis/targets/{kpi}", json=body, headers=staff["admin"])
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert app_client.get("/v1/kpis/targets", headers=staff["admin"]).json() == []


def test_a_value_meets_its_target_the_kpis_way() -> None:
    assert target_met("first_time_fix_rate", 0.8, 0.8) is True
    assert target_met("first_time_fix_rate", 0.79, 0.8) is False
    assert target_met("mean_restore_min", 200, 240) is True
    assert target_met("mean_restore_min", 241, 240) is False
    assert target_met("satisfaction", None, 4) is None
