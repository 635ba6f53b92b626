"""Per-actor history: every fact an actor took part in, with the role it played."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson
from psycopg import Cursor, sql

from ledger.projections.bulk import Encoded, copy_insert, encode
from ledger.projections.records import Record

# Which data fields name the actors a fact concerns, and in what role.
ROLE_FIELDS = (("contributor_id", "contributor"), ("beneficiary_id", "beneficiary"),
               ("employer_id", "employer"))
PARTICIPANTS_SQL = """
SELECT id::text, contributor_id::text, beneficiary_id::text, employer_id::text FROM (
SELECT id, contributor_id, NULL::uuid AS beneficiary_id, employer_id FROM {s}.contributions
 WHERE id = ANY(%(ids)s::uuid[])
UNION ALL SELECT id, NULL, beneficiary_id, NULL FROM {s}.requests WHERE id = ANY(%(ids)s::uuid[])
UNION ALL SELECT id, contributor_id, beneficiary_id, NULL FROM {s}.matches
 WHERE id = ANY(%(ids)s::uuid[])
UNION ALL SELECT id, contributor_id, beneficiary_id, employer_id FROM {s}.fulfilments
 WHERE id = ANY(%(ids)s::uuid[])) AS p
"""
COLUMNS = ("territory", "actor_id", "position", "seq", "roles", "type", "aggregate_id",
           "occurred_at", "operator_id", "data")
PARTICIPANT_AGGREGATES = {"contribution", "request", "match", "fulfilment"}


def public_data(data: dict[str, Any]) -> dict[str, Any]:
    """History shows facts and amounts; sealed personal data stays out of it."""
    if not _sealed_keys(tuple(data)):
        return data
    return {k: v for k, v in data.items() if not k.endswith("_sealed")}


@lru_cache(maxsize=1024)
def _sealed_keys(keys: tuple[str, ...]) -> bool:
    """Events of one type carry the same keys: the check is done once per key set."""
    return any(k.endswith("_sealed") for k in keys)


Derived = tuple[str, list[tuple[str, str]] | None] | None  # (data as JSON, roles it names)


class HistoryBatch:
    def __init__(self) -> None:
        self.records: list[tuple[Record, str]] = []
        self.known: dict[str, list[tuple[str, str]]] = {}
        self.encoded: Encoded | None = None

    @staticmethod
    def derive(record: Record) -> Derived:
        if record.aggregate == "actor":
            return orjson.dumps(public_data(record.data)).decode(), None
        if record.aggregate not in PARTICIPANT_AGGREGATES:
            return None
        roles = _roles(record.data) if record.data.get("version") == 1 else None
        return orjson.dumps(public_data(record.data)).decode(), roles

    def add(self, record: Record, derived: Derived) -> None:
        if derived is not None:
            payload, roles = derived
            self.records.append((record, payload))
            if roles is not None:
                self.known[record.subject] = roles

    def extend(self, records: Sequence[Record]) -> None:
        derive, gathered, known = self.derive, self.records, self.known
        for r in records:
            derived = derive(r)
            if derived is not None:
                payload, roles = derived
                gathered.append((r, payload))
                if roles is not None:
                    known[r.subject] = roles

    def encode(self) -> None:
        """Format the rows of every fact whose actors the batch itself names; those of items
        created in an earlier batch wait for flush, which reads their actors."""
        rest = [(r, payload) for r, payload in self.records
                if r.aggregate != "actor" and r.subject not in self.known]
        if len(rest) < len(self.records):
            self.encoded = encode(self._rows([item for item in self.records
                                              if item[0].aggregate == "actor"
                                              or item[0].subject in self.known]))
            self.records = rest

    def flush(self, cur: Cursor[Any], schema: str, *, rows_may_exist: bool = False) -> None:
        missing = {r.subject for r, _ in self.records
                   if r.aggregate != "actor" and r.subject not in self.known}
        if missing:
            cur.execute(sql.SQL(PARTICIPANTS_SQL.format(s="{s}")).format(
                s=sql.Identifier(schema)), {"ids": list(missing)})
            for row in cur.fetchall():
                self.known[row["id"]] = _roles(row)
        rows = self._rows(self.records)
        if self.encoded is not None:  # after the rows formatted ahead, as COPY text too
            copy_insert(cur, schema, "history", COLUMNS,
                        encode(rows, after=self.encoded) if rows else self.encoded,
                        rows_may_exist=rows_may_exist)
        else:
            copy_insert(cur, schema, "history", COLUMNS, rows, rows_may_exist=rows_may_exist)

    def _rows(self, records: list[tuple[Record, str]]) -> list[tuple[Any, ...]]:
        rows = []
        actors: dict[str, list[tuple[str, str]]] = {}  # subject -> (actor, its roles as text[])
        for r, payload in records:
            found = actors.get(r.subject)
            if found is None:
                roles = ([(r.subject, "self")] if r.aggregate == "actor"
                         else self.known.get(r.subject, []))
                found = actors[r.subject] = _by_actor(roles)
            for actor_id, actor_roles in found:
                rows.append((r.territory, actor_id, r.position, r.seq, actor_roles,
                             r.type, r.subject, r.stamp, r.data.get("operator_id"), payload))
        return rows


def _by_actor(roles: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each actor once, with all its roles (an array literal for COPY: roles are words)."""
    grouped: dict[str, list[str]] = {}
    for actor_id, role in roles:
        grouped.setdefault(actor_id, []).append(role)
    return [(actor_id, "{" + ",".join(names) + "}") for actor_id, names in grouped.items()]


def _roles(source: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(source[f]), role) for f, role in ROLE_FIELDS if source.get(f)]
