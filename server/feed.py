"""The change feed devices pull from: one row per changed record, in commit-safe order.

Every write that a device must learn about publishes the typed records it
changed (:mod:`schemas.records`) in the same transaction (:func:`publish`);
:func:`scopes_for` is the one rule of which devices receive a record, and
:func:`device_scopes` the scopes a device reads.  A record is stored as its
kind, its id and the msgpack of its ``data``, so a page is sent as stored
(:class:`RawChange`).  Rows carry the writing transaction's id; a pull
only returns rows whose transaction id is below the oldest still-running
transaction (``Database.visible_xid_limit``), ordered by ``(xid, seq)``.  So a
cursor never skips a change, even when PostgreSQL transactions commit out of
the order their sequence values were taken.  On SQLite commits are serial and
``xid`` is 0.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import accumulate, count
from operator import itemgetter
from typing import Any, Final

import msgspec

from schemas.codec import encode
from schemas.records import RECORD_TYPES, JobRecord, PartRecord, Record, TemplateRecord
from sync.storage import Database, Tx

ALL: Final = "all"
FEED_COLUMNS: Final = ("xid", "scope", "kind", "entity_id", "data")
#: feed rows read per query when building a pull page
FEED_SLICE: Final = 1000
# the columns of a page query's rows (seq, xid, kind, entity_id, data)
_KIND: Final = itemgetter(2)
_ENTITY: Final = itemgetter(3)
_KEY: Final = itemgetter(2, 3)
_DATA: Final = itemgetter(4)


def engineer_scope(engineer_id: str) -> str:
    """The feed scope of one engineer's devices."""
    return f"eng:{engineer_id}"


def device_scopes(engineer_id: str) -> list[str]:
    """The scopes a device of ``engineer_id`` reads: what every device sees, and its engineer's own."""
    return [ALL, engineer_scope(engineer_id)]


#: records every device receives: the catalogue a tablet checks and picks from offline
SHARED_RECORDS: Final[frozenset[type]] = frozenset({TemplateRecord, PartRecord})
_KINDS: Final[dict[type, str]] = {cls: str(cls.__struct_config__.tag) for cls in RECORD_TYPES}


def scopes_for(record: Record, engineer_id: str | None = None) -> list[str]:
    """Which devices receive ``record``: the one rule of what a tablet sees.

    Templates and parts go to every device.  A job goes to the devices of the engineer it is
    assigned to (its own ``engineer_id``).  Every other record is part of one engineer's work and
    goes to that engineer's devices: ``engineer_id`` names them (the engineer of the job an answer,
    movement, sign-off, attachment, conflict, asset or case belongs to; the owner of a van's stock;
    the engineer a removed job left).
    """
    cls = type(record)
    if cls in SHARED_RECORDS:
        return [ALL]
    if cls is JobRecord:
        return [engineer_scope(record.data.engineer_id)]  # type: ignore[union-attr]
    if engineer_id is None:
        raise ValueError(f"a {_KINDS[cls]} record goes to one engineer's devices: name the engineer")
    return [engineer_scope(engineer_id)]


def publish(tx: Tx, records: Iterable[Record], engineer_id: str | None = None) -> None:
    """Append ``records`` to the feed in the current transaction, each for the devices :func:`scopes_for` names.

    ``engineer_id``: the engineer whose work the records are part of (see :func:`scopes_for`).
    """
    xid = tx.current_xid()
    rows = [(xid, scope, _KINDS[type(r)], r.id, data)
            for r in records for data in (encode(r.data),) for scope in scopes_for(r, engineer_id)]
    if rows:
        tx.append("changes", FEED_COLUMNS, rows)


def emit(tx: Tx, scope: str, kind: str, entity_id: str, data: object) -> None:
    """Append one feed row as given: the storage primitive under :func:`publish`, which domain code uses."""
    tx.execute("INSERT INTO changes (xid, scope, kind, entity_id, data) VALUES (?, ?, ?, ?, ?)",
               (tx.current_xid(), scope, kind, entity_id, encode(data)))


def emit_many(tx: Tx, rows: list[tuple[str, str, str, object]]) -> None:
    """Append several feed rows (scope, kind, id, data) as given (see :func:`emit`)."""
    if rows:
        xid = tx.current_xid()
        tx.append("changes", FEED_COLUMNS, [(xid, s, k, e, encode(d)) for s, k, e, d in rows])


def parse_cursor(cursor: str) -> tuple[int, int]:
    """``"xid.seq"`` -> (xid, seq); the empty cursor is the start."""
    if not cursor:
        return (0, 0)
    xid, _, seq = cursor.partition(".")
    return (int(xid), int(seq))


def format_cursor(xid: int, seq: int) -> str:
    """(xid, seq) -> cursor string."""
    return f"{xid}.{seq}"


class RawChange(msgspec.Struct, gc=False):
    """A pull record (:data:`schemas.records.Record`) whose ``data`` is still the msgpack stored in the feed.

    Encodes to exactly the bytes of the record: a page is sent without decoding and re-encoding
    every record.
    """

    kind: str
    id: str
    data: msgspec.Raw


def read_feed(
    db: Database, scopes: list[str], cursor: str, limit: int, max_bytes: int | None = None,
) -> tuple[list[RawChange], str, bool]:
    """One page of changes after ``cursor`` in ``scopes``: (changes, next cursor, more).

    At most ``limit`` feed rows, and no more rows than fit in ``max_bytes`` of record data (at least
    one, so a large record still moves the cursor).  The rows are read :data:`FEED_SLICE` at a time,
    so what the server holds is bounded by the byte budget, however many rows a page may count.
    """
    cx, cs = parse_cursor(cursor)
    scopes = list(dict.fromkeys(scopes))  # one arm per scope
    rows: list[tuple[Any, ...]] = []
    more = False
    size = 0
    with db.read() as tx:
        ceiling = db.visible_xid_limit(tx)  # rows below it can no longer appear: every slice sees the same feed
        if tx.dialect == "postgresql":
            # Without fresh statistics the planner would rather sort than merge the index ranges: keep
            # it on the index (SET LOCAL ends with this read).
            tx.execute("SET LOCAL enable_sort = off")
        sql, after = page_query(tx.dialect, scopes, ceiling)
        xid, seq = cx, cs
        while True:
            want = min(FEED_SLICE, limit + 1 - len(rows))  # one row beyond the limit tells there is more
            got = tx.rows(sql, after(xid, seq, want))
            take = min(len(got), limit - len(rows))
            if max_bytes is not None and take:
                # running sizes of this slice's records: the rows within the budget (one at least in all)
                ends = list(accumulate(map(len, map(_DATA, got[:take])), initial=size))
                fits = bisect_right(ends, max_bytes, lo=1) - 1
                take = min(take, fits if fits or rows else 1)
                size = ends[take]
            rows += got[:take]
            if take < len(got):
                more = True
                break
            if len(got) < want:
                break  # the end of what is visible
            seq, xid = got[-1][0], got[-1][1]
    if not rows:
        return [], cursor, False
    # keep the newest state of a record changed twice, in the position of its last change
    latest = dict(zip(map(_KEY, rows), count()))
    if len(latest) < len(rows):
        rows = [rows[i] for i in sorted(latest.values())]
    last = rows[-1]
    changes = list(map(RawChange, map(_KIND, rows), map(_ENTITY, rows), map(msgspec.Raw, map(_DATA, rows))))
    return changes, format_cursor(int(last[1]), int(last[0])), more


PageParams = Callable[[int, int, int], list[Any]]


def page_query(dialect: str, scopes: list[str], ceiling: int | None) -> tuple[str, PageParams]:
    """SQL reading the next rows of ``scopes`` after a cursor, and its parameters for (xid, seq, how many).

    Per scope, one range of the ``(scope, xid, seq)`` index from the cursor on, the ranges merged in
    order: a pull reads its own rows, however many other devices' rows the feed holds.
    """
    below, top = ("", []) if ceiling is None else (" AND xid < ?", [ceiling])
    cols = "SELECT seq, xid, kind, entity_id, data FROM changes WHERE scope = ?"
    if dialect == "postgresql":
        # a row comparison is one index range; each arm stops at the page size (Merge Append)
        arm = f"({cols} AND (xid, seq) > (?, ?){below} ORDER BY xid, seq LIMIT ?)"
        sql = f"SELECT * FROM ({' UNION ALL '.join([arm] * len(scopes))}) AS page ORDER BY xid, seq LIMIT ?"

        def after(xid: int, seq: int, n: int) -> list[Any]:
            return [p for scope in scopes for p in (scope, xid, seq, *top, n)] + [n]
    else:
        # SQLite seeks on one range column only (and xid is always 0 there): per scope, the rest of the
        # cursor's transaction and the later ones, as two seeks; all arms merged in order
        arms = f"{cols} AND xid = ? AND seq > ?{below} UNION ALL {cols} AND xid > ?{below}"
        sql = f"{' UNION ALL '.join([arms] * len(scopes))} ORDER BY xid, seq LIMIT ?"

        def after(xid: int, seq: int, n: int) -> list[Any]:
            return [p for scope in scopes for p in (scope, xid, seq, *top, scope, xid, *top)] + [n]
    return sql, after
