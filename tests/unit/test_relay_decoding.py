"""The relay reads stored states with orjson instead of eventsourcing's transcoder; the record
bytes must be the same either way, and anything unusual must go the transcoder's way."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.relay import _is_default_json, _json_state
from ledger.records import EVENT_ID_NAMESPACE, ChainLink, encode_record, event_id

TOPIC = "ledger.domain.match:Match.Reserved"


def transcoder() -> JSONTranscoder:
    t = JSONTranscoder()
    for coding in (UUIDAsHex(), DatetimeAsISO(), DecimalAsStr()):
        t.register(coding)
    return t


def record(state: dict[str, Any]) -> bytes | str:
    """The record's bytes, or the name of the error encoding it raised."""
    try:
        return encode_record(topic=TOPIC, state=state, originator_id=uuid.UUID(int=7),
                             version=3, position=11, prev=ChainLink(2, "ab" * 32))[1]
    except ValueError as err:  # rfc8785 refuses integers outside the JSON-safe range
        return type(err).__name__


zones = st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30)),
                         timezone(timedelta(hours=14)), timezone(timedelta(seconds=37)), None])
times = st.builds(lambda d, tz: d.replace(tzinfo=tz),
                  st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
                  zones)
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True) | st.text(max_size=20) | st.uuids() | times)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(max_size=10), values, max_size=6), times, st.uuids())
def test_fast_decoding_gives_the_same_record_bytes(extra: dict[str, Any], at: datetime,
                                                   match_id: uuid.UUID) -> None:
    codec = transcoder()
    state = {**extra, "territory": "001001", "timestamp": at, "match_id": match_id}
    stored = codec.encode(state)
    fast = _json_state(stored)
    slow = codec.decode(stored)
    if fast is not None:
        assert record(fast) == record(slow)


def test_the_usual_state_takes_the_fast_way() -> None:
    codec = transcoder()
    stored = codec.encode({"territory": "001001", "timestamp": datetime.now(UTC),
                           "match_id": uuid.uuid4(), "quantity": 3, "note_sealed": None})
    fast = _json_state(stored)
    assert fast is not None
    assert record(fast) == record(codec.decode(stored))


def test_what_the_fast_way_does_not_know_goes_to_the_transcoder() -> None:
    codec = transcoder()
    assert _json_state(codec.encode({"territory": "1", "amount": Decimal("1.5")})) is None
    assert _json_state(b'{"territory": "1", "x": NaN}') is None
    assert _json_state(b'{"territory": "1", "x": 123456789012345678901234567890}') is None
    assert _json_state(b'{"territory": "1", "x": [1.5]}') is None
    upper = {"_type_": "uuid_hex", "_data_": uuid.uuid4().hex.upper()}
    assert _json_state(codec.encoder.encode({"territory": "1", "id": upper}).encode()) is None
    assert _json_state(b"[1, 2]") is None


def test_only_the_standard_transcoder_is_read_the_fast_way() -> None:
    assert _is_default_json(transcoder().decode)
    assert not _is_default_json(lambda raw: {})


@settings(max_examples=300, deadline=None)
@given(st.uuids() | st.text(max_size=40), st.integers(min_value=0, max_value=2**40))
def test_event_id_is_uuid5(originator: uuid.UUID | str, version: int) -> None:
    expected = str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{originator}:{version}"))
    assert event_id(originator, version) == expected
