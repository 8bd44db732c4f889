"""An engineer taken off dispatch gets no new job (creating or reassigning one to them is refused) and keeps
what they hold; enabled again, they can be dispatched to."""

from __future__ import annotations

from typing import Any


def test_a_disabled_engineer_gets_no_new_job_until_enabled_again(app_client: Any, staff: Any, seeded: Any) -> None:
    office, dispatch = staff["backoffice"], staff["dispatcher"]
    r = app_client.post("/v1/engineers/e-chen/deactivate", headers=dispatch)
    assert r.status_code == 200 and r.json()["active"] is False, r.text
    assert {e["id"]: e["active"] for e in app_client.get("/v1/engineers", headers=office).json()}["e-chen"] is False
    t = app_client.post("/v1/tickets", json={"customer": "A", "site": "B", "priority": "P3"}, headers=dispatch)
    assert t.status_code == 201, t.text
    r = app_client.post(f"/v1/tickets/{t.json()['id']}/jobs", json={"engineer_id": "e-chen"}, headers=dispatch)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_engineer")
    assert app_client.get("/v1/vans/e-chen", headers=office).status_code == 200  # the van stays
    r = app_client.post("/v1/engineers/e-chen/activate", headers=office)
    assert r.status_code == 200 and r.json()["active"] is True
    r = app_client.post(f"/v1/tickets/{t.json()['id']}/jobs", json={"engineer_id": "e-chen"}, headers=dispatch)
    assert r.status_code == 201, r.text
    assert app_client.post("/v1/engineers/e-nobody/deactivate", headers=office).json()["code"] == "unknown_engineer"
