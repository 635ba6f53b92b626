"""The audit trail: every record of the topic with its place in the territory's hash chain."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from ledger.projections.bulk import copy_insert
from ledger.projections.records import Record

COLUMNS = ("territory", "seq", "position", "event_id", "type", "aggregate_id", "occurred_at",
           "operator_id", "hash", "prev_hash", "record")


class AuditBatch:
    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def add(self, r: Record) -> None:
        self.rows.append((r.territory, r.seq, r.position, r.value["id"], r.type, r.subject, r.time,
                          r.data.get("operator_id"), r.value["hash"], r.value["prevhash"],
                          r.raw.decode()))

    def flush(self, cur: Cursor[Any], schema: str) -> None:
        copy_insert(cur, schema, "audit", COLUMNS, self.rows)
