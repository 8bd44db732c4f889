"""Pure helpers of the money reconciliation and the KPI trend: labour rounding and the months of a period."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from server.domain.kpis.targets import _months
from server.domain.reconciliation.money import labour_amount


@pytest.mark.parametrize(("minutes", "rate", "amount"), [
    (0, 12_000, 0), (30, 12_000, 6_000), (7, 10_001, 1_167), (1, 90, 2), (1, 89, 1), (1, 30, 1), (1, 29, 0)])
def test_labour_is_minutes_at_the_hourly_rate_rounded_half_up(minutes: int, rate: int, amount: int) -> None:
    assert labour_amount(minutes, rate) == amount
    assert isinstance(labour_amount(minutes, rate), int)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_the_months_of_a_period_in_the_servers_zone() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert _months(ms("2026-11-01T00:00:00+08:00"), ms("2026-12-01T00:00:00+08:00"), shanghai) == ["2026-11"]
    # the same instants in UTC straddle two months
    assert _months(ms("2026-11-01T00:00:00+08:00"), ms("2026-12-01T00:00:00+08:00"), ZoneInfo("UTC")) == [
        "2026-10", "2026-11"]
    assert _months(ms("2026-12-15T00:00:00+00:00"), ms("2027-02-01T00:00:00+00:00"), ZoneInfo("UTC")) == [
        "2026-12", "2027-01"]
