"""Pull pages are sent from feed rows without re-encoding: the bytes must be a valid PullPage."""

from __future__ import annotations

import msgspec

from client_sdk.testing import record
from schemas.codec import encode, pull_page_decoder
from schemas.records import Record
from schemas.wire import PullPage
from server.domain.sync.pull import RawPullPage
from server.feed import RawChange


def test_a_raw_page_encodes_to_the_same_bytes_as_a_decoded_one() -> None:
    given = [record("job", "J-1", status="on_site", field_hlc={"notes": 5}),
             record("answer", "J-1/k", value=9.5, deleted=False, note=None)]
    records = [msgspec.convert(msgspec.to_builtins(r), Record) for r in given]  # type: ignore[var-annotated]
    raw = RawPullPage(protocol_version=1, device_id="D", cursor="0.9", more=False, server_time=7,
                      changes=[RawChange(kind=r.kind, id=r.id, data=msgspec.Raw(encode(typed.data)))
                               for r, typed in zip(given, records, strict=True)])
    decoded = PullPage(protocol_version=1, device_id="D", cursor="0.9", more=False, server_time=7, changes=records)
    assert encode(raw) == encode(decoded)
    assert pull_page_decoder.decode(encode(raw)) == decoded
