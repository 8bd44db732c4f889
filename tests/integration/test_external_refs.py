"""ERP references on stock movements and catalog parts: unique, returned, filterable; a duplicate books nothing."""

from __future__ import annotations

from typing import Any

import pytest

MOVE = {"kind": "transfer", "part_no": "P-VALVE", "qty": 2, "from_location": "van-e-ana", "to_location": "van-e-ben"}


def stock(client: Any, headers: dict[str, str]) -> dict[tuple[str, str], int]:
    r = client.get("/v1/stock", headers=headers)
    assert r.status_code == 200, r.text
    return {(s["location"], s["part_no"]): s["qty"] for s in r.json()}


def test_a_movement_keeps_its_erp_reference_and_a_second_one_with_it_books_nothing(
        app_client: Any, seeded: Any, staff: Any) -> None:
    hdr = staff["backoffice"]
    first = app_client.post("/v1/movements", headers=hdr, json={**MOVE, "external_ref": "ERP-GI-100"})
    assert first.status_code == 201, first.text
    assert first.json()["external_ref"] == "ERP-GI-100"
    before = stock(app_client, hdr)

    again = app_client.post("/v1/movements", headers=hdr, json={**MOVE, "qty": 1, "external_ref": "ERP-GI-100"})
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "external_ref_exists" and again.json()["movement_id"] == first.json()["id"]
    assert stock(app_client, hdr) == before  # nothing booked

    found = app_client.get("/v1/movements", params={"external_ref": "ERP-GI-100"}, headers=hdr)
    assert found.status_code == 200 and [m["id"] for m in found.json()] == [first.json()["id"]]
    assert app_client.get("/v1/movements", params={"external_ref": "nope"}, headers=hdr).json() == []
    # movements without a reference are as many as wanted (here: the two valves back, one at a time)
    back = {**MOVE, "qty": 1, "from_location": "van-e-ben", "to_location": "van-e-ana"}
    for _ in range(2):
        r = app_client.post("/v1/movements", headers=hdr, json=back)
        assert r.status_code == 201 and r.json()["external_ref"] is None, r.text


def test_a_part_keeps_its_erp_reference_which_no_other_part_may_take(app_client: Any, seeded: Any,
                                                                     staff: Any) -> None:
    hdr = staff["backoffice"]
    r = app_client.post("/v1/parts", headers=hdr, json={"part_no": "P-ERP-1", "name": "Gasket",
                                                        "external_ref": "MAT-0001"})
    assert r.status_code == 201 and r.json()["external_ref"] == "MAT-0001", r.text
    # an update without the reference keeps it
    r = app_client.post("/v1/parts", headers=hdr, json={"part_no": "P-ERP-1", "name": "Gasket 40 mm"})
    assert r.status_code == 201 and r.json()["external_ref"] == "MAT-0001", r.text
    taken = app_client.post("/v1/parts", headers=hdr, json={"part_no": "P-ERP-2", "name": "Seal",
                                                            "external_ref": "MAT-0001"})
    assert taken.status_code == 409 and taken.json()["code"] == "external_ref_exists", taken.text
    assert taken.json()["part_no"] == "P-ERP-1"
    listed = app_client.get("/v1/parts", params={"external_ref": "MAT-0001"}, headers=hdr).json()
    assert [(p["part_no"], p["name"]) for p in listed] == [("P-ERP-1", "Gasket 40 mm")]
    assert all(p["part_no"] != "P-ERP-2" for p in app_client.get("/v1/parts", headers=hdr).json())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("ref", ["", "x" * 201])
def test_an_empty_or_long_reference_is_400(app_client: Any, seeded: Any, staff: Any, ref: str) -> None:
    r = app_client.post("/v1/movements", headers=staff["backoffice"], json={**MOVE, "external_ref": ref})
    assert r.status_code == 400 and r.json()["code"] == "invalid_body", r.text
