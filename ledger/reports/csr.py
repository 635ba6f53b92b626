"""A company's CSR report for a period, in B4SI's shape (CONTRACT.md, "Reports").

Inputs are the counted fulfilments of the company's own contributions and of its employees'
(`employer_id` = the company), classified by how × why × what (theme) × where (territory) and
valued by the method `b4si-1`; management costs come from their own records. Employees' own
time and their money are leverage, apart; welfare aziendale (`corporate_welfare`) is no input.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from ledger.projections.queries import Reads
from ledger.reports.period import Period

METHOD = "b4si-1"
SUPPRESS_BELOW = 5
MAPPING = json.loads((Path(__file__).parent / "mappings" / "csr-v1.json").read_text())
# Cost per hour for minute units, per kilogram for grams, per item for items.
PER_UNIT = {"minute": 60, "gram": 1000, "item": 1}

MINE = ("FROM {s}.deliveries d WHERE (d.contributor_id = ANY(%(companies)s)"
        " OR d.employer_id = ANY(%(companies)s)) AND " + Period.COUNTED)
# Per contribution: its counted quantity (valued once, then summed into figure rows).
CONTRIBUTIONS = """
SELECT d.contribution_id, d.territory, d.contributor_id, d.resource_kind, d.unit, d.theme,
       bool_or(d.paid_time) AS paid_time, max(d.motivation) AS motivation,
       max(d.cost_eur_cent) AS cost_eur_cent, sum(d.quantity)::bigint AS quantity,
       CASE WHEN %(explain)s THEN array_agg(d.fulfilment_id::text) END AS ids
  """ + MINE + " GROUP BY 1, 2, 3, 4, 5, 6"
OUTPUTS = """
SELECT count(*) AS activities, count(DISTINCT d.beneficiary_id) AS beneficiaries,
       count(DISTINCT d.contributor_id) FILTER (WHERE NOT d.contributor_id = ANY(%(companies)s))
         AS employees
  """ + MINE + " AND d.contribution_id = ANY(%(inputs)s)"
COSTS = """
SELECT m.cost_id, m.territory, m.eur_cent FROM {s}.management_costs m
 WHERE m.company_id = ANY(%(companies)s) AND m.incurred_on BETWEEN %(from)s AND %(to)s
 ORDER BY m.cost_id
"""


def value(quantity: int, unit: str, resource_kind: str, cost: int | None) -> int | None:
    """b4si-1: money at face value; time and in-kind at the declared cost, half up to the cent."""
    if resource_kind == "money":
        return quantity
    if cost is None:
        return None
    exact = Decimal(quantity) * Decimal(cost) / Decimal(PER_UNIT[unit])
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def how_of(row: dict[str, Any], company: set[uuid.UUID]) -> str | None:
    """B4SI "how": money → cash; employees' time in paid hours → time; goods, space, service
    and company-given time → in_kind. None for leverage: employees' own time and money."""
    own = row["contributor_id"] in company
    kind = row["resource_kind"]
    if kind == "money":
        return "cash" if own else None
    if kind == "time" and not own:
        return "time" if row["paid_time"] else None
    return "in_kind"


def csr(reads: Reads, companies: list[tuple[str, uuid.UUID]], period: Period,
        company_id: uuid.UUID | str) -> dict[str, Any]:
    """The report of one company, present as an actor in one or more territories."""
    ids = {c for _, c in companies}
    as_of = {t: reads.applied_position(t) for t, _ in companies}
    params = period.params() | {"companies": list(ids), "explain": period.explain}
    entries, inputs_of = [], []
    welfare, own_time, donations = 0, 0, 0
    for row in reads.rows(CONTRIBUTIONS, params):
        if row["motivation"] == "corporate_welfare":
            welfare += value(row["quantity"], row["unit"], row["resource_kind"],
                             row["cost_eur_cent"]) or 0
            continue
        how = how_of(row, ids)
        if how is None:
            if row["resource_kind"] == "money":
                donations += row["quantity"]
            else:
                own_time += row["quantity"]
            continue
        entries.append(row | {"how": how, "ids": list(row["ids"] or [])})
        inputs_of.append(row["contribution_id"])
    inputs = _rows(entries, period)
    costs = reads.rows(COSTS, period.params() | {"companies": list(ids)})
    inputs += _management(costs)
    totals = _totals(inputs) | {"corporate_welfare_eur_cent": welfare}
    outputs = reads.rows(OUTPUTS, params | {"inputs": inputs_of})[0]
    beneficiaries = outputs["beneficiaries"]
    suppressed = beneficiaries < SUPPRESS_BELOW
    return {
        "company_id": str(company_id), "from": period.start.isoformat(),
        "to": period.end.isoformat(), "method": METHOD, "programme": period.programme,
        "inputs": inputs, "totals": totals,
        "leverage": {"employee_own_time_minutes": own_time,
                     "employee_donations_eur_cent": donations},
        "outputs": {"beneficiaries": None if suppressed else beneficiaries,
                    "beneficiaries_suppressed": suppressed,
                    "activities": outputs["activities"],
                    "employees_involved": outputs["employees"]},
        "gri_201_1": {"community_investments_eur_cent": totals["total_eur_cent"]},
        "references": MAPPING,
        "as_of": {"position": max(as_of.values(), default=0), "territories": as_of},
    }


def _rows(entries: Iterable[dict[str, Any]], period: Period) -> list[dict[str, Any]]:
    """Group contributions into figure rows; a row's contributions all have a cost or all lack one."""
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in entries:
        eur = value(e["quantity"], e["unit"], e["resource_kind"], e["cost_eur_cent"])
        why = e["motivation"] or "unclassified"
        key = (e["how"], why, e["theme"], e["territory"], e["resource_kind"], e["unit"],
               eur is not None)
        row = grouped.setdefault(key, {"how": e["how"], "why": why, "theme": e["theme"],
                                       "territory": e["territory"],
                                       "resource_kind": e["resource_kind"], "unit": e["unit"],
                                       "quantity": 0, "eur_cent": 0 if eur is not None else None,
                                       "fulfilments": []})
        row["quantity"] += e["quantity"]
        if eur is not None:
            row["eur_cent"] += eur
        row["fulfilments"] += e["ids"]
    out = sorted(grouped.values(), key=lambda r: (r["how"], r["why"], r["theme"] or "",
                                                  r["territory"], r["resource_kind"], r["unit"],
                                                  r["eur_cent"] is None))
    for row in out:
        if period.explain:
            row["fulfilments"] = sorted(row["fulfilments"])
        else:
            del row["fulfilments"]
    return out


def _management(costs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_territory: dict[str, int] = defaultdict(int)
    for cost in costs:
        by_territory[cost["territory"]] += cost["eur_cent"]
    return [{"how": "management_costs", "why": "unclassified", "theme": None, "territory": t,
             "resource_kind": "money", "unit": "eur_cent", "quantity": eur, "eur_cent": eur}
            for t, eur in sorted(by_territory.items())]


def _totals(inputs: list[dict[str, Any]]) -> dict[str, int]:
    def eur(how: str) -> int:
        return sum(r["eur_cent"] or 0 for r in inputs if r["how"] == how)
    totals = {"cash_eur_cent": eur("cash"),
              "time_minutes": sum(r["quantity"] for r in inputs if r["how"] == "time"),
              "time_eur_cent": eur("time"), "in_kind_eur_cent": eur("in_kind"),
              "management_costs_eur_cent": eur("management_costs")}
    totals["total_eur_cent"] = (totals["cash_eur_cent"] + totals["time_eur_cent"]
                                + totals["in_kind_eur_cent"] + totals["management_costs_eur_cent"])
    return totals
