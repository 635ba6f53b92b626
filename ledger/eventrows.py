"""Domain events as rows of a binary COPY into the event store, for writing many at once.

`EventRows.row(event)` gives the row eventsourcing's mapper would store for the event: the
same topic, and a state byte for byte equal to its JSONTranscoder's (compact JSON in field
order, non-ASCII as is, uuids, datetimes and decimals as `{"_type_", "_data_"}`), written
by orjson instead of the json module. Whatever orjson could write differently (floats, ints
beyond 64 bits, subclasses and unregistered types, lone surrogates) or a mapper that
compresses or encrypts goes through the mapper itself. tests/unit/test_eventrows.py holds
the two equal.

For each event class, a row writer and a state writer are compiled (as `dataclasses` makes
its methods) for the fields of its first event and the types their values have had: one
function per class that copies the fields, replaces ids and datetimes inline and checks
every other value's type, with no loop over the fields (7% fewer instructions per imported
event than a loop over a per-class plan). An event they do not fit (a new type, other
fields) returns None from them and is learnt, or written by the general path.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Iterable
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
IDS_KEPT = 1 << 14


# The types of the values a compiled writer (see _compile) writes: as is, or (ids,
# datetimes) as eventsourcing's own transcodings write them.
_PLAIN = frozenset({str, int, bool, type(None), uuid.UUID, datetime})
_AS_IS = {str: "type({v}) is str", int: "type({v}) is int", bool: "type({v}) is bool",
          type(None): "{v} is None"}  # a test of a value `{v}`, in a compiled writer


class _NotPlain(Exception):
    """A value orjson would not write as the json module does."""


Write = Callable[[Any], bytes | None]
Append = Callable[[Any, bytearray], bool | None]
Writers = tuple[Write, Write, Append]  # of a row, of a state, appending a row


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
        # An id (its int) -> its JSON in a state, for the ids written lately: most events
        # name ids that others named just before (their offer, need, match, people).
        # Emptied when IDS_KEPT are kept.
        self._ids: dict[int, orjson.Fragment] = {}
        self._id_json = b'{"_type_":%b,"_data_":"%%032x"}' % orjson.dumps(self._uuid_hex)
        # An event class -> its fields (in the order of its first event) and the types their
        # values had, in the events written so far with only _PLAIN values; and its writers
        # compiled for those (_compile): of its row, of its state.
        self._learnt: dict[type, tuple[dict[str, frozenset[type]], Writers]] = {}

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
        learnt = self._learnt.get(type(event))
        if learnt is not None:
            row = learnt[1][0](event)
            if row is not None:
                return row
        return self._row(event)

    def extend(self, blob: bytearray, events: Iterable[DomainEventProtocol[uuid.UUID]]) -> None:
        """Appends the events' rows to `blob` (as `blob += row(event)` for each)."""
        learnt = self._learnt
        for event in events:
            known = learnt.get(type(event))
            if known is None or known[1][2](event, blob) is None:
                blob += self._row(event)

    def _row(self, event: DomainEventProtocol[uuid.UUID]) -> bytes:
        """`row` for any event (learning its class's writer where it can)."""
        writers = self._learn(event)
        if writers is not None:
            row = writers[0](event)
            if row is not None:
                return row
        state = self._general(event)
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
        learnt = self._learnt.get(type(event))
        if learnt is not None:
            state = learnt[1][1](event)
            if state is not None:
                return state
        writers = self._learn(event)
        if writers is not None:
            state = writers[1](event)
            if state is not None:
                return state
        return self._general(event)

    def _learn(self, event: DomainEventProtocol[uuid.UUID]) -> Writers | None:
        """The writers of the event's class for events with its fields and values of their
        types (compiled anew where this one's add a type), when they are all _PLAIN and
        eventsourcing's own transcodings write its ids and datetimes; else None. (The API's
        threads share one EventRows: a class's fields and writers are replaced together, in
        one assignment, and a writer that does not fit an event returns None.)"""
        if self._types is None or not self._uuid_hex or not self._iso:
            return None
        kind, values = type(event), vars(event)
        if any(type(value) not in _PLAIN for value in values.values()) or \
                type(values.get("originator_id")) is not uuid.UUID or \
                type(values.get("originator_version")) is not int:
            return None
        learnt = self._learnt.get(kind)
        if learnt is None:
            fields = {name: frozenset({type(value)}) for name, value in values.items()}
        elif learnt[0].keys() == values.keys():
            fields = {name: types | {type(values[name])} for name, types in learnt[0].items()}
            if fields == learnt[0]:
                return learnt[1]
        else:  # other fields than its first event's: through _general
            return None
        writers = self._compile(kind, fields)
        self._learnt[kind] = (fields, writers)
        return writers

    def _compile(self, kind: type, fields: dict[str, frozenset[type]]
                 ) -> Writers:
        """The row and the state of an event of class `kind` with these fields, their values
        of these types, as the mapper writes them (or None, for any other event: then
        _general writes it, or the mapper). The mapper's own steps: a copy of the event's
        fields, without the two columns, its ids and datetimes replaced in place (the order
        stays the event's), the class_version of a class past its first, JSON."""
        lines = ["s = event.__dict__.copy()",
                 f"if len(s) != {len(fields)}:",
                 "    return None",
                 "try:",
                 "    oid = s.pop('originator_id')",
                 "    ver = s.pop('originator_version')",
                 "    if type(oid) is not UUID or type(ver) is not int:",
                 "        return None"]
        checks = []  # of the fields with values of one type written as is: all at once
        for name, types in fields.items():
            if name in ("originator_id", "originator_version"):
                continue
            key = repr(name)
            if len(types) == 1 and not types & {uuid.UUID, datetime}:
                # (`not a is b` compiles to `a is not b`)
                checks.append("not " + _AS_IS[next(iter(types))].format(v=f"s[{key}]"))
                continue
            lines.append(f"    v = s[{key}]")
            branch = "if"
            if uuid.UUID in types:
                lines += [f"    {branch} type(v) is UUID:",
                          "        try:",
                          f"            s[{key}] = ids[v.int]",
                          "        except KeyError:",
                          f"            s[{key}] = new_id(v.int)"]
                branch = "elif"
            if datetime in types:
                # orjson writes a UTC datetime as isoformat() does (tests/unit/test_eventrows.py).
                lines += [f"    {branch} type(v) is datetime:",
                          f"        s[{key}] = {{'_type_': ISO, "
                          "'_data_': v if v.tzinfo is UTC else v.isoformat()}"]
                branch = "elif"
            as_is = [_AS_IS[t].format(v="v")
                     for t in sorted(types - {uuid.UUID, datetime}, key=str)]
            if branch == "if":
                lines += [f"    if not ({' or '.join(as_is)}):", "        return None"]
            elif as_is:
                lines += [f"    elif not ({' or '.join(as_is)}):", "        return None"]
            else:
                lines += ["    else:", "        return None"]
        if checks:
            lines += [f"    if {' or '.join(checks)}:", "        return None"]
        class_version = getattr(kind, "class_version", 1)
        if class_version > 1:
            lines.append(f"    s['class_version'] = {int(class_version)}")
        lines += ["    data = dumps(s)",
                  "except (KeyError, JSONEncodeError):  # an int beyond 64 bits, a lone surrogate",
                  "    return None"]
        body = "\n".join("    " + line for line in lines)
        topic = self._topic(kind)
        source = (f"def row(event):\n{body}\n    return PACK(4, 16, oid.int.to_bytes(16), 8, "
                  f"ver, {len(topic) - 4}, TOPIC, len(data)) + data\n"
                  f"def state(event):\n{body}\n    return data\n"
                  f"def append(event, blob):\n{body}\n    blob += PACK(4, 16, oid.int.to_bytes(16), 8, "
                  f"ver, {len(topic) - 4}, TOPIC, len(data))\n    blob += data\n    return True\n")
        namespace: dict[str, Any] = {
            "UUID": uuid.UUID, "datetime": datetime, "UTC": UTC, "ISO": self._iso,
            "ids": self._ids, "new_id": self._new_id, "dumps": orjson.dumps,
            "JSONEncodeError": orjson.JSONEncodeError, "TOPIC": topic[4:],
            "PACK": struct.Struct(f"!hi16siqi{len(topic) - 4}si").pack}
        exec(compile(source, f"<rows of {kind.__qualname__}>", "exec"), namespace)  # noqa: S102
        return namespace["row"], namespace["state"], namespace["append"]

    def _new_id(self, number: int) -> orjson.Fragment:
        """The JSON of the id with this int, kept for the next events that name it."""
        ids = self._ids
        if len(ids) >= IDS_KEPT:
            ids.clear()
        written = ids[number] = orjson.Fragment(self._id_json % number)
        return written

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
