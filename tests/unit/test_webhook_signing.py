"""Webhook signatures and retry delays: what a receiver's check accepts, and how far apart retries fall."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.domain.webhooks.service import BACKOFF_CAP_MS, backoff_ms, sign, verify_signature

secrets = st.text(min_size=1, max_size=64)
bodies = st.binary(max_size=2048)
times = st.integers(min_value=0, max_value=2**33)


@given(secrets, times, bodies)
def test_a_signature_verifies_with_its_secret_at_its_time(secret: str, t: int, body: bytes) -> None:
    header = sign(secret, t, body)
    assert header.startswith(f"t={t},v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature(secret, header, body, now_s=t)


@given(secrets, secrets, times, bodies, bodies)
def test_another_secret_or_body_fails(secret: str, other: str, t: int, body: bytes, changed: bytes) -> None:
    header = sign(secret, t, body)
    if other != secret:
        assert not verify_signature(other, header, body, now_s=t)
    if changed != body:
        assert not verify_signature(secret, header, changed, now_s=t)


@given(secrets, times, bodies, st.integers(min_value=301, max_value=10**6))
def test_an_old_or_future_signature_fails(secret: str, t: int, body: bytes, skew: int) -> None:
    header = sign(secret, t, body)
    assert not verify_signature(secret, header, body, now_s=t + skew)
    assert not verify_signature(secret, header, body, now_s=t - skew)


def test_a_malformed_header_fails() -> None:
    for header in ("", "t=abc,v1=00", "v1=00", "t=1", "garbage"):
        assert not verify_signature("s", header, b"{}", now_s=1)


@given(st.integers(min_value=1, max_value=100), st.integers(min_value=1, max_value=3_600_000),
       st.floats(min_value=0.0, max_value=0.999999))
def test_backoff_doubles_with_jitter_up_to_an_hour(attempt: int, base: int, r: float) -> None:
    full = min(BACKOFF_CAP_MS, base * 2 ** min(attempt - 1, 30))
    delay = backoff_ms(attempt, base, rng=lambda: r)
    assert full // 2 <= delay <= full and delay >= 1
