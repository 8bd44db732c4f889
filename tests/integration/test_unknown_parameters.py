"""A query parameter an endpoint does not take is a 400 naming it, never silently ignored.

What an endpoint takes is what the OpenAPI document says, the document integrators generate clients from.
"""

from __future__ import annotations

from typing import Any

from server.services import Services


def test_movements_with_format_csv_is_refused_naming_the_parameter(app_client: Any, seeded: Any,
                                                                   staff: Any) -> None:
    r = app_client.get("/v1/movements", params={"format": "csv"}, headers=staff["backoffice"])
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "unknown_parameter" and body["parameters"] == ["format"]
    assert "format" in body["detail"]
    zh = app_client.get("/v1/movements", params={"format": "csv"},
                        headers={**staff["backoffice"], "accept-language": "zh-CN"}).json()
    assert zh["code"] == "unknown_parameter" and "format" in zh["detail"] and "参数" in zh["detail"]


def test_parameters_an_endpoint_takes_still_work(app_client: Any, seeded: Any, staff: Any) -> None:
    assert app_client.get("/v1/tickets", params={"status": "open"}, headers=staff["backoffice"]).status_code == 200
    assert app_client.get("/v1/kpis", params={"format": "csv"}, headers=staff["backoffice"]).status_code == 200


def test_a_write_with_an_unknown_parameter_stores_nothing(app_client: Any, seeded: Any, staff: Any,
                                                          services: Services) -> None:
    with services.db.read() as tx:
        before = tx.one("SELECT count(*) AS n FROM tickets")
    r = app_client.post("/v1/tickets", params={"dry_run": "1"}, headers=staff["dispatcher"],
                        json={"customer": "Acme", "site": "Plant 1", "priority": "P1", "title": "Boiler down"})
    assert r.status_code == 400 and r.json()["parameters"] == ["dry_run"]
    with services.db.read() as tx:
        assert tx.one("SELECT count(*) AS n FROM tickets") == before


def test_every_documented_get_refuses_a_made_up_parameter(app_client: Any, seeded: Any, staff: Any) -> None:
    """Each GET of the document without path parameters, asked with ``?zz_unknown=1``: a 400 naming it."""
    paths = app_client.get("/schema/openapi.json").json()["paths"]
    checked = 0
    for path, item in paths.items():
        if "get" not in item or "{" in path:
            continue
        r = app_client.get(path, params={"zz_unknown": "1"}, headers=staff["admin"])
        assert r.status_code == 400 and r.json()["code"] == "unknown_parameter", (path, r.status_code, r.text[:200])
        checked += 1
    assert checked >= 10
