"""Sign-off signatures are checked in the background, and a push never waits behind another push's checks."""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.wire import Op, SignOff
from server.domain.sync.signoff_checks import BATCH, CHECKERS, SignoffChecks
from sync.core.signoff import sign_off_message

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes_raw()
STRANGER = Ed25519PrivateKey.generate()


def signoffs(n: int, forged: set[int]) -> list[Op]:
    ops: list[Op] = []
    for i in range(n):
        job, digest, name = f"J-{i}", f"{i:064x}", f"Signer {i}"
        signer = STRANGER if i in forged else KEY
        ops.append(SignOff(op_id=f"op-{i}", hlc=i, job_id=job, signer_name=name, signer_role="customer",
                           signed_at=i, report_digest=digest, strokes=[[1, 2]],
                           device_signature=signer.sign(sign_off_message(job, digest, i, name))))
    return ops


def test_verdicts_match_each_sign_off() -> None:
    forged = {0, 5, BATCH, 2 * BATCH + 1}
    ops = signoffs(2 * BATCH + 3, forged)
    checks = SignoffChecks(PUBLIC, ops)
    assert [i for i, op in enumerate(ops) if not checks.valid(op)] == sorted(forged)  # type: ignore[arg-type]


def test_batches_queued_behind_other_work_are_checked_in_line() -> None:
    """With every checker thread busy (other pushes' batches), the merge checks its own batches itself."""
    release = threading.Event()
    busy = [CHECKERS.submit(release.wait, 30) for _ in range(CHECKERS._max_workers)]
    try:
        forged = {1, BATCH + 2}
        ops = signoffs(BATCH + 4, forged)
        checks = SignoffChecks(PUBLIC, ops)
        verdicts = [checks.valid(op) for op in ops]  # type: ignore[arg-type]
        assert not release.is_set() and not any(f.done() for f in busy)  # nothing waited for the busy threads
        assert [i for i, ok in enumerate(verdicts) if not ok] == sorted(forged)
    finally:
        release.set()
        for f in busy:
            f.result()
