"""Knowledge base of solved cases (symptom, cause, fix, parts, model), searchable by model and words.

A case is indexed, and a query asked, as the tokens of :mod:`sync.core.search`
(Chinese as characters and character pairs, so ``异响`` finds ``风机异响``;
other words stemmed), the rule the tablet uses too; the database's own
full-text engine (SQLite FTS5 or a PostgreSQL GIN index, see ``store``) matches
and ranks them.  A query is never search syntax, and every token must match.  Cases of the models in an engineer's
assigned jobs travel to the tablet as ``kb`` changes (with the job bundle, and
when a case is added) for offline search through the SDK.
"""

from __future__ import annotations

import json
from typing import Annotated, Final

import msgspec

from schemas.instant import Instant
from schemas.records import KbData, KbRecord
from server.domain.kb import store
from server.errors import BadRequest, NotFound
from server.feed import publish
from server.ids import new_id
from server.services import Services
from sync.core.search import kb_index_text, query_tokens
from sync.storage import Row, Tx

#: the newest cases per model a tablet keeps
TABLET_CASES: Final = 200

Short = Annotated[str, msgspec.Meta(max_length=200)]
Long = Annotated[str, msgspec.Meta(max_length=5000)]


class KbCaseIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A solved case; ``ticket_id`` optionally names the ticket it was solved on."""

    symptom: Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]
    cause: Long = ""
    fix: Long = ""
    parts: Annotated[list[Short], msgspec.Meta(max_length=50)] = []
    model: Short = ""
    equipment_type: Short = ""
    ticket_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class KbCase(msgspec.Struct, kw_only=True):
    """A stored solved case."""

    id: str
    model: str
    equipment_type: str
    symptom: str
    cause: str
    fix: str
    parts: list[str]
    ticket_id: str | None
    created_at: Instant
    created_by: str


def _case(row: Row) -> KbCase:
    return KbCase(id=row["id"], model=row["model"], equipment_type=row["equipment_type"], symptom=row["symptom"],
                  cause=row["cause"], fix=row["fix"], parts=json.loads(row["parts"]), ticket_id=row["ticket_id"],
                  created_at=row["created_at"], created_by=row["created_by"])


def kb_record(row: Row) -> KbRecord:
    """A case as a tablet receives it."""
    return KbRecord(id=row["id"], data=KbData(
        id=row["id"], model=row["model"], equipment_type=row["equipment_type"], symptom=row["symptom"],
        cause=row["cause"], fix=row["fix"], parts=json.loads(row["parts"]), ticket_id=row["ticket_id"],
        created_at=row["created_at"], created_by=row["created_by"]))


def add_case(services: Services, data: KbCaseIn, by: str) -> KbCase:
    """Store a case, index it, and send it to the engineers whose open jobs are on that model."""
    if any("\x00" in s for s in (data.symptom, data.cause, data.fix, data.model, data.equipment_type, *data.parts)):
        raise BadRequest("invalid_value", "text may not contain NUL characters")
    now = services.clock()
    cid = new_id("KB-")
    parts = [p.strip() for p in data.parts if p.strip()]
    text = kb_index_text(data.symptom, data.cause, data.fix, parts, data.model, data.equipment_type)
    with services.db.write() as tx:
        if data.ticket_id and not store.ticket_exists(tx, data.ticket_id):
            raise NotFound("unknown_ticket", f"no ticket {data.ticket_id!r}")
        store.insert_case(tx, cid, data.model.strip(), data.equipment_type.strip().lower(), data.symptom, data.cause,
                          data.fix, json.dumps(parts), data.ticket_id, text, by, now)
        row = store.case(tx, cid)
        assert row is not None
        if row["model"]:
            engineers = store.engineers_with_open_jobs_on_model(tx, row["model"])
            record = kb_record(row)
            for engineer in engineers:
                publish(tx, [record], engineer)
    return _case(row)


def get_case(services: Services, case_id: str) -> KbCase:
    with services.db.read() as tx:
        row = store.case(tx, case_id)
    if row is None:
        raise NotFound("unknown_case", f"no knowledge-base case {case_id!r}")
    return _case(row)


def search(services: Services, q: str = "", model: str | None = None, limit: int = 50) -> list[KbCase]:
    """Cases holding every token of ``q`` (:func:`sync.core.search.query_tokens`), best first; ``model`` filters
    exactly (any case)."""
    tokens = query_tokens(q)
    limit = max(1, min(limit, 200))
    with services.db.read() as tx:
        return [_case(r) for r in store.search_rows(tx, tokens, model, limit)]


def kb_records_for_model(tx: Tx, model: str) -> list[KbRecord]:
    """The newest cases of ``model`` as ``kb`` records."""
    return [kb_record(r) for r in store.newest_of_model(tx, model, TABLET_CASES)]
