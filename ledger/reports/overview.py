"""The municipal overview of a territory and period (CONTRACT.md, "Reports").

`needs` covers requests posted in the period (by their status now); `delivered`,
`funding_mix` and `reciprocity` sum the counted fulfilments of the period: `fulfilled_on` in
the period (default: the day recorded, Europe/Rome) and not reversed.
"""

from __future__ import annotations

from typing import Any

from ledger.projections.queries import Reads
from ledger.reports.period import Period, days, ratio

NEEDS = """
SELECT r.status, r.theme, r.urgency, a.zone, count(*) AS n
  FROM {s}.requests r LEFT JOIN {s}.actors a ON a.id = r.beneficiary_id
 WHERE r.territory = %(t)s AND (r.created_at AT TIME ZONE 'Europe/Rome')::date BETWEEN %(from)s AND %(to)s
   AND (%(programme)s::text IS NULL OR r.programme = %(programme)s)
 GROUP BY 1, 2, 3, 4
"""
WAITS = """
WITH posted AS (
  SELECT r.id, r.created_at FROM {s}.requests r
   WHERE r.territory = %(t)s AND (r.created_at AT TIME ZONE 'Europe/Rome')::date BETWEEN %(from)s AND %(to)s
     AND (%(programme)s::text IS NULL OR r.programme = %(programme)s)
), waits AS (
  SELECT (SELECT extract(epoch FROM min(m.created_at) - p.created_at) / 86400 FROM {s}.matches m
           WHERE m.request_id = p.id AND m.status <> 'rejected') AS to_match,
         (SELECT extract(epoch FROM min(d.recorded_at) - p.created_at) / 86400 FROM {s}.deliveries d
           WHERE d.request_id = p.id AND NOT d.reversed) AS to_fulfil
    FROM posted p
)
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY to_match) AS match_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_match) AS match_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_fulfil) AS fulfil_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_fulfil) AS fulfil_p90
  FROM waits
"""
SOURCE = ("COALESCE(d.funding_source, CASE WHEN d.motivation = 'corporate_welfare'"
          " THEN 'corporate_welfare' END, d.contributor_kind)")
COUNTED = "FROM {s}.deliveries d WHERE d.territory = %(t)s AND " + Period.COUNTED
DELIVERED = ("SELECT d.resource_kind, d.unit, sum(d.quantity)::bigint AS quantity,"
             " array_agg(d.fulfilment_id::text ORDER BY d.fulfilment_id) AS ids " + COUNTED +
             " GROUP BY 1, 2 ORDER BY 1, 2")
BY_KIND = ("SELECT d.contributor_kind, d.resource_kind, d.unit, sum(d.quantity)::bigint AS quantity,"
           " array_agg(d.fulfilment_id::text ORDER BY d.fulfilment_id) AS ids " + COUNTED +
           " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
FUNDING = (f"SELECT {SOURCE} AS source, sum(d.quantity)::bigint AS eur_cent,"
           " array_agg(d.fulfilment_id::text ORDER BY d.fulfilment_id) AS ids " + COUNTED +
           " AND d.resource_kind = 'money' GROUP BY 1 ORDER BY 1")
PEOPLE = """
WITH c AS (SELECT d.contributor_id, d.beneficiary_id """ + COUNTED + """)
SELECT (SELECT count(DISTINCT beneficiary_id) FROM c) AS beneficiaries,
       (SELECT count(DISTINCT contributor_id) FROM c) AS contributors,
       (SELECT count(*) FROM (SELECT beneficiary_id FROM c INTERSECT SELECT contributor_id FROM c) x)
         AS also_contributed
"""
FEEDBACK = ("SELECT d.change, count(*) AS n, sum(d.satisfaction)::bigint AS total " + COUNTED +
            " AND d.satisfaction IS NOT NULL GROUP BY 1")
PROGRAMMES = ("SELECT d.programme, count(*) AS fulfilments,"
              " count(DISTINCT d.beneficiary_id) AS beneficiaries " + COUNTED +
              " AND d.programme IS NOT NULL GROUP BY 1 ORDER BY 1")


def _explained(row: dict[str, Any], keys: tuple[str, ...], period: Period) -> dict[str, Any]:
    out = {k: row[k] for k in keys}
    if period.explain:
        out["fulfilments"] = list(row["ids"])
    return out


def overview(reads: Reads, territory: str, period: Period) -> dict[str, Any]:
    params = period.params() | {"t": territory}
    posted = reads.rows(NEEDS, params)
    by_status: dict[str, int] = {}
    by_theme: dict[str, dict[str, Any]] = {}
    by_urgency: dict[str, int] = {}
    by_zone: dict[str, int] = {}
    for row in posted:
        n = row["n"]
        by_status[row["status"]] = by_status.get(row["status"], 0) + n
        theme = by_theme.setdefault(row["theme"], {"theme": row["theme"], "posted": 0, "met": 0})
        theme["posted"] += n
        theme["met"] += n if row["status"] == "met" else 0
        by_urgency[row["urgency"]] = by_urgency.get(row["urgency"], 0) + n
        zone = row["zone"] or "unknown"
        by_zone[zone] = by_zone.get(zone, 0) + n
    waits = reads.rows(WAITS, params)[0]
    people = reads.rows(PEOPLE, params)[0]
    feedback = reads.rows(FEEDBACK, params)
    answers = sum(r["n"] for r in feedback)
    by_programme = reads.rows(PROGRAMMES, params)
    return {
        "territory": territory, "from": period.start.isoformat(), "to": period.end.isoformat(),
        "programme": period.programme,
        "needs": {"posted": sum(by_status.values()), "by_status": dict(sorted(by_status.items())),
                  "by_theme": sorted(by_theme.values(), key=lambda r: r["theme"]),
                  "by_urgency": dict(sorted(by_urgency.items())),
                  "by_zone": dict(sorted(by_zone.items()))},
        "delivered": [_explained(r, ("resource_kind", "unit", "quantity"), period)
                      for r in reads.rows(DELIVERED, params)],
        "delivered_by_contributor_kind": [
            _explained(r, ("contributor_kind", "resource_kind", "unit", "quantity"), period)
            for r in reads.rows(BY_KIND, params)],
        "time_to_match_days": {"median": days(waits["match_median"]), "p90": days(waits["match_p90"])},
        "time_to_fulfil_days": {"median": days(waits["fulfil_median"]),
                                "p90": days(waits["fulfil_p90"])},
        "funding_mix": [_explained(r, ("source", "eur_cent"), period)
                        for r in reads.rows(FUNDING, params)],
        "reciprocity": {"beneficiaries": people["beneficiaries"],
                        "also_contributed": people["also_contributed"],
                        "index": ratio(people["also_contributed"], people["beneficiaries"])},
        "contributors": people["contributors"],
        "feedback": {"responses": answers,
                     "satisfaction_mean": (round(sum(r["total"] for r in feedback) / answers, 2)
                                           if answers else None),
                     "by_change": dict(sorted((r["change"] or "not_given", r["n"]) for r in feedback))},
        "by_programme": [{"programme": r["programme"], "fulfilments": r["fulfilments"],
                          "beneficiaries": r["beneficiaries"]} for r in by_programme],
        "as_of": {"position": reads.applied_position(territory)},
    }
