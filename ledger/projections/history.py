"""Per-actor history: every fact an actor took part in, with the role it played."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from psycopg import Cursor, sql

from ledger.projections.bulk import copy_insert
from ledger.projections.records import Record

# Which data fields name the actors a fact concerns, and in what role.
ROLE_FIELDS = (("contributor_id", "contributor"), ("beneficiary_id", "beneficiary"),
               ("employer_id", "employer"))
PARTICIPANTS_SQL = """
SELECT id, contributor_id, NULL::uuid AS beneficiary_id, employer_id FROM {s}.contributions
 WHERE id = ANY(%(ids)s)
UNION ALL SELECT id, NULL, beneficiary_id, NULL FROM {s}.requests WHERE id = ANY(%(ids)s)
UNION ALL SELECT id, contributor_id, beneficiary_id, NULL FROM {s}.matches WHERE id = ANY(%(ids)s)
UNION ALL SELECT id, contributor_id, beneficiary_id, employer_id FROM {s}.fulfilments
 WHERE id = ANY(%(ids)s)
"""
COLUMNS = ("territory", "actor_id", "position", "seq", "roles", "type", "aggregate_id",
           "occurred_at", "operator_id", "data")
PARTICIPANT_AGGREGATES = {"contribution", "request", "match", "fulfilment"}


def public_data(data: dict[str, Any]) -> dict[str, Any]:
    """History shows facts and amounts; sealed personal data stays out of it."""
    return {k: v for k, v in data.items() if not k.endswith("_sealed")}


class HistoryBatch:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.known: dict[str, list[tuple[str, str]]] = {}

    def add(self, record: Record) -> None:
        if record.aggregate in PARTICIPANT_AGGREGATES | {"actor"}:
            self.records.append(record)
            if record.data.get("version") == 1 and record.aggregate != "actor":
                self.known[record.subject] = _roles(record.data)

    def flush(self, cur: Cursor[Any], schema: str) -> None:
        if not self.records:
            return
        missing = {r.subject for r in self.records
                   if r.aggregate != "actor" and r.subject not in self.known}
        if missing:
            cur.execute(sql.SQL(PARTICIPANTS_SQL.format(s="{s}")).format(
                s=sql.Identifier(schema)), {"ids": [uuid.UUID(m) for m in missing]})
            for row in cur.fetchall():
                self.known[str(row["id"])] = _roles(row)
        rows = []
        for r in self.records:
            roles = ([(r.subject, "self")] if r.aggregate == "actor"
                     else self.known.get(r.subject, []))
            payload = orjson.dumps(public_data(r.data)).decode()
            by_actor: dict[str, list[str]] = {}
            for actor_id, role in roles:
                by_actor.setdefault(actor_id, []).append(role)
            for actor_id, actor_roles in by_actor.items():
                rows.append((r.territory, actor_id, r.position, r.seq, actor_roles, r.type,
                             r.subject, r.time, r.data.get("operator_id"), payload))
        copy_insert(cur, schema, "history", COLUMNS, rows)


def _roles(source: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(source[f]), role) for f, role in ROLE_FIELDS if source.get(f)]
