"""The reporting read model: one row per delivered quantity, and the reports over it.

``deliveries`` holds every fulfilment with what reports cut by — its real day (``fulfilled_on``,
else the day it was recorded, Europe/Rome), territory, theme, programme, the contributor (kind,
employer, paid time, motivation, declared cost, funding source), the beneficiary (kind, zone),
resource kind, unit and quantity — and whether it was reversed (a reversed fulfilment never
counts) and the beneficiary's feedback. Rows are filled in the projector's transaction, after
the items projection of the same batch, so the contribution and the actors they join are there.
``programmes`` and ``management_costs`` complete what the overview and the CSR report need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import Cursor, sql

from ledger.projections.records import Record

ZONE = "Europe/Rome"
TABLES = """
CREATE TABLE IF NOT EXISTS {s}.deliveries (
    fulfilment_id uuid PRIMARY KEY, territory text NOT NULL, fulfilled_on date NOT NULL,
    recorded_at timestamptz NOT NULL, theme text, programme text, match_id uuid NOT NULL,
    contribution_id uuid NOT NULL, request_id uuid NOT NULL, contributor_id uuid NOT NULL,
    contributor_kind text, employer_id uuid, paid_time boolean, motivation text,
    cost_eur_cent bigint, funding_source text, beneficiary_id uuid NOT NULL,
    beneficiary_kind text, beneficiary_zone text, resource_kind text NOT NULL,
    unit text NOT NULL, quantity bigint NOT NULL, reversed boolean NOT NULL DEFAULT false,
    satisfaction int, change text, position bigint NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_period ON {s}.deliveries (territory, fulfilled_on);
CREATE INDEX IF NOT EXISTS deliveries_contributor ON {s}.deliveries (contributor_id, fulfilled_on);
CREATE INDEX IF NOT EXISTS deliveries_employer ON {s}.deliveries (employer_id, fulfilled_on);
CREATE INDEX IF NOT EXISTS deliveries_request ON {s}.deliveries (request_id);
CREATE TABLE IF NOT EXISTS {s}.programmes (
    territory text NOT NULL, code text NOT NULL, name text NOT NULL, starts_on date,
    ends_on date, partners uuid[] NOT NULL, position bigint NOT NULL,
    PRIMARY KEY (territory, code));
CREATE TABLE IF NOT EXISTS {s}.management_costs (
    cost_id uuid PRIMARY KEY, territory text NOT NULL, company_id uuid NOT NULL,
    incurred_on date NOT NULL, eur_cent bigint NOT NULL, position bigint NOT NULL);
CREATE INDEX IF NOT EXISTS management_costs_company ON {s}.management_costs (company_id, incurred_on);
"""

# Every delivery of a batch in one statement: the batch's columns as arrays, joined to the
# contribution and the actors (written by the items projection just before, same transaction).
# Each looked up by its key (OFFSET 0 keeps the planner from hashing the whole table, batch
# after batch, as the tables grow: a handful of rows against thousands).
DELIVERY_COLUMNS = ("id", "territory", "fulfilled_on", "recorded_at", "theme", "programme",
                    "match_id", "contribution_id", "request_id", "contributor_id", "employer_id",
                    "beneficiary_id", "resource_kind", "unit", "quantity", "position")
INSERT_DELIVERIES = """
INSERT INTO {s}.deliveries (fulfilment_id, territory, fulfilled_on, recorded_at, theme, programme,
    match_id, contribution_id, request_id, contributor_id, contributor_kind, employer_id,
    paid_time, motivation, cost_eur_cent, funding_source, beneficiary_id, beneficiary_kind,
    beneficiary_zone, resource_kind, unit, quantity, position)
SELECT v.id, v.territory, COALESCE(v.fulfilled_on::date, (v.recorded_at AT TIME ZONE %(zone)s)::date),
       v.recorded_at, v.theme, v.programme, v.match_id, v.contribution_id, v.request_id,
       v.contributor_id, ca.kind, v.employer_id, c.paid_time, c.motivation, c.cost_eur_cent,
       c.funding_source, v.beneficiary_id, ba.kind, ba.zone, v.resource_kind, v.unit, v.quantity,
       v.position
  FROM unnest(%(id)s::uuid[], %(territory)s::text[], %(fulfilled_on)s::text[],
              %(recorded_at)s::timestamptz[], %(theme)s::text[], %(programme)s::text[],
              %(match_id)s::uuid[], %(contribution_id)s::uuid[], %(request_id)s::uuid[],
              %(contributor_id)s::uuid[], %(employer_id)s::uuid[], %(beneficiary_id)s::uuid[],
              %(resource_kind)s::text[], %(unit)s::text[], %(quantity)s::bigint[],
              %(position)s::bigint[])
       AS v(id, territory, fulfilled_on, recorded_at, theme, programme, match_id,
            contribution_id, request_id, contributor_id, employer_id, beneficiary_id,
            resource_kind, unit, quantity, position)
  LEFT JOIN LATERAL (SELECT paid_time, motivation, cost_eur_cent, funding_source
                       FROM {s}.contributions WHERE id = v.contribution_id OFFSET 0) c ON true
  LEFT JOIN LATERAL (SELECT kind FROM {s}.actors WHERE id = v.contributor_id OFFSET 0) ca ON true
  LEFT JOIN LATERAL (SELECT kind, zone FROM {s}.actors WHERE id = v.beneficiary_id OFFSET 0) ba
         ON true
ON CONFLICT (fulfilment_id) DO NOTHING
"""


@dataclass
class ReportBatch:
    deliveries: list[tuple[Any, ...]] = field(default_factory=list)
    changes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    programmes: list[tuple[Any, ...]] = field(default_factory=list)
    costs: list[tuple[Any, ...]] = field(default_factory=list)
    columns: dict[str, Any] | None = None

    @staticmethod
    def derive(record: Record) -> tuple[str, Any] | None:
        """(which list, what goes in it) for the few kinds of events reports read."""
        data, name = record.data, record.name
        if name == "fulfilment.recorded":
            return "deliveries", (
                record.subject, record.territory, data.get("fulfilled_on"), record.stamp,
                data.get("theme"), data.get("programme"), data.get("match_id"),
                data.get("contribution_id"), data.get("request_id"), data.get("contributor_id"),
                data.get("employer_id"), data.get("beneficiary_id"), data.get("resource_kind"),
                data.get("unit"), data.get("quantity"), record.position)
        if name == "fulfilment.reversed":
            return "changes", (record.subject, {"reversed": True})
        if name == "fulfilment.feedback_recorded":
            return "changes", (record.subject, {"satisfaction": data["satisfaction"],
                                                "change": data.get("change")})
        if name == "territory.programme_defined":
            return "programmes", (record.territory, data["code"], data["name"],
                                  data.get("starts_on"), data.get("ends_on"),
                                  data.get("partners") or [], record.position)
        if name == "actor.management_cost_recorded":
            return "costs", (data["cost_id"], record.territory, record.subject,
                             data["incurred_on"], data["eur_cent"], record.position)
        return None

    def add(self, record: Record, derived: tuple[str, Any] | None) -> None:
        if derived is not None:
            kind, row = derived
            getattr(self, kind).append(row)

    def extend(self, records: Sequence[Record]) -> None:
        derive = self.derive
        for r in records:
            derived = derive(r)
            if derived is not None:
                getattr(self, derived[0]).append(derived[1])

    def encode(self) -> None:
        self.columns = self._columns()

    def _columns(self) -> dict[str, Any]:
        """The deliveries' parameters: one array per column."""
        return dict(zip(DELIVERY_COLUMNS, map(list, zip(*self.deliveries, strict=True)),
                        strict=True)) | {"zone": ZONE}

    def flush(self, cur: Cursor[Any], schema: str, *, rows_may_exist: bool = False) -> None:
        """Every statement here skips a row that is there already."""
        s = sql.Identifier(schema)
        if self.deliveries:
            cur.execute(sql.SQL(INSERT_DELIVERIES.replace("{s}", "{schema}")).format(schema=s),
                        self.columns if self.columns is not None else self._columns())
        for fulfilment_id, change in self.changes:  # few: reversals and feedback are rare
            cols = sorted(change)
            cur.execute(sql.SQL("UPDATE {}.deliveries SET {} WHERE fulfilment_id = %s").format(
                s, sql.SQL(",").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols)),
                [change[c] for c in cols] + [fulfilment_id])
        if self.programmes:
            cur.executemany(sql.SQL(
                "INSERT INTO {}.programmes (territory, code, name, starts_on, ends_on, partners,"
                " position) VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING").format(s),
                self.programmes)
        if self.costs:
            cur.executemany(sql.SQL(
                "INSERT INTO {}.management_costs (cost_id, territory, company_id, incurred_on,"
                " eur_cent, position) VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING"
            ).format(s), self.costs)
