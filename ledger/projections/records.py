"""A Kafka record of the event topic, as the projections see it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    raw: bytes
    value: dict[str, Any]

    @classmethod
    def parse(cls, partition: int, offset: int, raw: bytes) -> Record:
        """A record that is not a ledger event parses to an empty value (valid is False)."""
        try:
            value = json.loads(raw)
        except ValueError:
            value = {}
        return cls(partition, offset, raw, value if isinstance(value, dict) else {})

    @property
    def valid(self) -> bool:
        keys = ("type", "source", "subject", "position", "seq", "time", "data", "hash", "id")
        return all(k in self.value for k in keys) and isinstance(self.value["data"], dict)

    @property
    def type(self) -> str:
        return str(self.value["type"])

    @property
    def name(self) -> str:
        """`it.ledger.contribution.pledged.v1` -> `contribution.pledged`."""
        return self.type.removeprefix("it.ledger.").rpartition(".v")[0]

    @property
    def aggregate(self) -> str:
        return self.name.partition(".")[0]

    @property
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

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.value["time"])

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.value["data"]
        return data
