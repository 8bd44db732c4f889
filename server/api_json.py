"""The back-office JSON API's one rule for instants: RFC 3339 UTC strings on the wire, epoch ms inside.

Fields typed :data:`schemas.instant.Instant` hold epoch milliseconds in every service.  Here, and only here,
they are turned into RFC 3339 UTC strings: :func:`api_instants` (the app's ``after_request`` hook) rewrites a
JSON response's content before it is encoded, and :class:`InstantSchemaPlugin` documents those fields as
``string, format: date-time``.  The device protocol's msgpack bodies are encoded by the sync routes
themselves and keep epoch ms.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Union

import msgspec
from litestar import Response
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from schemas.instant import InstantMark, epoch_ms, rfc3339
from server.errors import BadRequest, Msg

if typing.TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator


def _is_instant(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Annotated and any(isinstance(m, InstantMark) for m in tp.__metadata__)


@cache
def _holds_instant(tp: Any) -> bool:
    """Whether values of annotation ``tp`` may contain an instant (so that they need walking)."""
    if _is_instant(tp):
        return True
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return bool(_struct_plan(tp))
    return any(_holds_instant(arg) for arg in typing.get_args(tp) if not isinstance(arg, str | int | InstantMark))


@cache
def _struct_plan(cls: type[msgspec.Struct]) -> tuple[tuple[str, Any], ...]:
    """(field name, annotation) of each field of ``cls`` whose value may contain an instant."""
    hints = typing.get_type_hints(cls, include_extras=True)
    plan: list[tuple[str, Any]] = []
    _struct_plan_guard.add(cls)
    try:
        for name in cls.__struct_fields__:
            tp = hints.get(name, Any)
            if _is_instant(tp) or (not _refers_to(tp, cls) and _holds_instant(tp)):
                plan.append((name, tp))
    finally:
        _struct_plan_guard.discard(cls)
    return tuple(plan)


_struct_plan_guard: set[type] = set()


def _refers_to(tp: Any, cls: type) -> bool:
    """Whether annotation ``tp`` is or contains a struct being planned (a recursive type: not walked)."""
    if tp in _struct_plan_guard:
        return True
    return any(_refers_to(arg, cls) for arg in typing.get_args(tp) if not isinstance(arg, str | int | InstantMark))


def _convert(value: Any, tp: Any) -> Any:
    """``value`` (of annotation ``tp``) with every instant in it written as RFC 3339."""
    if value is None or value is msgspec.UNSET:
        return value
    if _is_instant(tp):
        return rfc3339(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(value, msgspec.Struct):
        return _convert_struct(value)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        instant = next((a for a in args if _is_instant(a)), None)
        if instant is not None and isinstance(value, int) and not isinstance(value, bool):
            return rfc3339(value)
        return value
    if origin is typing.Annotated:
        return _convert(value, args[0])
    if origin in (list, tuple, set, frozenset) and args and isinstance(value, list | tuple):
        item = args[0]
        return [_convert(v, item) for v in value] if _holds_instant(item) else value
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        item = args[1]
        return {k: _convert(v, item) for k, v in value.items()} if _holds_instant(item) else value
    return value


def _convert_struct(value: msgspec.Struct) -> msgspec.Struct:
    plan = _struct_plan(type(value))
    if not plan:
        return value
    changes = {name: _convert(getattr(value, name), tp) for name, tp in plan}
    return msgspec.structs.replace(value, **changes)


def api_value(content: Any) -> Any:
    """A response's content with its instants in RFC 3339 (structs, and lists or dicts of structs)."""
    if isinstance(content, msgspec.Struct):
        return _convert_struct(content)
    if isinstance(content, list | tuple):
        return [api_value(v) for v in content]
    if isinstance(content, dict):
        return {k: api_value(v) for k, v in content.items()}
    return content


async def api_instants(response: Response[Any]) -> Response[Any]:
    """``after_request``: a JSON response's instants as RFC 3339 (bytes and other media are left alone).

    A handler's own ``Response`` has no media type yet (the handler's, JSON, is applied after this hook).
    """
    media = getattr(response.media_type, "value", response.media_type) or ""
    if (not media or "json" in media) and not isinstance(response.content, bytes | str):
        response.content = api_value(response.content)
    return response


class InstantSchemaPlugin(OpenAPISchemaPlugin):
    """Documents an :data:`~schemas.instant.Instant` field as ``string, format: date-time``."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        # ``FieldDefinition.has_metadata`` came with Litestar 2.23; ``metadata`` is there from our lowest bound
        return any(isinstance(m, InstantMark) for m in field_definition.metadata)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        return Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME,
                      description="RFC 3339 date-time in UTC, e.g. 2026-12-03T18:00:00.000Z")


def range_bound(raw: str | None, name: str) -> int | None:
    """A ``from``/``to`` query parameter as epoch ms (None when absent); 400 ``bad_time`` for anything else.

    Every range filter of the API reads its bounds here: a date (``2026-12-01``, its 00:00 UTC) or an RFC 3339
    date-time with its offset (``2026-12-01T00:00:00+08:00``).  A range is ``[from, to)``: ``from=2026-11-01&
    to=2026-12-01`` is November (in UTC; give the offset for a local month).
    """
    if raw is None or raw == "":
        return None
    text = raw.strip()
    try:
        if len(text) == 10 and "T" not in text.upper():
            day = date.fromisoformat(text)
            return epoch_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        moment = None
    if moment is None or "T" not in text.upper() or moment.tzinfo is None:
        raise BadRequest("bad_time", Msg("time_or_date", {"name": name}))
    return epoch_ms(moment)


def time_range(raw_from: str | None, raw_to: str | None, now: int, default_days: int) -> tuple[int, int]:
    """``[from, to)`` in epoch ms; ``to`` defaults to ``now``, ``from`` to ``default_days`` before ``to``."""
    end = range_bound(raw_to, "to")
    end = now if end is None else end
    start = range_bound(raw_from, "from")
    start = end - default_days * 86_400_000 if start is None else start
    if start >= end:
        raise BadRequest("bad_range", "from must be before to")
    return start, end
