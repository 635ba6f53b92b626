"""ledger.eventrows writes, for every event, the row eventsourcing's own mapper would store."""

from __future__ import annotations

import struct
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from ledger import eventrows
from ledger.eventrows import HEADER, TRAILER, EventRows
from tests.unit.domain.scenario import every_event_story


def _rows() -> EventRows:
    return EventRows(Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper)


def _parse_row(row: bytes) -> StoredEvent:
    count, size, ident, size2, version = struct.unpack_from("!hi16siq", row)
    assert (count, size, size2) == (4, 16, 8)
    at = struct.calcsize("!hi16siq")
    (topic_size,) = struct.unpack_from("!i", row, at)
    topic = row[at + 4:at + 4 + topic_size].decode()
    at += 4 + topic_size
    (state_size,) = struct.unpack_from("!i", row, at)
    assert len(row) == at + 4 + state_size
    return StoredEvent(uuid.UUID(bytes=ident), version, topic, row[at + 4:])


def _mapper_row(rows: EventRows, event: Any) -> bytes:
    stored = rows.mapper.to_stored_event(event)
    topic = stored.topic.encode()
    return (struct.pack("!hi16siq", 4, 16, stored.originator_id.bytes, 8,
                        stored.originator_version)
            + struct.pack("!i", len(topic)) + topic + struct.pack("!i", len(stored.state))
            + stored.state)


def test_every_event_of_the_domain_is_stored_as_the_mapper_stores_it() -> None:
    rows = _rows()
    events = [e for a in every_event_story() for e in a.collect_events()]
    assert len({type(e) for e in events}) >= 25
    for event in events:
        expected = rows.mapper.to_stored_event(event)
        assert rows.stored(event) == expected
        assert _parse_row(rows.row(event)) == expected
    # Rows first (each shape learnt by its first event, written inline for the next ones).
    fresh = _rows()
    for event in events + events:
        assert _parse_row(fresh.row(event)) == fresh.mapper.to_stored_event(event)


class Odd(Aggregate):
    class Noted(Aggregate.Event):
        value: Any

        def apply(self, aggregate: Aggregate) -> None:
            pass

    def note(self, value: Any) -> None:
        self.trigger_event(self.Noted, value=value)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.uuids() | st.datetimes(timezones=st.just(UTC)) | st.decimals(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8))
def test_any_value_is_stored_as_the_mapper_stores_it(value: Any) -> None:
    rows = _rows()
    odd = Odd()
    odd.note(value)
    for event in odd.collect_events():
        assert rows.stored(event) == rows.mapper.to_stored_event(event)


class Pair(Aggregate):
    class Noted(Aggregate.Event):
        first: Any
        second: Any

        def apply(self, aggregate: Aggregate) -> None:
            pass

    def note(self, first: Any, second: Any) -> None:
        self.trigger_event(self.Noted, first=first, second=second)


ZONES = st.none() | st.just(UTC) | st.builds(
    timezone, st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23)))
SCALARS = (st.none() | st.booleans() | st.integers() | st.text() | st.uuids()
           | st.datetimes(timezones=ZONES) | st.floats(allow_nan=False))


@given(SCALARS, SCALARS)
def test_events_of_one_class_with_values_of_any_types_are_stored_as_the_mapper_stores_them(
        first: Any, second: Any) -> None:
    """The rows are written by the shape of an event's values (their types): every shape,
    and each after another of the same class, gives the mapper's bytes."""
    rows = _rows()
    pair = Pair()
    pair.note(first, second)
    pair.note(second, first)
    pair.note(first, first)
    for event in pair.collect_events():
        expected = rows.mapper.to_stored_event(event)
        assert rows.stored(event) == expected
        assert _parse_row(rows.row(event)) == expected


def test_what_orjson_writes_otherwise_goes_through_the_mapper() -> None:
    rows = _rows()
    for value in (1.5, 2**70, Decimal("1.10"), [datetime(2026, 1, 1, tzinfo=UTC)],
                  {"a": (1, uuid.uuid4())}, {1: "a"}, True, "è\u2028\x00"):
        odd = Odd()
        odd.note(value)
        event = odd.collect_events()[-1]
        assert rows.stored(event) == rows.mapper.to_stored_event(event)
    odd = Odd()
    odd.note("\ud800")  # a lone surrogate: no UTF-8 for it, either way
    event = odd.collect_events()[-1]
    with pytest.raises(UnicodeEncodeError):
        rows.mapper.to_stored_event(event)
    with pytest.raises(UnicodeEncodeError):
        rows.row(event)


def test_the_copy_header_and_trailer_are_postgresql_binary_copy() -> None:
    assert b"PGCOPY\n\xff\r\n\x00" + bytes(8) == HEADER
    assert TRAILER == b"\xff\xff"


def test_ids_written_lately_are_kept_and_the_rows_stay_the_mappers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An id's JSON is kept for the next events that name it (a few at a time here, so that
    the kept ones are dropped and made again many times)."""
    monkeypatch.setattr(eventrows, "IDS_KEPT", 3)
    rows = _rows()
    events = [e for _ in range(3) for a in every_event_story() for e in a.collect_events()]
    for event in events + events:
        assert _parse_row(rows.row(event)) == rows.mapper.to_stored_event(event)
        assert rows.stored(event) == rows.mapper.to_stored_event(event)
    assert 0 < len(rows._ids) <= 3


SAMPLES: list[Any] = [None, True, 0, -2**63, 2**64, "", "è\u2028\"", uuid.UUID(int=7),
                      uuid.uuid4(), datetime(2026, 1, 1, tzinfo=UTC),
                      datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
                      datetime(2026, 1, 1), 1.5, [1], {"a": uuid.UUID(int=1)}]


def test_one_writer_learning_every_pair_of_types_stays_the_mappers() -> None:
    """One EventRows sees the fields of a class take values of type after type (its writer
    for the class made anew as each type comes): each row is still the mapper's."""
    rows = _rows()
    pair = Pair()
    for first in SAMPLES:
        for second in SAMPLES:
            pair.note(first, second)
    events = pair.collect_events()
    assert len(events) == 1 + len(SAMPLES) ** 2
    for event in events:
        expected = rows.mapper.to_stored_event(event)
        assert _parse_row(rows.row(event)) == expected
        assert rows.stored(event) == expected
    assert Pair.Noted in rows._learnt  # a writer was made for the class, and is used


def test_extend_appends_the_rows_one_after_another() -> None:
    rows, fresh = _rows(), _rows()
    events = [e for a in every_event_story() for e in a.collect_events()]
    pair = Pair()
    for first in SAMPLES:
        pair.note(first, SAMPLES[-1 - SAMPLES.index(first) % 5])
    events += pair.collect_events()
    blob = bytearray(b"head")
    fresh.extend(blob, events)
    fresh.extend(blob, events)  # the second time through the writers learnt the first
    expected = b"".join(_mapper_row(rows, e) for e in events)
    assert bytes(blob) == b"head" + expected + expected


def test_threads_sharing_one_writer_while_it_learns_get_the_mappers_rows() -> None:
    """The API's threads share one EventRows: each class's writers are learnt while others
    write (switching threads as often as Python can)."""
    events = [e for a in every_event_story() for e in a.collect_events()]
    pair = Pair()
    for first in SAMPLES:
        pair.note(first, SAMPLES[-1 - SAMPLES.index(first) % 5])
    events += pair.collect_events()
    reference = _rows()
    expected = [reference.mapper.to_stored_event(e) for e in events]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(5):
            rows = _rows()
            barrier = threading.Barrier(8)
            wrong: list[BaseException | StoredEvent] = []

            def write(rows: EventRows = rows, barrier: threading.Barrier = barrier,
                      wrong: list[BaseException | StoredEvent] = wrong) -> None:
                barrier.wait()
                try:
                    for event, stored in zip(events, expected, strict=True):
                        got = rows.stored(event)
                        if got != stored:
                            wrong.append(got)
                except Exception as error:  # noqa: BLE001 - collected for the assertion
                    wrong.append(error)

            threads = [threading.Thread(target=write) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert wrong == []
    finally:
        sys.setswitchinterval(interval)
