"""The orjson transcoder reads what the library's JSON transcoder writes, value for value."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoder,
    UUIDAsHex,
)
from hypothesis import given
from hypothesis import strategies as st

from storage.transcoder import OrjsonTranscoder


def registered(transcoder: Transcoder) -> Transcoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


LIBRARY = registered(JSONTranscoder())
OURS = registered(OrjsonTranscoder())

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.datetimes(timezones=st.just(UTC))
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False).map(Decimal)
)
keys = st.text() | st.sampled_from(["_type_", "_data_", "timestamp"])
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


def outcome(transcoder: Transcoder, stored: bytes) -> tuple[str, Any]:
    """What decoding gives: the value, or the type of the error it raises."""
    try:
        return "decoded", transcoder.decode(stored)
    except Exception as error:  # a tag nobody registered: both must refuse it alike
        return "refused", type(error)


@given(st.dictionaries(keys, values, max_size=6))
def test_decoding_what_the_library_encoded_gives_what_the_library_decodes(state: Any) -> None:
    stored = LIBRARY.encode(state)

    assert outcome(OURS, stored) == outcome(LIBRARY, stored)


@given(st.datetimes(timezones=st.just(UTC)), st.text())
def test_a_tag_with_more_than_its_two_keys_stays_a_dict(at: Any, extra: str) -> None:
    tagged = {"_type_": "datetime_iso", "_data_": at.isoformat(), "x": extra}
    stored = LIBRARY.encode({"timestamp": tagged})

    assert OURS.decode(stored) == LIBRARY.decode(stored)
