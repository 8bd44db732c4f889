"""The pure sync core: HLC ordering, change-set chains, merge rules (with hypothesis properties)."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.status import TRANSITIONS, can_transition
from schemas.wire import AnswerItem, SetField, SetStatus
from sync.core import hlc
from sync.core.changeset import (
    ChainHead,
    ChangeSetError,
    decode_changeset,
    digest,
    judge_chain,
    open_envelope,
    seal,
    verify_signature,
)
from sync.core.merge import JobView, Written, merge_answer, merge_field, merge_status

CORE = Path(__file__).resolve().parents[2] / "sync" / "core"
IO_MODULES = {"sqlite3", "psycopg", "httpx", "socket", "litestar", "requests", "urllib", "time", "os", "pathlib",
              "sqlite_utils", "asyncio", "datetime", "random", "uuid"}


def test_sync_core_imports_no_io_library() -> None:
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            assert not (set(names) & IO_MODULES), f"{path.name} imports {names}"


@given(st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 2**40))
def test_hlc_is_monotonic_whatever_the_wall_clock_does(last_ms: int, now: int, remote_ms: int) -> None:
    last = hlc.pack(last_ms, 5)
    assert hlc.tick(last, now) > last
    remote = hlc.pack(remote_ms)
    after = hlc.receive(last, remote, now)
    assert after > last and after > remote


@given(st.integers(0, 2**40), st.integers(-(2**36), 2**36), st.integers(0, 2**40))
def test_rebase_never_yields_a_time_after_the_server_clock(device_ms: int, offset: int, server_now: int) -> None:
    assert hlc.physical(hlc.rebase(hlc.pack(device_ms), offset, server_now)) <= server_now


def test_status_machine_happy_path_and_refusals() -> None:
    path = ["assigned", "accepted", "en_route", "on_site", "in_progress", "completed", "signed_off", "closed"]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path))
    assert not can_transition("cancelled", "completed")
    assert not can_transition("assigned", "completed")
    assert all(t in TRANSITIONS for targets in TRANSITIONS.values() for t in targets)


def test_seal_chains_and_verifies() -> None:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    op = SetStatus(op_id="o", hlc=1, job_id="J", status="accepted")
    env1, head1 = seal(key, "D", ChainHead(0, ""), [op], 1)
    env2, head2 = seal(key, "D", head1, [op], 2)
    s1, s2 = open_envelope(env1), open_envelope(env2)
    verify_signature(s2, pub)
    cs2 = decode_changeset(s2, "D")
    assert (cs2.seq, cs2.prev_hash) == (2, digest(s1.changeset)) and head2.hash == digest(s2.changeset)
    with pytest.raises(ChangeSetError) as err:
        decode_changeset(s2, "OTHER")
    assert err.value.code == "device_mismatch"
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with pytest.raises(ChangeSetError) as err:
        verify_signature(s1, other)
    assert err.value.code == "bad_signature"


@pytest.mark.parametrize(("seq", "prev", "stored", "verdict"), [
    (4, "h3", None, "next"), (6, "h3", None, "gap"), (4, "hX", None, "fork"),
    (2, "h1", "same", "duplicate"), (2, "h1", "different", "fork"),
])
def test_judge_chain(seq: int, prev: str, stored: str | None, verdict: str) -> None:
    assert judge_chain(seq, prev, "same", ChainHead(3, "h3"), stored) == verdict


def test_status_conflict_keeps_the_field_work() -> None:
    job = JobView("J", "e", "cancelled")
    out = merge_status(job, SetStatus(op_id="o", hlc=9, job_id="J", status="on_site", at=5), "D", 9)
    assert out.result == "needs_review" and not out.write
    assert out.conflict is not None and out.conflict.values[1].value == "on_site"


writes = st.tuples(st.integers(1, 50), st.sampled_from(["A", "B", "C"]), st.text(max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.lists(writes, min_size=1, max_size=6, unique_by=(lambda w: (w[0], w[1]), lambda w: w[2])))
def test_lww_converges_in_any_order_and_keeps_every_loser(ws: list[tuple[int, str, str]]) -> None:
    """Any interleaving of concurrent writes ends with the same value; every device's losing value is kept.

    Values are distinct here: two devices writing the same value agree, which is not a conflict.
    """
    finals = set()
    for order in itertools.islice(itertools.permutations(ws), 24):
        current: Written | None = None
        kept: list[str] = []
        for h, dev, value in order:
            op = SetField(op_id=f"{h}{dev}", hlc=h, job_id="J", field="notes", value=value)
            out = merge_field(current, op, dev, h)
            if out.conflict is not None:
                loser = out.conflict.values[1 - out.conflict.applied]
                kept.append(str(loser.value))
            if out.write:
                current = Written(value, h, dev)
        assert current is not None
        finals.add((current.value, current.hlc, current.device_id))
        winner = max(ws, key=lambda w: (w[0], w[1]))
        assert current.value == winner[2] or any(w[2] == current.value for w in ws if w[1] == winner[1])
        # each other device's last write (its final intent) lost: it must sit in a conflict record
        last_by_device = {dev: max((w for w in ws if w[1] == dev), key=lambda w: w[0]) for _, dev, _ in ws}
        superseded = {w[2] for w in ws if w[1] == current.device_id}  # the winner overwrote these itself
        losing_values = [w[2] for dev, w in last_by_device.items()
                         if dev != current.device_id and w[2] not in superseded]
        assert all(v in kept for v in losing_values)
    assert len({f[0] for f in finals}) == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(writes, min_size=2, max_size=5, unique_by=lambda w: w[1]))
def test_two_different_checklist_answers_always_go_to_review_with_both(ws: list[tuple[int, str, str]]) -> None:
    current: Written | None = None
    for h, dev, value in ws:
        out = merge_answer(current, AnswerItem(op_id=dev, hlc=h, job_id="J", item_key="k", value=value), dev, h)
        if current is not None and current.value != value:
            assert out.result == "needs_review" and out.conflict is not None
            assert {out.conflict.values[0].value, out.conflict.values[1].value} == {current.value, value}
        if out.write:
            current = Written(value, h, dev)
