"""Domain events as rows of a binary COPY into the event store, for writing many at once.

`EventRows.row(event)` gives the row eventsourcing's mapper would store for the event: the
same topic, and a state byte for byte equal to its JSONTranscoder's (compact JSON in field
order, non-ASCII as is, uuids, datetimes and decimals as `{"_type_", "_data_"}`), written
by orjson instead of the json module. Whatever orjson could write differently (floats, ints
beyond 64 bits, subclasses and unregistered types, lone surrogates) or a mapper that
compresses or encrypts goes through the mapper itself. tests/unit/test_eventrows.py holds
the two equal.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic

# PostgreSQL's binary COPY: signature, flags, header extension length; then the rows; -1.
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
_FIELDS = struct.Struct("!hi16siq")  # 4 fields: uuid (16 bytes), bigint (8 bytes)
_LENGTH = struct.Struct("!i")
IDS_KEPT = 1 << 12


_SCALARS = frozenset({str, int, bool, type(None)})


class _NotPlain(Exception):
    """A value orjson would not write as the json module does."""


@dataclass(frozen=True)
class _Shape:
    uuids: tuple[str, ...]  # the fields (besides originator_id) that hold a uuid.UUID
    datetimes: tuple[str, ...]  # ... a datetime
    class_version: int
    topic: bytes  # the class's topic, its length first


class EventRows:
    def __init__(self, mapper: Mapper[uuid.UUID]) -> None:
        self.mapper = mapper
        plain = (isinstance(mapper.transcoder, JSONTranscoder) and mapper.compressor is None
                 and mapper.cipher is None)
        self._types: dict[type, Transcoding] | None = (
            mapper.transcoder.types if plain and isinstance(mapper.transcoder, JSONTranscoder)
            else None)
        # The most frequent values after plain ones (ids, and every event's timestamp),
        # written inline when eventsourcing's own transcodings write them.
        uuids = (self._types or {}).get(uuid.UUID)
        times = (self._types or {}).get(datetime)
        self._uuid_hex = uuids.name if type(uuids) is UUIDAsHex else None
        self._iso = times.name if type(times) is DatetimeAsISO else None
        self._topics: dict[type, bytes] = {}  # an event class -> its topic, length first
        # An id (its int) -> how the state writes it, for the ids written lately: most events
        # name ids that others named just before (their offer, need, match, people), and
        # orjson only reads these dicts. Emptied when IDS_KEPT are kept.
        self._ids: dict[int, dict[str, str | None]] = {}
        # (event class, its field names, their values' types) -> how to write such an event
        # by copying its fields and replacing only its ids and datetimes (see _shape), or
        # None: through the general _state.
        self._shapes: dict[tuple[Any, ...], _Shape | None] = {}

    def stored(self, event: DomainEventProtocol[uuid.UUID]) -> StoredEvent:
        """What `mapper.to_stored_event` gives, faster."""
        state = self._state(event)
        if state is None:
            return self.mapper.to_stored_event(event)
        return StoredEvent(originator_id=event.originator_id,
                           originator_version=event.originator_version,
                           topic=get_topic(type(event)), state=state)

    def row(self, event: DomainEventProtocol[uuid.UUID]) -> bytes:
        """The event as one row (originator_id, originator_version, topic, state)."""
        fields = vars(event)
        try:
            shape = self._shapes[(type(event), *fields, *map(type, fields.values()))]
        except KeyError:
            shape = None
        if shape is None:  # a class or types not seen yet, or written by _general
            return self._row(event)
        data = self._shaped(shape, fields)
        if data is None:
            return self._row(event)
        return _FIELDS.pack(4, 16, fields["originator_id"].int.to_bytes(16), 8,
                            fields["originator_version"]) \
            + shape.topic + _LENGTH.pack(len(data)) + data

    def _row(self, event: DomainEventProtocol[uuid.UUID]) -> bytes:
        """`row` for any event."""
        state = self._state(event)
        if state is None:
            state = self.mapper.to_stored_event(event).state
        originator_id = event.originator_id
        if type(originator_id) is not uuid.UUID:
            originator_id = uuid.UUID(str(originator_id))
        return b"%b%b%b%b" % (
            _FIELDS.pack(4, 16, originator_id.bytes, 8, event.originator_version),
            self._topic(type(event)), _LENGTH.pack(len(state)), state)

    def _topic(self, kind: type) -> bytes:
        topic = self._topics.get(kind)
        if topic is None:
            name = get_topic(kind).encode()
            topic = self._topics[kind] = _LENGTH.pack(len(name)) + name
        return topic

    def _state(self, event: DomainEventProtocol[uuid.UUID]) -> bytes | None:
        """The mapper's state bytes, or None where only the mapper itself can write them."""
        fields = vars(event)
        key = (type(event), *fields, *map(type, fields.values()))
        try:
            shape = self._shapes[key]
        except KeyError:
            shape = self._shapes[key] = self._shape(type(event), fields)
        if shape is None:
            return self._general(event)
        return self._shaped(shape, fields)

    def _shaped(self, shape: _Shape, fields: dict[str, Any]) -> bytes | None:
        """The mapper's own steps for an event of a known shape: a copy of the fields without
        the two columns, the ids and datetimes as its transcodings write them (in place: the
        order stays the fields'); None where orjson cannot write it."""
        state = fields.copy()
        del state["originator_id"], state["originator_version"]
        ids = self._ids
        for name in shape.uuids:
            number = state[name].int
            written = ids.get(number)
            if written is None:  # an id not written lately: {"_type_": …, "_data_": its .hex}
                if len(ids) >= IDS_KEPT:
                    ids.clear()
                written = ids[number] = {"_type_": self._uuid_hex, "_data_": f"{number:032x}"}
            state[name] = written
        iso = self._iso
        for name in shape.datetimes:
            value = state[name]
            # orjson writes a UTC datetime as isoformat() does (tests/unit/test_eventrows.py).
            state[name] = {"_type_": iso,
                           "_data_": value if value.tzinfo is UTC else value.isoformat()}
        if shape.class_version > 1:
            state["class_version"] = shape.class_version
        try:
            return orjson.dumps(state)
        except orjson.JSONEncodeError:  # an int beyond 64 bits, a lone surrogate
            return None

    def _shape(self, kind: type, fields: dict[str, Any]) -> _Shape | None:
        """How to write the events of a class whose fields hold values of these types: only
        where each is written by orjson as by the json module (str, int, bool, None) or is an
        id or a datetime that eventsourcing's own transcodings write."""
        if (self._types is None or not self._uuid_hex or not self._iso
                or type(fields.get("originator_id")) is not uuid.UUID
                or "originator_version" not in fields):
            return None
        uuids, datetimes = [], []
        for name, value in fields.items():
            if name in ("originator_id", "originator_version"):
                continue
            if type(value) is uuid.UUID:
                uuids.append(name)
            elif type(value) is datetime:
                datetimes.append(name)
            elif type(value) not in _SCALARS:
                return None
        return _Shape(tuple(uuids), tuple(datetimes), getattr(kind, "class_version", 1),
                      self._topic(kind))

    def _general(self, event: DomainEventProtocol[uuid.UUID]) -> bytes | None:
        """_state for any event: values walked one by one (lists, dicts, other transcodings)."""
        uuid_hex, iso = self._uuid_hex, self._iso
        if self._types is None or not uuid_hex or type(event.originator_id) is not uuid.UUID:
            return None
        state: dict[str, Any] = {}
        try:
            for key, value in vars(event).items():
                kind = type(value)
                if kind is str or kind is int or value is None or kind is bool:
                    state[key] = value
                elif kind is uuid.UUID:
                    if key != "originator_id":  # a column of its own
                        state[key] = {"_type_": uuid_hex, "_data_": f"{value.int:032x}"}
                elif kind is datetime and iso:
                    state[key] = {"_type_": iso, "_data_": value.isoformat()}
                else:
                    state[key] = self._plain(value)
            del state["originator_version"]
            class_version = getattr(type(event), "class_version", 1)
            if class_version > 1:
                state["class_version"] = class_version
            return orjson.dumps(state)
        except (_NotPlain, KeyError, orjson.JSONEncodeError):
            return None

    def _plain(self, value: Any) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is list or kind is tuple:
            return [self._plain(v) for v in value]
        if kind is dict:
            if not all(type(k) is str for k in value):
                raise _NotPlain
            return {k: self._plain(v) for k, v in value.items()}
        transcoding = self._types.get(kind) if self._types is not None else None
        if transcoding is None:
            raise _NotPlain
        return {"_type_": transcoding.name, "_data_": self._plain(transcoding.encode(value))}
