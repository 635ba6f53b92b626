"""A Kafka record of the event topic, as the projections see it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from ledger.records import ISOFORMAT

REQUIRED = frozenset(("type", "source", "subject", "position", "seq", "time", "data", "hash",
                      "id"))

# `it.ledger.contribution.pledged.v1` -> (`contribution.pledged`, `contribution`), once per type.
_NAMES: dict[str, tuple[str, str]] = {}


def _name(event_type: str) -> tuple[str, str]:
    found = _NAMES.get(event_type)
    if found is None:
        name = event_type.removeprefix("it.ledger.").rpartition(".v")[0]
        found = _NAMES[event_type] = (name, name.partition(".")[0])
    return found


class Record:
    """Every field the projections read is derived once, when the record is parsed: a batch
    goes through four projections, and plain attributes are the cheapest thing to read.
    A record whose fields do not convert is not valid, and is parked."""

    __slots__ = ("aggregate", "data", "derived", "name", "offset", "partition", "position",
                 "raw", "seq", "stamp", "subject", "territory", "time", "type", "valid", "value",
                 "whole")

    def __init__(self, partition: int, offset: int, raw: bytes, value: dict[str, Any]) -> None:
        self.partition, self.offset, self.raw, self.value = partition, offset, raw, value
        self.valid = False
        self.whole = True
        # What each projection takes from it, when worked out ahead (store.prepare).
        self.derived: dict[str, Any] | None = None
        try:
            data = value["data"]
            if not isinstance(data, dict) or not value.keys() >= REQUIRED:
                return
            self.data: dict[str, Any] = data
            self.type = str(value["type"])
            self.name, self.aggregate = _name(self.type)
            self.territory = str(value["source"]).rpartition("/")[2]
            self.subject = str(value["subject"])
            self.position = int(value["position"])
            self.seq = int(value["seq"])
            self.time: datetime = datetime.fromisoformat(value["time"])
        except (KeyError, TypeError, ValueError):
            return
        # What the rows store: the record's own text when it is what isoformat() writes (the
        # relay's), which PostgreSQL reads as the same instant and COPY sends ten times
        # cheaper than a datetime; else the parsed datetime.
        self.stamp: str | datetime = (value["time"] if ISOFORMAT.fullmatch(value["time"])
                                      else self.time)
        self.valid = True

    @classmethod
    def header(cls, partition: int, offset: int, raw: bytes, valid: bool, territory: str,
               position: int) -> Record:
        """What applying a batch prepared elsewhere reads of a record (its tracking, its
        positions): the record as `parse` found it, without its fields. `full()` parses it
        should it be needed whole (a batch applied record by record, or derived again)."""
        record = cls.__new__(cls)
        record.partition, record.offset, record.raw, record.value = partition, offset, raw, {}
        record.valid, record.territory, record.position = valid, territory, position
        record.derived, record.whole = None, False
        return record

    def full(self) -> Record:
        """The record with every field (itself, unless it is a `header`)."""
        return self if self.whole else Record.parse(self.partition, self.offset, self.raw)

    @classmethod
    def parse(cls, partition: int, offset: int, raw: bytes) -> Record:
        """A record that is not a ledger event parses to an empty value (valid is False)."""
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = {}
        return cls(partition, offset, raw, value if isinstance(value, dict) else {})
