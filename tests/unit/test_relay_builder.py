"""build_records, which the relay's builder process runs: the plain fast way (orjson, then
encode_plain_record) and the transcoder's way (decode, then encode_record) give the same
records, chains and Merkle tiles, for any state the transcoder stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.relay_builder import Chain, Row, build_records
from ledger.records import ChainLink, encode_plain_record, encode_record

TOPICS = ["ledger.domain.match:Match.Reserved", "ledger.domain.actor:Actor.Registered"]


def transcoder() -> JSONTranscoder:
    t = JSONTranscoder()
    for coding in (UUIDAsHex(), DatetimeAsISO(), DecimalAsStr()):
        t.register(coding)
    return t


def chain() -> Chain:
    return Chain({}, 0, lambda territory, size: {})


def built(rows: list[Row], fast: bool) -> Any:
    """The records, chain and tiles; or the name of the error (rfc8785 refuses integers
    beyond the JSON-safe range, whichever way)."""
    codec, state = transcoder(), chain()
    try:
        records = build_records(rows, state, codec.decode, fast)
    except ValueError as err:
        return type(err).__name__
    return records, state.links, state.position, state.dirty, state.tree.take_writes()


zones = st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30)), None])
times = st.builds(lambda d, tz: d.replace(tzinfo=tz),
                  st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
                  zones)
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60)
           | st.floats(allow_nan=False) | st.text(max_size=12) | st.uuids() | times
           | st.decimals(allow_nan=False, allow_infinity=False, places=2))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
states = st.fixed_dictionaries(
    {"territory": st.sampled_from(["001001", "001002"]), "timestamp": times,
     "match_id": st.uuids()},
    optional={"extra": values, "quantity": st.integers(min_value=-(2**60), max_value=2**60),
              "version": st.integers(), "originator_topic": st.text(max_size=5)})


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(states, st.uuids(), st.integers(min_value=1, max_value=2**40),
                          st.sampled_from(TOPICS)), min_size=1, max_size=8))
def test_the_fast_way_builds_the_same_records(events: list[tuple[dict[str, Any], uuid.UUID,
                                                                 int, str]]) -> None:
    codec = transcoder()
    rows: list[Row] = [(position, str(originator), version, topic, codec.encode(state))
                       for position, (state, originator, version, topic)
                       in enumerate(events, start=1)]
    assert built(rows, True) == built(rows, False)


def test_a_plain_state_encodes_as_encode_record_does() -> None:
    state = {"territory": "001001", "timestamp": "2026-01-02T03:04:05.000006+00:00",
             "originator_id": "x", "originator_version": 3, "originator_topic": "t",
             "version": "not this one", "quantity": 5, "notes": ["a", {"b": None}]}
    prev = ChainLink(4, "cd" * 32)
    expected = encode_record(topic=TOPICS[0], state=dict(state), originator_id=str(uuid.UUID(int=9)),
                             version=2, position=17, prev=prev)
    assert encode_plain_record(topic=TOPICS[0], state=dict(state),
                               originator_id=str(uuid.UUID(int=9)), version=2, position=17,
                               prev=prev) == expected
    # Beyond the integers JCS takes: the checked way, which refuses them.
    with pytest.raises(ValueError, match="safe integer") as checked:
        encode_record(topic=TOPICS[0], state=dict(state), originator_id="o", version=2**60,
                      position=17, prev=None)
    with pytest.raises(type(checked.value)):
        encode_plain_record(topic=TOPICS[0], state=dict(state), originator_id="o",
                            version=2**60, position=17, prev=None)


def test_unusual_states_take_the_transcoders_way() -> None:
    codec = transcoder()
    stored = codec.encode({"territory": "001001", "timestamp": datetime.now(UTC),
                           "amount": 1.5, "città": 2**40})
    rows: list[Row] = [(1, str(uuid.uuid4()), 1, TOPICS[0], stored),
                       (2, str(uuid.uuid4()), 1, TOPICS[1],
                        codec.encode({"territory": "001001", "timestamp": datetime.now(UTC)}))]
    found = built(rows, True)
    assert found == built(rows, False)
    assert found[2] == 2 and found[1]["001001"].seq == 2
