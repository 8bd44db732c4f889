"""The public surface of client_sdk: curated __all__ and the exception tree."""

from __future__ import annotations

import inspect

import client_sdk
from client_sdk import errors


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
