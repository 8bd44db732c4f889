"""Rescheduling a job (``POST /v1/jobs/{id}/schedule``) and the office's hold: the API the dispatch desk uses."""

from __future__ import annotations

from typing import Any


def _job(app_client: Any, staff: Any) -> tuple[str, str]:
    t = app_client.post("/v1/tickets", headers=staff["dispatcher"],
                        json={"customer": "Acme", "site": "Plant 2", "priority": "P3"}).json()
    j = app_client.post(f"/v1/tickets/{t['id']}/jobs", headers=staff["dispatcher"],
                        json={"engineer_id": "e-ben", "scheduled_start": "2030-03-17T09:00:00Z"}).json()
    return t["id"], j["jobs"][0]["id"]


def test_a_job_moves_to_a_new_window_with_one_event_and_bad_windows_change_nothing(app_client: Any, seeded: Any,
                                                                                   staff: Any) -> None:
    ticket_id, job_id = _job(app_client, staff)
    start, end = "2030-03-17T10:00:00.000Z", "2030-03-17T12:00:00.000Z"
    r = app_client.post(f"/v1/jobs/{job_id}/schedule", headers=staff["dispatcher"],
                        json={"scheduled_start": start, "scheduled_end": end})
    assert r.status_code == 200, r.text
    job = r.json()["jobs"][0]
    assert (job["scheduled_start"], job["scheduled_end"]) == (start, end)
    again = app_client.post(f"/v1/jobs/{job_id}/schedule", headers=staff["dispatcher"],
                            json={"scheduled_start": start, "scheduled_end": end})
    assert [e["kind"] for e in again.json()["timeline"]].count("job_rescheduled") == 1, "the same time: no event"
    for body, code in (({"scheduled_start": end, "scheduled_end": start}, "bad_window"),
                       ({"scheduled_end": end}, "window_needs_start")):
        bad = app_client.post(f"/v1/jobs/{job_id}/schedule", headers=staff["dispatcher"], json=body)
        assert bad.status_code == 400 and bad.json()["code"] == code
    assert app_client.post(f"/v1/jobs/{job_id}/schedule", headers=staff["backoffice"],
                           json={"scheduled_start": start}).status_code == 403
    assert app_client.post(f"/v1/jobs/{job_id}/status", headers=staff["backoffice"],
                           json={"status": "cancelled"}).status_code == 200
    finished = app_client.post(f"/v1/jobs/{job_id}/schedule", headers=staff["dispatcher"],
                               json={"scheduled_start": start})
    assert finished.status_code == 409 and finished.json()["code"] == "job_finished"
    job = app_client.get(f"/v1/jobs/{job_id}", headers=staff["dispatcher"]).json()["job"]
    assert (job["scheduled_start"], job["scheduled_end"]) == (start, end)
    assert ticket_id


def test_the_office_holds_a_job_with_a_reason_only(app_client: Any, seeded: Any, staff: Any) -> None:
    _, job_id = _job(app_client, staff)
    early = app_client.post(f"/v1/jobs/{job_id}/status", headers=staff["backoffice"],
                            json={"status": "on_hold", "hold_reason": "awaiting_parts"})
    assert early.status_code == 409 and early.json()["code"] == "invalid_transition"  # assigned: not yet accepted
    unreasoned = app_client.post(f"/v1/jobs/{job_id}/status", headers=staff["backoffice"], json={"status": "on_hold"})
    assert unreasoned.status_code == 400 and unreasoned.json()["code"] == "hold_reason_required"


def test_a_finished_job_keeps_its_engineer_through_the_api_too(app_client: Any, seeded: Any, staff: Any) -> None:
    """The console refuses to move a finished job; the API the console calls refuses it the same way."""
    _, job_id = _job(app_client, staff)
    assert app_client.post(f"/v1/jobs/{job_id}/status", headers=staff["backoffice"],
                           json={"status": "cancelled"}).status_code == 200
    moved = app_client.post(f"/v1/jobs/{job_id}/assign", headers=staff["dispatcher"], json={"engineer_id": "e-chen"})
    assert moved.status_code == 409 and moved.json()["code"] == "job_finished"
    job = app_client.get(f"/v1/jobs/{job_id}", headers=staff["dispatcher"]).json()["job"]
    assert job["engineer_id"] == "e-ben"
    same = app_client.post(f"/v1/jobs/{job_id}/assign", headers=staff["dispatcher"], json={"engineer_id": "e-ben"})
    assert same.status_code == 200, "naming the engineer it has is no move"
