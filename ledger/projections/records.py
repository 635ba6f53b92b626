"""A Kafka record of the event topic, as the projections see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson


@dataclass(eq=False)
class Record:
    """Derived fields are computed once: every projection reads them."""

    partition: int
    offset: int
    raw: bytes
    value: dict[str, Any]

    @classmethod
    def parse(cls, partition: int, offset: int, raw: bytes) -> Record:
        """A record that is not a ledger event parses to an empty value (valid is False)."""
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = {}
        return cls(partition, offset, raw, value if isinstance(value, dict) else {})

    @cached_property
    def valid(self) -> bool:
        keys = ("type", "source", "subject", "position", "seq", "time", "data", "hash", "id")
        return all(k in self.value for k in keys) and isinstance(self.value["data"], dict)

    @property
    def type(self) -> str:
        return str(self.value["type"])

    @cached_property
    def name(self) -> str:
        """`it.ledger.contribution.pledged.v1` -> `contribution.pledged`."""
        return self.type.removeprefix("it.ledger.").rpartition(".v")[0]

    @cached_property
    def aggregate(self) -> str:
        return self.name.partition(".")[0]

    @cached_property
    def territory(self) -> str:
        return str(self.value["source"]).rpartition("/")[2]

    @property
    def subject(self) -> str:
        return str(self.value["subject"])

    @property
    def position(self) -> int:
        return int(self.value["position"])

    @property
    def seq(self) -> int:
        return int(self.value["seq"])

    @cached_property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.value["time"])

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.value["data"]
        return data
