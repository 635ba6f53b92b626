"""Reads: plain SQL over the projection tables of the active generation."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from psycopg import sql

from ledger.db import Database
from ledger.projections import store
from ledger.records import verify_chain

Row = dict[str, Any]

BALANCES = """
WITH c AS (
  SELECT resource_kind, unit, sum(quantity - taken_back) AS pledged, sum(reserved) AS reserved,
         sum(delivered) AS delivered, 0::numeric AS received, 0::numeric AS requested_open
    FROM {s}.contributions WHERE territory = %(t)s AND contributor_id = %(a)s
   GROUP BY resource_kind, unit
), r AS (
  SELECT resource_kind, unit, 0::numeric, 0::numeric, 0::numeric, sum(received),
         sum(quantity - taken_back - reserved - received)
    FROM {s}.requests WHERE territory = %(t)s AND beneficiary_id = %(a)s
   GROUP BY resource_kind, unit
)
SELECT resource_kind, unit, sum(pledged)::bigint AS pledged, sum(reserved)::bigint AS reserved,
       sum(delivered)::bigint AS delivered, sum(received)::bigint AS received,
       sum(requested_open)::bigint AS requested_open
  FROM (SELECT * FROM c UNION ALL SELECT * FROM r) x
 GROUP BY resource_kind, unit ORDER BY resource_kind, unit
"""


# Who "gave" an item, for a company's listing: itself or its employees.
PARTIES = {
    "actors": "(id = %(party)s OR employer_id = %(party)s)",
    "contributions": "(contributor_id = %(party)s OR employer_id = %(party)s)",
    "fulfilments": "(contributor_id = %(party)s OR employer_id = %(party)s)",
    "requests": "false", "matches": "false",
}
# The day a listing's from/to filters look at (Europe/Rome).
_LOCAL = "(({col}) AT TIME ZONE 'Europe/Rome')::date"
DAY_OF = {
    "actors": _LOCAL.format(col="registered_at"),
    "contributions": _LOCAL.format(col="created_at"),
    "requests": _LOCAL.format(col="created_at"),
    "matches": _LOCAL.format(col="created_at"),
    "fulfilments": "COALESCE(fulfilled_on::date, " + _LOCAL.format(col="created_at") + ")",
}


class Reads:
    def __init__(self, db: Database) -> None:
        self.db = db

    def rows(self, query: str, params: dict[str, Any]) -> list[Row]:
        """Rows of a report query over the active generation; `{s}` names its schema.

        Reports aggregate whole periods: a nested loop is never the right plan for them, but
        the planner picks one when statistics lag behind a fresh replay or a bulk load (a
        need-by-need loop took 20 s where hash joins take 0.1 s), so it is switched off here.
        """
        return self._all(query, params, report=True)

    def _all(self, query: str, params: dict[str, Any], report: bool = False) -> list[Row]:
        with self.db.transaction() as conn:
            if report:
                conn.execute("SET LOCAL enable_nestloop = off")
            schema = store.active_schema(conn)
            stmt = sql.SQL(query.replace("{s}", "{schema}")).format(
                schema=sql.Identifier(schema))
            return list(conn.execute(stmt, params).fetchall())

    def _one(self, query: str, params: dict[str, Any]) -> Row | None:
        rows = self._all(query, params)
        return rows[0] if rows else None

    def applied_position(self, territory: str) -> int:
        """Records of a partition arrive in position order, so once the territory's partition
        has applied position N, every event of the territory up to N is applied."""
        row = self._one(
            "SELECT GREATEST(tp.position, pp.position) AS p FROM {s}.territory_positions tp"
            " LEFT JOIN {s}.partition_positions pp ON pp.partition = tp.partition"
            " WHERE tp.territory = %(t)s", {"t": territory})
        return int(row["p"]) if row else 0

    def listing(self, table: str, territory: str, filters: dict[str, Any], after: int,
                limit: int, party: uuid.UUID | None = None, start: date | None = None,
                end: date | None = None, name_like: str | None = None) -> list[Row]:
        """A page of items in the order they were created; filter values are lists (any of)
        or single values. ``party``: only what that actor or its employees gave (or, for
        actors, the actor and its employees). ``start``/``end``: inclusive days (Europe/Rome)
        of creation, or of delivery for fulfilments. ``name_like``: organisations whose clear
        name contains it, and every person (their names are sealed: the caller decides)."""
        assert table in PARTIES
        where, params = ["territory = %(t)s", "created_position > %(after)s"], {
            "t": territory, "after": after, "l": limit, "start": start, "end": end}
        if party is not None:
            where.append(PARTIES[table])
            params["party"] = party
        day = DAY_OF[table]
        if start is not None:
            where.append(f"{day} >= %(start)s")
        if end is not None:
            where.append(f"{day} <= %(end)s")
        if name_like is not None:
            where.append("(display_name IS NULL OR display_name ILIKE %(like)s)")
            params["like"] = "%" + name_like.replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
        for name, value in filters.items():
            if value is None or value == []:
                continue
            where.append(f"{name} = ANY(%({name})s)")
            params[name] = value if isinstance(value, list) else [value]
        return self._all(f"SELECT * FROM {{s}}.{table} WHERE {' AND '.join(where)}"
                         " ORDER BY created_position LIMIT %(l)s", params)

    def due_items(self, today: str, limit: int = 500) -> list[Row]:
        """Active contributions past valid_until and open requests past needed_by."""
        return self._all(
            "(SELECT 'contribution' AS kind, territory, id FROM {s}.contributions"
            "  WHERE valid_until < %(d)s AND status NOT IN ('withdrawn', 'expired') LIMIT %(l)s)"
            " UNION ALL "
            "(SELECT 'request', territory, id FROM {s}.requests"
            "  WHERE needed_by < %(d)s AND status NOT IN ('withdrawn', 'expired', 'met')"
            "  LIMIT %(l)s)", {"d": today, "l": limit})

    def open_items(self, territory: str, actor_id: uuid.UUID) -> list[tuple[str, uuid.UUID]]:
        """An actor's offers and needs that have not ended (erasure withdraws them)."""
        rows = self._all(
            "SELECT 'contribution' AS kind, id FROM {s}.contributions WHERE territory = %(t)s"
            "  AND contributor_id = %(a)s AND status NOT IN ('withdrawn', 'expired', 'fulfilled')"
            " UNION ALL "
            "SELECT 'request', id FROM {s}.requests WHERE territory = %(t)s"
            "  AND beneficiary_id = %(a)s AND status NOT IN ('withdrawn', 'expired', 'met')",
            {"t": territory, "a": actor_id})
        return [(r["kind"], r["id"]) for r in rows]

    def actor_links(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, Row]:
        """Who follows and who employs each of these actors (for ownership decisions)."""
        if not ids:
            return {}
        rows = self._all("SELECT id, case_owner_id, employer_id FROM {s}.actors "
                         "WHERE id = ANY(%(ids)s)", {"ids": list(ids)})
        return {r["id"]: r for r in rows}

    def territories(self, codes: list[str] | None) -> list[Row]:
        """Registered territories, all of them or those with the given codes."""
        return self._all("SELECT * FROM {s}.territories WHERE %(all)s OR code = ANY(%(codes)s)"
                         " ORDER BY code", {"all": codes is None, "codes": codes or []})

    def programmes(self, territory: str) -> list[Row]:
        return self._all("SELECT * FROM {s}.programmes WHERE territory = %(t)s ORDER BY code",
                         {"t": territory})

    def companies_by_vat(self, vat_number: str) -> list[Row]:
        return self._all("SELECT id, territory FROM {s}.actors WHERE vat_number = %(v)s"
                         " AND kind = 'company' ORDER BY territory", {"v": vat_number})

    def territory(self, code: str) -> Row | None:
        return self._one("SELECT * FROM {s}.territories WHERE code = %(t)s", {"t": code})

    def themes(self, territory: str) -> list[Row]:
        return self._all("SELECT code, label FROM {s}.themes WHERE territory = %(t)s "
                         "ORDER BY code", {"t": territory})

    def item(self, table: str, territory: str, ident: uuid.UUID) -> Row | None:
        assert table in {"actors", "contributions", "requests", "matches", "fulfilments"}
        return self._one(f"SELECT * FROM {{s}}.{table} WHERE territory = %(t)s AND id = %(i)s",
                         {"t": territory, "i": ident})

    def balances(self, territory: str, actor_id: uuid.UUID) -> list[Row]:
        rows = self._all(BALANCES, {"t": territory, "a": actor_id})
        for row in rows:
            row["available"] = row["pledged"] - row["reserved"] - row["delivered"]
        return rows

    def history(self, territory: str, actor_id: uuid.UUID, after: int, limit: int) -> list[Row]:
        return self._all(
            "SELECT position, seq, roles, type, aggregate_id, occurred_at, operator_id, data"
            "  FROM {s}.history WHERE territory = %(t)s AND actor_id = %(a)s AND position > %(p)s"
            " ORDER BY position LIMIT %(l)s",
            {"t": territory, "a": actor_id, "p": after, "l": limit})

    def audit(self, territory: str, after: int, limit: int) -> list[Row]:
        return self._all(
            "SELECT seq, position, event_id, type, aggregate_id, occurred_at, operator_id, hash,"
            " prev_hash FROM {s}.audit WHERE territory = %(t)s AND seq > %(a)s"
            " ORDER BY seq LIMIT %(l)s", {"t": territory, "a": after, "l": limit})

    def audit_records(self, territory: str) -> list[str]:
        return [r["record"] for r in self._all(
            "SELECT record FROM {s}.audit WHERE territory = %(t)s ORDER BY seq", {"t": territory})]

    def verify(self, territory: str) -> dict[str, Any]:
        import json

        values = [json.loads(r) for r in self.audit_records(territory)]
        broken = verify_chain(values)
        return {"verified": broken is None, "count": len(values),
                "head_hash": values[-1]["hash"] if values else None,
                "broken_at_seq": broken.seq if broken else None,
                "reason": broken.reason if broken else None}
