"""The public surface of client_sdk: curated __all__, FieldClient's methods, and the exception tree.

An app is written against these names; a change here is a change of the SDK's
contract (DESIGN section 5) and must be made on purpose, in this file too.
"""

from __future__ import annotations

import inspect
import re

import client_sdk
from client_sdk import FieldClient, errors

#: exactly what ``from client_sdk import *`` gives an app
PUBLIC_NAMES = [
    "FieldClient",
    "JobDetail",
    "LocalAnswer",
    "LocalAttachment",
    "LocalJob",
    "LocalMovement",
    "LocalSignOff",
    "OpOutcome",
    "PendingOp",
    "SyncReport",
    "errors",
]

#: FieldClient's public methods and properties with their parameters (names, defaults, keyword-only after *)
FIELD_CLIENT_API = {
    "open": "(path, server_url='http://127.0.0.1:8000', *, passphrase=None, clock=None, transport=None, "
            "device_name='tablet')",
    "close": "()",
    "enrolled": "property",
    "device_id": "property",
    "engineer_id": "property",
    "enroll": "(token, name=None)",
    "sync": "(progress=None, *, outcome_wait_s=10.0)",
    "batch": "()",
    "jobs": "()",
    "job": "(job_id)",
    "pending": "()",
    "conflicts": "(status=None)",
    "op_results": "(result=None)",
    "parts": "()",
    "stock": "()",
    "template": "(template_id, version)",
    "blob": "(sha256)",
    "asset": "(serial)",
    "search_kb": "(words, model=None, limit=20)",
    "set_status": "(job_id, status, hold_reason=None, note=None)",
    "set_field": "(job_id, field, value)",
    "answer": "(job_id, item_key, value, note=None, na_reason=None)",
    "amend": "(job_id, reason, *, item_key=None, field=None, value=None, note=None, na_reason=None)",
    "use_part": "(job_id, part_no, qty=1, serial=None, returned_serial=None)",
    "attach": "(job_id, data, kind='photo', content_type=None)",
    "sign_off": "(job_id, signer_name, strokes, signer_role='customer', rating=None, comment=None)",
    "report_content": "(job_id)",
    "service_report": "(job_id, path)",
}


def _parameters(member: object) -> str:
    """A method's parameters as a caller sees them: names, defaults and ``*``, without annotations."""
    if isinstance(member, property):
        return "property"
    func = member.__func__ if isinstance(member, classmethod | staticmethod) else member
    signature = inspect.signature(func)  # type: ignore[arg-type]
    params = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    if not isinstance(member, staticmethod):
        params = params[1:]  # self / cls
    return str(signature.replace(parameters=params, return_annotation=inspect.Signature.empty))


def test_all_is_pinned() -> None:
    assert client_sdk.__all__ == PUBLIC_NAMES


def test_field_client_public_methods_are_pinned() -> None:
    public = {name: _parameters(inspect.getattr_static(FieldClient, name))
              for name in vars(FieldClient) if not name.startswith("_")}
    assert public == FIELD_CLIENT_API


def test_all_is_curated_and_importable() -> None:
    assert {"FieldClient", "SyncReport", "errors"} <= set(client_sdk.__all__)
    assert len(set(client_sdk.__all__)) == len(client_sdk.__all__)
    for name in client_sdk.__all__:
        assert getattr(client_sdk, name) is not None
    public = {n for n in dir(client_sdk) if not n.startswith("_")}
    # every public name that is not a submodule is exported
    modules = {n for n in public if inspect.ismodule(getattr(client_sdk, n))} - {"errors"}
    modules.add("annotations")  # from __future__
    assert public - modules == set(client_sdk.__all__)


def test_contract_methods_exist() -> None:
    for name in [
        "open",
        "enroll",
        "sync",
        "jobs",
        "job",
        "set_status",
        "set_field",
        "answer",
        "use_part",
        "attach",
        "sign_off",
        "report_content",
        "pending",
        "conflicts",
        "close",
    ]:
        assert callable(getattr(client_sdk.FieldClient, name)), name


def test_the_drawn_exception_tree_is_the_class_tree() -> None:
    """Every exception in client_sdk.errors is drawn in its docstring under its real base class."""
    drawn: dict[str, str | None] = {}
    parents: list[tuple[int, str]] = []  # (column of the name, name) from the root down
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(\s*(?:[│ ]*[├└]── )?)([A-Z][A-Za-z]+)(\s|$)", line)
        if match is None or not (line.strip().startswith(("├", "└")) or line.strip() == "SdkError"):
            continue
        column, name = len(match.group(1)), match.group(2)
        while parents and parents[-1][0] >= column:
            parents.pop()
        drawn[name] = parents[-1][1] if parents else None
        parents.append((column, name))
    classes = {name: cls for name, cls in inspect.getmembers(errors, inspect.isclass)
               if cls.__module__ == errors.__name__}
    assert set(drawn) == set(classes)
    for name, cls in classes.items():
        base = cls.__base__.__name__ if cls is not errors.SdkError else None
        assert drawn[name] == base, name


def test_every_error_is_an_sdk_error_and_drawn_in_the_docstring() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert len(classes) >= 10
    for cls in classes:
        assert issubclass(cls, errors.SdkError)
        assert cls.__name__ in (errors.__doc__ or ""), cls.__name__
    for cls in (
        errors.InvalidTransition,
        errors.InvalidAnswer,
        errors.ChecklistIncomplete,
        errors.UnknownJob,
        errors.AlreadySignedOff,
        errors.SignedContentLocked,
    ):
        assert issubclass(cls, errors.WriteRefused)


def test_sync_report_fields() -> None:
    report = client_sdk.SyncReport()
    for field in [
        "pushed_ops",
        "applied",
        "merged",
        "rejected",
        "needs_review",
        "pulled_changes",
        "uploaded_blobs",
        "offline",
        "errors",
        "clock_offset_ms",
    ]:
        assert hasattr(report, field)
    assert report.ok
