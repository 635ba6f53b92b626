"""Current state of every territory, actor, contribution, request, match and fulfilment.

Events after the first carry the aggregate's resulting state (reserved, delivered, status…),
so applying one is an UPDATE of those columns: a batch coalesces to one row per item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from psycopg import Cursor, sql

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

    def add(self, record: Record) -> None:
        table = TABLE_OF.get(record.aggregate)
        if table is None:
            return
        if record.name == "territory.theme_defined":
            self.themes.append((record.territory, record.data["code"], record.data["label"]))
            return
        key = (table, record.subject)
        if record.data.get("version") == 1:
            row = {c: record.data.get(c) for c in CREATION_COLUMNS[table]}
            if table in INITIAL_STATUS:
                row["status"] = record.data.get("status") or INITIAL_STATUS[table]
            if table == "matches":
                row["approvals_required"] = row["approvals_required"] or 0
                if row["approvals_required"]:
                    row["proposed_by"] = row["operator_id"]
            if table in ("territories", "actors"):
                row["registered_at"] = record.time
            else:
                row["created_at"] = row["updated_at"] = record.time
            if table != "territories":
                row["territory"] = record.territory
            row["id"] = record.subject
            row["position"] = record.position
            if table in LISTED:
                row["created_position"] = record.position
            self.inserts[key] = row
            return
        change = state_after(table, record)
        if table in TIMESTAMPED:
            change["updated_at"] = record.time
        change["position"] = record.position
        target = self.inserts.get(key)
        if target is not None:
            target.update(change)
        else:
            self.updates.setdefault(key, {}).update(change)

    def flush(self, cur: Cursor[Any], schema: str) -> None:
        inserts: dict[tuple[str, tuple[str, ...]], list[list[Any]]] = {}
        for (table, _), row in self.inserts.items():
            cols = tuple(row)
            inserts.setdefault((table, cols), []).append([row[c] for c in cols])
        for (table, cols), params in inserts.items():
            cur.executemany(_insert_sql(schema, table, cols), params)
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
def _insert_sql(schema: str, table: str, cols: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("INSERT INTO {}.{} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
        sql.Identifier(schema), sql.Identifier(table),
        sql.SQL(",").join(map(sql.Identifier, cols)),
        sql.SQL(",").join(sql.Placeholder() * len(cols)))


@lru_cache(maxsize=256)
def _update_sql(schema: str, table: str, cols: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("UPDATE {}.{} SET {} WHERE id = %s").format(
        sql.Identifier(schema), sql.Identifier(table),
        sql.SQL(",").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols))
