"""Customers as records: create, read, change, search (Chinese inside names), page; tickets point at them by id
(a name alone finds the exact customer); the archive per customer id; free-text customers migrated into records."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from server.services import Services
from server.settings import get_settings
from sync.storage import open_database, schema
from tests.support import RawDevice


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def customers_in_db(services: Services) -> int:
    with services.db.read() as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM customers")
    assert row is not None
    return int(row["n"])


def create(client: Any, hdr: dict[str, str], **body: Any) -> dict[str, Any]:
    r = client.post("/v1/customers", json=body, headers=hdr)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_customer_record_is_created_once_read_changed_and_found(app_client: Any, staff: Any,
                                                                  services: Services) -> None:
    hdr = staff["dispatcher"]
    body = {"name": "某某医院 (浦东)", "external_ref": "ERP-77",
            "contacts": [{"name": "王工", "phone": "021-5888 0000", "role": "设备科"}],
            "sites": [{"name": "住院部B栋", "address": "上海市浦东新区"}, {"name": "门诊楼"}]}
    first = app_client.post("/v1/customers", json=body, headers=keyed(hdr, "cust-1"))
    again = app_client.post("/v1/customers", json=body, headers=keyed(hdr, "cust-1"))
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert customers_in_db(services) == 1
    c = first.json()
    assert c["id"].startswith("C-") and c["name"] == "某某医院 (浦东)" and c["external_ref"] == "ERP-77"
    assert [s["name"] for s in c["sites"]] == ["住院部B栋", "门诊楼"] and c["assets"] == []
    assert c["contacts"] == [{"name": "王工", "phone": "021-5888 0000", "role": "设备科"}]
    assert c["created_at"].endswith("Z") or c["created_at"].endswith("+00:00")  # RFC 3339, UTC
    assert c["archive"] == f"/v1/customers/{c['id']}/archive"

    r = app_client.get(f"/v1/customers/{c['id']}", headers=hdr)
    assert r.status_code == 200 and r.json() == c
    tag = r.headers["etag"]
    # the ERP's reference is unique
    r = app_client.post("/v1/customers", json={"name": "Other", "external_ref": "ERP-77"}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "customer_ref_exists" and r.json()["customer_id"] == c["id"]
    # PATCH: If-Match required, stale refused, a new contact list replaces the old
    path = f"/v1/customers/{c['id']}"
    assert app_client.patch(path, json={"name": "x"}, headers=hdr).status_code == 428
    r = app_client.patch(path, json={"contacts": [{"name": "李工", "phone": "139"}]},
                         headers={**hdr, "If-Match": tag})
    assert r.status_code == 200 and r.json()["contacts"] == [{"name": "李工", "phone": "139", "role": ""}]
    stale = app_client.patch(path, json={"name": "x"}, headers={**hdr, "If-Match": tag})
    assert stale.status_code == 412 and app_client.get(path, headers=hdr).json()["name"] == "某某医院 (浦东)"
    # found by a Chinese word inside the name, by a contact, by the reference; not by a word it lacks
    create(app_client, hdr, name="City Hospital", external_ref="ERP-78")
    for q, names in (("医院", ["某某医院 (浦东)"]), ("浦东", ["某某医院 (浦东)"]), ("李工", ["某某医院 (浦东)"]),
                     ("hospitals", ["City Hospital"]), ("erp", ["City Hospital", "某某医院 (浦东)"]),
                     ("院医", []), ("%", [])):
        r = app_client.get("/v1/customers", params={"q": q}, headers=staff["backoffice"])
        assert r.status_code == 200, r.text
        assert [x["name"] for x in r.json()] == names, q
    r = app_client.get("/v1/customers", params={"external_ref": "ERP-78"}, headers=hdr)
    assert [x["name"] for x in r.json()] == ["City Hospital"]
    assert app_client.get("/v1/customers", params={"surprise": "1"}, headers=hdr).status_code == 400
    # sites are added, once per name
    r = app_client.post(f"{path}/sites", json={"name": "急诊楼", "address": "上海"}, headers=hdr)
    assert r.status_code == 201 and "急诊楼" in [s["name"] for s in r.json()["sites"]]
    assert app_client.post(f"{path}/sites", json={"name": "急诊楼"}, headers=hdr).json()["code"] == "site_exists"
    assert app_client.get("/v1/customers/C-nope", headers=hdr).json()["code"] == "unknown_customer"
    for bad in ({"name": "   "}, {"name": "A", "sites": [{"name": " "}]}, {"name": "A", "sites": [{"name": "X"},
                                                                                         {"name": "X"}]}):
        r = app_client.post("/v1/customers", json=bad, headers=hdr)
        assert r.status_code == 400 and r.json()["code"] in ("blank_name", "duplicate_site"), r.text


def test_the_customer_list_pages_with_a_cursor(app_client: Any, staff: Any) -> None:
    hdr = staff["backoffice"]
    names = [f"Customer {i:02d}" for i in range(7)]
    for name in reversed(names):
        create(app_client, hdr, name=name)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3, "q": "customer"}
    while True:
        r = app_client.get("/v1/customers", params=params, headers=hdr)
        assert r.status_code == 200, r.text
        seen += [c["name"] for c in r.json()]
        if "next-cursor" not in r.headers:
            break
        params = {"limit": 3, "q": "customer", "cursor": r.headers["next-cursor"]}
    assert seen == names
    assert app_client.get("/v1/customers", params={"cursor": "!!"}, headers=hdr).json()["code"] == "bad_cursor"


def test_tickets_point_at_customers_by_id_or_by_their_exact_name(app_client: Any, staff: Any, seeded: Any,
                                                                  services: Services) -> None:
    hdr = staff["dispatcher"]
    aurora = next(c for c in app_client.get("/v1/customers", params={"q": "Aurora"}, headers=hdr).json())
    spa = next(s for s in aurora["sites"] if s["name"] == "Aurora - spa")
    # by id (the record's name and site name are copied onto the ticket)
    r = app_client.post("/v1/tickets", json={"customer_id": aurora["id"], "site_id": spa["id"], "priority": "P3"},
                        headers=hdr)
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["customer_id"], t["customer"], t["site_id"], t["site"]) == (aurora["id"], "Hotel Aurora", spa["id"],
                                                                          "Aurora - spa")
    # by the exact name: the same record, no new one; a new site name becomes a site of it
    before = customers_in_db(services)
    r = app_client.post("/v1/tickets", json={"customer": "Hotel Aurora", "site": "Aurora - lobby",
                                             "priority": "P3"}, headers=hdr)
    assert r.status_code == 201 and r.json()["customer_id"] == aurora["id"] and customers_in_db(services) == before
    opened = next(e for e in r.json()["timeline"] if e["kind"] == "opened")
    assert opened["data"] == {"customer_id": aurora["id"], "site_created": True}
    # a name no customer has: a new record, said so on the timeline
    r = app_client.post("/v1/tickets", json={"customer": "Hotel Aurorra", "site": "Lobby", "priority": "P3"},
                        headers=hdr)
    assert r.status_code == 201 and r.json()["customer_id"] != aurora["id"]
    assert next(e for e in r.json()["timeline"] if e["kind"] == "opened")["data"]["customer_created"] is True
    typo = r.json()
    # ... which the dispatcher re-points at the right customer
    tag = app_client.get(f"/v1/tickets/{typo['id']}", headers=hdr).headers["etag"]
    r = app_client.patch(f"/v1/tickets/{typo['id']}", json={"customer_id": aurora["id"], "site_id": spa["id"]},
                         headers={**hdr, "If-Match": tag})
    assert r.status_code == 200, r.text
    assert (r.json()["customer"], r.json()["customer_id"], r.json()["site"]) == ("Hotel Aurora", aurora["id"],
                                                                                 "Aurora - spa")
    listed = app_client.get("/v1/tickets", params={"customer_id": aurora["id"], "limit": 500}, headers=hdr).json()
    assert typo["id"] in {x["id"] for x in listed} and {x["customer_id"] for x in listed} == {aurora["id"]}
    # two customers of one name: the name alone is refused, with the candidates
    twin = create(app_client, hdr, name="Hotel Aurora", external_ref="ERP-TWIN")
    before = customers_in_db(services)
    tickets_before = len(app_client.get("/v1/tickets", params={"limit": 500}, headers=hdr).json())
    r = app_client.post("/v1/tickets", json={"customer": "Hotel Aurora", "site": "X", "priority": "P3"}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "customer_ambiguous"
    assert {c["id"] for c in r.json()["candidates"]} == {aurora["id"], twin["id"]}
    assert customers_in_db(services) == before
    assert len(app_client.get("/v1/tickets", params={"limit": 500}, headers=hdr).json()) == tickets_before
    for body, status, code in (
            ({"customer_id": "C-nope", "site": "X"}, 404, "unknown_customer"),
            ({"customer_id": aurora["id"], "customer": "Bakery Lund", "site": "X"}, 409, "customer_mismatch"),
            ({"customer_id": twin["id"], "site_id": spa["id"]}, 404, "unknown_site"),
            ({"customer_id": twin["id"]}, 400, "site_required"),
            ({"site": "X"}, 400, "customer_required")):
        r = app_client.post("/v1/tickets", json={**body, "priority": "P3"}, headers=hdr)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
    assert customers_in_db(services) == before


def test_the_archive_is_per_customer_id_and_the_name_form_redirects(app_client: Any, staff: Any, seeded: Any) -> None:
    hdr = staff["backoffice"]
    aurora = app_client.get("/v1/customers", params={"q": "Aurora"}, headers=hdr).json()[0]
    r = app_client.get(f"/v1/customers/{aurora['id']}/archive", headers=hdr)
    assert r.status_code == 200, r.text
    archive = r.json()
    assert archive["customer_id"] == aurora["id"] and archive["customer"] == "Hotel Aurora"
    assert {t["asset_serial"] for t in archive["tickets"]} == {"SN-1001", "SN-1002"}
    r = app_client.get(f"/v1/customers/{quote('Hotel Aurora')}/archive", headers=hdr, follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == f"/v1/customers/{aurora['id']}/archive"
    assert app_client.get("/v1/customers/Nobody/archive", headers=hdr).json()["code"] == "unknown_customer"
    # a customer with nothing yet has an empty archive, not a 404
    new = create(app_client, hdr, name="Fresh Start")
    r = app_client.get(f"/v1/customers/{new['id']}/archive", headers=hdr)
    assert r.status_code == 200 and r.json()["tickets"] == [] and r.json()["summary"]["tickets"] == 0


def test_a_rename_reaches_tickets_assets_and_the_tablet(app_client: Any, staff: Any, seeded: Any,
                                                        services: Services) -> None:
    hdr = staff["backoffice"]
    r = app_client.post("/v1/assets", json={"serial": "SN-9001", "model": "Vitodens 200", "equipment_type": "boiler",
                                            "customer": "Hotel Aurora", "site": "Aurora - plant room"}, headers=hdr)
    assert r.status_code == 201, r.text
    aurora = app_client.get("/v1/customers", params={"q": "aurora"}, headers=hdr).json()[0]
    assert r.json()["customer_id"] == aurora["id"]
    assert "SN-9001" in [a["serial"] for a in aurora["assets"]]
    ana = RawDevice(app_client, services, "e-ana")
    (job,) = [j for j in ana.jobs().values() if j["ticket"]["customer"] == "Hotel Aurora"]
    assert job["ticket"]["customer_id"] == aurora["id"]
    ana.pull()
    tag = app_client.get(f"/v1/customers/{aurora['id']}", headers=hdr).headers["etag"]
    r = app_client.patch(f"/v1/customers/{aurora['id']}", json={"name": "Aurora Hotels Group"},
                         headers={**hdr, "If-Match": tag})
    assert r.status_code == 200, r.text
    pulled = [c for c in ana.pull() if c.kind == "job" and c.id == job["id"]]
    assert pulled and pulled[-1].data["ticket"]["customer"] == "Aurora Hotels Group"
    tickets = app_client.get("/v1/tickets", headers=hdr).json()
    assert {t["customer"] for t in tickets if t["customer_id"] == aurora["id"]} == {"Aurora Hotels Group"}
    assert app_client.get("/v1/assets/SN-9001", headers=hdr).json()["customer"] == "Aurora Hotels Group"


OLD_ROWS = [("T-old-1", "Hotel Aurora", "Plant room"), ("T-old-2", "Hotel Aurora", "Plant room"),
            ("T-old-3", "Hotel Aurora", "Spa"), ("T-old-4", "某某医院", "住院部B栋"),
            ("T-old-5", "Hotel Aurora ", "Spa")]


def test_migration_turns_free_text_customers_into_records(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "MIGRATIONS", [m for m in schema.MIGRATIONS if m[0] < schema.CUSTOMERS_MIGRATION])
    db = open_database(db_url)
    with db.write() as tx:  # what the server stored before: names as typed
        for tid, customer, site in OLD_ROWS:
            tx.execute("INSERT INTO tickets (id, customer, site, priority, category, opened_at, created_at, "
                       "updated_at) VALUES (?, ?, ?, 'P3', 'fault', 1, 1, 1)", (tid, customer, site))
        tx.execute("INSERT INTO assets (serial, customer, site, created_at) "
                   "VALUES ('SN-1', '某某医院', '住院部B栋', 1)")
        tx.execute("INSERT INTO plans (id, name, customer, site, start_at, engineer_id, created_at) "
                   "VALUES ('PL-1', 'Quarterly', 'Hotel Aurora', 'Spa', 1, 'e-x', 1)")
    db.close()
    monkeypatch.undo()

    db = open_database(db_url)
    try:
        services = Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False))
        with db.read() as tx:
            customers = {r["name"]: r["id"] for r in tx.query("SELECT id, name FROM customers")}
            # one record per exact name (a trailing space is another spelling: kept apart, findable)
            assert sorted(customers) == ["Hotel Aurora", "Hotel Aurora ", "某某医院"]
            links = {r["id"]: (r["customer_id"], r["site_id"]) for r in tx.query("SELECT * FROM tickets")}
            sites = {r["id"]: (r["customer_id"], r["name"]) for r in tx.query("SELECT * FROM sites")}
            asset = tx.one("SELECT customer_id, site_id FROM assets WHERE serial = 'SN-1'")
            plan = tx.one("SELECT customer_id, site_id FROM plans WHERE id = 'PL-1'")
        assert links["T-old-1"] == links["T-old-2"] and links["T-old-1"][0] == customers["Hotel Aurora"]
        assert sites[links["T-old-1"][1]] == (customers["Hotel Aurora"], "Plant room")
        assert links["T-old-3"][1] != links["T-old-5"][1]  # the same site name of two customers: two sites
        assert asset is not None and (asset["customer_id"], sites[asset["site_id"]][1]) == (customers["某某医院"],
                                                                                             "住院部B栋")
        assert plan is not None and plan["customer_id"] == customers["Hotel Aurora"]
        assert plan["site_id"] == links["T-old-3"][1]
        from server.domain.archive.service import customer_archive
        from server.domain.customers.service import list_customers

        assert [c.name for c in list_customers(services, "医院", None, None, 10).customers] == ["某某医院"]
        archive = customer_archive(services, customers["Hotel Aurora"])
        assert sorted(t["ticket_id"] for t in archive["tickets"]) == ["T-old-1", "T-old-2", "T-old-3"]
    finally:
        db.close()


def test_the_console_links_a_tickets_customer_to_its_page(app_client: Any, staff: Any, seeded: Any,
                                                          services: Services) -> None:
    from server.security import issue_staff_token
    from tests.consoleclient import console_login

    aurora = app_client.get("/v1/customers", params={"q": "Aurora"}, headers=staff["backoffice"]).json()[0]
    ticket = next(t for t in app_client.get("/v1/tickets", headers=staff["backoffice"]).json()
                  if t["customer_id"] == aurora["id"] and t["category"] == "fault")
    console_login(app_client, issue_staff_token(services, "dispatcher"))
    page = app_client.get(f"/tickets/{ticket['id']}", headers={"Accept-Language": "en"}).text
    assert f'href="/customers/{aurora["id"]}" id="customer-link">Hotel Aurora</a>' in page
    r = app_client.get(f"/customers/{aurora['id']}", headers={"Accept-Language": "en"})
    assert r.status_code == 200
    assert "R. Larsen" in r.text and "Aurora - spa" in r.text and f'href="/tickets/{ticket["id"]}"' in r.text
    assert "Service archive" in r.text
    zh = app_client.get(f"/customers/{aurora['id']}", headers={"Accept-Language": "zh-CN"}).text
    assert "服务档案" in zh and "联系人" in zh and "Service archive" not in zh and "Contacts" not in zh
    assert app_client.get("/customers/C-nope").status_code == 404


def test_the_sdk_tablet_sees_the_customer_record_and_its_rename_over_a_live_server(
        db_url: str, tmp_path: Any) -> None:
    """A real ``fieldsync serve`` and the Python SDK: the job's ticket names its customer id; a rename reaches it."""
    import httpx

    from client_sdk import FieldClient
    from server.domain.devices.service import issue_enroll_token
    from server.security import issue_staff_token
    from tests.livesrv import LiveServer
    from tools.demo_data import seed_demo

    services = Services(db=open_database(db_url), settings=get_settings(db_url=db_url, run_scheduler=False))
    seed_demo(services)
    hdr = {"authorization": f"Bearer {issue_staff_token(services, 'dispatcher', 'desk')}"}
    token, _ = issue_enroll_token(services, "e-ana")
    server = LiveServer(db_url, tmp_path).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            aurora = http.get("/v1/customers", params={"q": "极光 aurora"}, headers=hdr).json()
            assert aurora == []  # every word must match
            aurora = http.get("/v1/customers", params={"q": "aurora"}, headers=hdr).json()[0]
            tablet = FieldClient.open(tmp_path / "ana.db", server_url=server.url)
            tablet.enroll(token)
            tablet.sync()
            mine = [j for j in tablet.jobs() if j.ticket.get("customer_id") == aurora["id"]]
            assert mine and tablet.job(mine[0].id).job.ticket["customer"] == "Hotel Aurora"
            tag = http.get(f"/v1/customers/{aurora['id']}", headers=hdr).headers["etag"]
            r = http.patch(f"/v1/customers/{aurora['id']}", json={"name": "极光酒店 Hotel Aurora"},
                           headers={**hdr, "If-Match": tag})
            assert r.status_code == 200, r.text
            tablet.sync()
            assert tablet.job(mine[0].id).job.ticket["customer"] == "极光酒店 Hotel Aurora"
            assert [c["id"] for c in http.get("/v1/customers", params={"q": "极光"}, headers=hdr).json()] == \
                [aurora["id"]]
            tablet.close()
    finally:
        server.stop()
        services.db.close()


def test_tickets_racing_to_name_a_new_customer_make_one_record(db_url: str, tmp_path: Any) -> None:
    """The live server on each backend: 8 tickets for a customer nobody has yet, at once, make one record."""
    import threading

    import httpx

    from server.security import issue_staff_token
    from tests.livesrv import LiveServer
    from tools.demo_data import seed_demo

    services = Services(db=open_database(db_url), settings=get_settings(db_url=db_url, run_scheduler=False))
    seed_demo(services)
    hdr = {"authorization": f"Bearer {issue_staff_token(services, 'dispatcher', 'desk')}"}
    server = LiveServer(db_url, tmp_path).start()
    try:
        start = threading.Barrier(8)
        answers: list[Any] = []

        def open_one() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                start.wait()
                answers.append(http.post("/v1/tickets", json={"customer": "Racing Ltd", "site": "Pit lane",
                                                              "priority": "P3"}, headers=hdr))

        threads = [threading.Thread(target=open_one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [r.status_code for r in answers] == [201] * 8, [r.text for r in answers if r.status_code != 201]
        assert len({r.json()["customer_id"] for r in answers}) == 1
        assert len({r.json()["site_id"] for r in answers}) == 1
        with services.db.read() as tx:
            assert [r["id"] for r in tx.query("SELECT id FROM customers WHERE name = 'Racing Ltd'")] == \
                [answers[0].json()["customer_id"]]
    finally:
        server.stop()
        services.db.close()
