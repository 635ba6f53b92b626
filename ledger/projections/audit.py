"""The audit trail: every record of the topic with its place in the territory's hash chain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Cursor

from ledger.projections.bulk import Encoded, copy_insert, encode
from ledger.projections.records import Record

COLUMNS = ("territory", "seq", "position", "event_id", "type", "aggregate_id", "occurred_at",
           "operator_id", "hash", "prev_hash", "record")


class AuditBatch:
    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.encoded: Encoded | None = None

    @staticmethod
    def derive(r: Record) -> tuple[Any, ...]:
        return (r.territory, r.seq, r.position, r.value["id"], r.type, r.subject, r.stamp,
                r.data.get("operator_id"), r.value["hash"], r.value["prevhash"], r.raw.decode())

    def add(self, r: Record, row: tuple[Any, ...]) -> None:
        self.rows.append(row)

    def extend(self, records: Sequence[Record]) -> None:
        derive = self.derive
        self.rows += [derive(r) for r in records]

    def encode(self) -> None:
        self.encoded = encode(self.rows)

    def flush(self, cur: Cursor[Any], schema: str, *, rows_may_exist: bool = False) -> None:
        copy_insert(cur, schema, "audit", COLUMNS, self.encoded or self.rows,
                    rows_may_exist=rows_may_exist)
