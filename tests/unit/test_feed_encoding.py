"""Pull pages are sent from feed rows without re-encoding: the bytes must be a valid PullPage."""

from __future__ import annotations

import msgspec

from schemas.codec import encode, pull_page_decoder
from schemas.wire import Change, PullPage
from server.domain.sync.pull import RawPullPage
from server.feed import RawChange


def test_a_raw_page_encodes_to_the_same_bytes_as_a_decoded_one() -> None:
    records = [("job", "J-1", {"id": "J-1", "status": "on_site", "field_hlc": {"notes": 5}}),
               ("answer", "J-1/k", {"value": 9.5, "deleted": False, "note": None})]
    raw = RawPullPage(protocol_version=1, device_id="D", cursor="0.9", more=False, server_time=7,
                      changes=[RawChange(kind=k, id=i, data=msgspec.Raw(encode(d))) for k, i, d in records])
    decoded = PullPage(protocol_version=1, device_id="D", cursor="0.9", more=False, server_time=7,
                       changes=[Change(kind=k, id=i, data=d) for k, i, d in records])
    assert encode(raw) == encode(decoded)
    assert pull_page_decoder.decode(encode(raw)) == decoded
