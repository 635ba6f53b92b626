"""Current state of every territory, actor, contribution, request, match and fulfilment.

Events after the first carry the aggregate's resulting state (reserved, delivered, status…),
so applying one is an UPDATE of those columns: a batch coalesces to one row per item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from psycopg import Cursor, sql

from ledger.projections.bulk import Encoded, copy_insert, encode
from ledger.projections.records import Record

CREATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "territories": ("code", "name"),
    "actors": ("kind", "display_name", "display_name_sealed", "personal_sealed", "runts_id",
               "employer_id", "case_owner_id", "zone", "vat_number"),
    "contributions": ("contributor_id", "employer_id", "resource_kind", "unit", "quantity",
                      "theme", "description_sealed", "motivation", "paid_time", "valid_until",
                      "project_ref", "operator_id", "status", "cost_eur_cent", "funding_source",
                      "programme"),
    "requests": ("beneficiary_id", "resource_kind", "unit", "quantity", "theme", "urgency",
                 "description_sealed", "needed_by", "operator_id", "status", "programme"),
    "matches": ("contribution_id", "request_id", "contributor_id", "beneficiary_id",
                "resource_kind", "unit", "theme", "quantity", "operator_id", "status",
                "approvals_required", "programme"),
    "fulfilments": ("match_id", "contribution_id", "request_id", "contributor_id",
                    "beneficiary_id", "employer_id", "resource_kind", "unit", "theme",
                    "quantity", "fulfilled_on", "note_sealed", "operator_id", "programme"),
}
INITIAL_STATUS = {"contributions": "pledged", "requests": "open", "matches": "reserved"}
STATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "contributions": ("reserved", "delivered", "taken_back", "status"),
    "requests": ("reserved", "received", "taken_back", "status"),
    "matches": ("fulfilled", "status", "approvals"),
    "territories": ("required_for", "approvers"),
    "fulfilments": ("reversed", "reversal_reason_sealed"),
    "actors": ("erased",),
}
TABLE_OF = {"territory": "territories", "actor": "actors", "contribution": "contributions",
            "request": "requests", "match": "matches", "fulfilment": "fulfilments"}
LISTED = {"actors", "contributions", "requests", "matches", "fulfilments"}
TIMESTAMPED = {"contributions", "requests", "matches", "fulfilments"}


def state_after(table: str, record: Record) -> dict[str, Any]:
    data = record.data
    cols = {c: data[c] for c in STATE_COLUMNS.get(table, ()) if c in data}
    if record.name == "fulfilment.reversed":
        cols.update(reversed=True, reversal_reason_sealed=data.get("reason_sealed"))
    elif record.name in ("contribution.withdrawn", "request.withdrawn"):
        cols["end_reason_sealed"] = data.get("reason_sealed")
    elif record.name == "match.cancelled":
        cols["cancel_reason_sealed"] = data.get("reason_sealed")
    elif record.name == "match.rejected":
        cols["reject_reason_sealed"] = data.get("reason_sealed")
    elif record.name == "actor.erased":
        cols["erased"] = True
    elif record.name == "fulfilment.feedback_recorded":
        cols.update(satisfaction=data["satisfaction"], change=data.get("change"),
                    comment_sealed=data.get("comment_sealed"))
    return cols


@dataclass
class ItemBatch:
    inserts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    updates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    themes: list[tuple[str, str, str]] = field(default_factory=list)
    encoded: dict[tuple[str, tuple[str, ...]], Encoded] | None = None

    @staticmethod
    def derive(record: Record) -> tuple[str, str, Any] | None:
        """(what, table, the row or the change) one record makes of its item."""
        table = TABLE_OF.get(record.aggregate)
        if table is None:
            return None
        if record.name == "territory.theme_defined":
            return "theme", table, (record.territory, record.data["code"], record.data["label"])
        if record.data.get("version") == 1:
            row = {c: record.data.get(c) for c in CREATION_COLUMNS[table]}
            if table in INITIAL_STATUS:
                row["status"] = record.data.get("status") or INITIAL_STATUS[table]
            if table == "matches":
                row["approvals_required"] = row["approvals_required"] or 0
                if row["approvals_required"]:
                    row["proposed_by"] = row["operator_id"]
            if table in ("territories", "actors"):
                row["registered_at"] = record.stamp
            else:
                row["created_at"] = row["updated_at"] = record.stamp
            if table != "territories":
                row["territory"] = record.territory
            row["id"] = record.subject
            row["position"] = record.position
            if table in LISTED:
                row["created_position"] = record.position
            return "insert", table, row
        change = state_after(table, record)
        if table in TIMESTAMPED:
            change["updated_at"] = record.stamp
        change["position"] = record.position
        return "update", table, change

    def add(self, record: Record, derived: tuple[str, str, Any] | None) -> None:
        """Coalesce: a later change of an item inserted in this batch goes into its row.
        The derived row is copied, as the record may be applied again (record by record)."""
        if derived is not None:
            self._gather(record, derived)

    def extend(self, records: Sequence[Record]) -> None:
        derive, gather = self.derive, self._gather
        for r in records:
            derived = derive(r)
            if derived is not None:
                gather(r, derived)

    def _gather(self, record: Record, derived: tuple[str, str, Any]) -> None:
        what, table, row = derived
        if what == "theme":
            self.themes.append(row)
            return
        key = (table, record.subject)
        if what == "insert":
            self.inserts[key] = dict(row)
            return
        target = self.inserts.get(key)
        if target is not None:
            target.update(row)
        else:
            self.updates.setdefault(key, {}).update(row)

    def _grouped(self) -> dict[tuple[str, tuple[str, ...]], list[list[Any]]]:
        """The new rows by table and the columns they set (one COPY each)."""
        inserts: dict[tuple[str, tuple[str, ...]], list[list[Any]]] = {}
        for (table, _), row in self.inserts.items():
            inserts.setdefault((table, tuple(row)), []).append(list(row.values()))
        return inserts

    def encode(self) -> None:
        self.encoded = {key: encode(rows) for key, rows in self._grouped().items()}

    def flush(self, cur: Cursor[Any], schema: str, *, rows_may_exist: bool = False) -> None:
        inserts: Mapping[tuple[str, tuple[str, ...]], Sequence[Sequence[Any]] | Encoded] = (
            self._grouped() if self.encoded is None else self.encoded)
        for (table, cols), rows in inserts.items():
            copy_insert(cur, schema, table, cols, rows, rows_may_exist=rows_may_exist)
        updates: dict[tuple[str, tuple[str, ...]], list[list[Any]]] = {}
        for (table, item_id), change in self.updates.items():
            changed = tuple(sorted(change))
            updates.setdefault((table, changed), []).append(
                [change[c] for c in changed] + [item_id])
        for (table, changed), params in updates.items():
            cur.executemany(_update_sql(schema, table, changed), params)
        if self.themes:
            cur.executemany(sql.SQL(
                "INSERT INTO {}.themes (territory, code, label) VALUES (%s,%s,%s) "
                "ON CONFLICT DO NOTHING").format(sql.Identifier(schema)), self.themes)


@lru_cache(maxsize=256)
def _update_sql(schema: str, table: str, cols: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("UPDATE {}.{} SET {} WHERE id = %s").format(
        sql.Identifier(schema), sql.Identifier(table),
        sql.SQL(",").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols))
