"""The enrollment link of the console's QR code, and a tablet enrolling with it or with the bare token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client_sdk import FieldClient
from client_sdk.errors import EnrollmentFailed
from schemas.enrollment_link import enrollment_link, enrollment_token
from server.console import views
from server.domain.devices.service import issue_enroll_token
from server.services import Services


def test_the_link_carries_the_token_url_encoded_in_the_fragment() -> None:
    assert (enrollment_link("https://fs.example.cn:8443/", "fs_enroll_a+b/c=")
            == "https://fs.example.cn:8443/tablet/#/enroll?token=fs_enroll_a%2Bb%2Fc%3D")


@given(st.text(min_size=1).map(str.strip).filter(bool))
def test_the_token_read_from_a_link_is_the_token_put_in(token: str) -> None:
    assert enrollment_token(enrollment_link("http://127.0.0.1:8000", token)) == token


@pytest.mark.parametrize("text", ["fs_enroll_abc", "  fs_enroll_abc\n"])
def test_a_bare_token_is_taken_as_it_is(text: str) -> None:
    assert enrollment_token(text) == "fs_enroll_abc"


@pytest.mark.parametrize("text", ["http://h/tablet/#/enroll", "http://h/tablet/#/enroll?token=",
                                  "http://h/tablet/#/jobs?token=x", "http://h/tablet/?token=x"])
def test_a_link_without_a_token_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        enrollment_token(text)


def test_the_console_qr_encodes_the_link_a_tablet_enrolls_with(
        tmp_path: Path, app_client: Any, services: Services, seeded: Any) -> None:
    issued = views.enroll_token(services, {"engineer_id": "e-ana"}, "http://127.0.0.1:8000")
    link = issued["payload"]
    assert link == enrollment_link("http://127.0.0.1:8000", issued["token"])
    assert issued["qr"] == views.qr_svg(link)
    with FieldClient.open(tmp_path / "tablet.db", transport=app_client, clock=services.clock) as tablet:
        device_id = tablet.enroll(link)
        assert tablet.enrolled and tablet.device_id == device_id and tablet.engineer_id == "e-ana"
        assert tablet.sync().ok


def test_a_bare_token_still_enrolls(tmp_path: Path, app_client: Any, services: Services, seeded: Any) -> None:
    token, _ = issue_enroll_token(services, "e-ana")
    with FieldClient.open(tmp_path / "tablet.db", transport=app_client, clock=services.clock) as tablet:
        tablet.enroll(token)
        assert tablet.engineer_id == "e-ana"


def test_a_link_without_a_token_enrolls_nothing(tmp_path: Path, app_client: Any, services: Services) -> None:
    with FieldClient.open(tmp_path / "tablet.db", transport=app_client, clock=services.clock) as tablet:
        with pytest.raises(EnrollmentFailed) as err:
            tablet.enroll("http://127.0.0.1:8000/tablet/#/enroll?token=")
        assert err.value.code == "invalid_link" and not tablet.enrolled
