"""The municipal overview of a territory and period (CONTRACT.md, "Reports").

`needs` covers requests posted in the period (by their status now); `delivered`,
`funding_mix` and `reciprocity` sum the counted fulfilments of the period: `fulfilled_on` in
the period (default: the day recorded, Europe/Rome) and not reversed.
"""

from __future__ import annotations

from typing import Any

from ledger.projections.queries import Reads
from ledger.reports.period import Period, days, ratio

# Requests posted in the period: a range on created_at (Europe/Rome days), so indexes serve it.
POSTED = ("r.territory = %(t)s"
          " AND r.created_at >= (%(from)s::date::timestamp AT TIME ZONE 'Europe/Rome')"
          " AND r.created_at < ((%(to)s::date + 1)::timestamp AT TIME ZONE 'Europe/Rome')"
          " AND (%(programme)s::text IS NULL OR r.programme = %(programme)s)")
NEEDS = """
SELECT r.status, r.theme, r.urgency, a.zone, count(*) AS n
  FROM {s}.requests r LEFT JOIN {s}.actors a ON a.id = r.beneficiary_id
 WHERE """ + POSTED + """
 GROUP BY 1, 2, 3, 4
"""
# A need's first match and first delivery come after it was posted, so only those of the
# period onwards are grouped (hash joins, never a lookup per need).
WAITS = """
WITH posted AS MATERIALIZED (SELECT r.id, r.created_at FROM {s}.requests r WHERE """ + POSTED + """),
matched AS (
  SELECT m.request_id, min(m.created_at) AS at FROM {s}.matches m
   WHERE m.territory = %(t)s AND m.status <> 'rejected'
     AND m.created_at >= (%(from)s::date::timestamp AT TIME ZONE 'Europe/Rome') GROUP BY 1
), delivered AS (
  SELECT d.request_id, min(d.recorded_at) AS at FROM {s}.deliveries d
   WHERE d.territory = %(t)s AND NOT d.reversed
     AND d.recorded_at >= (%(from)s::date::timestamp AT TIME ZONE 'Europe/Rome') GROUP BY 1
), waits AS (
  SELECT extract(epoch FROM m.at - p.created_at) / 86400 AS to_match,
         extract(epoch FROM d.at - p.created_at) / 86400 AS to_fulfil
    FROM posted p LEFT JOIN matched m ON m.request_id = p.id LEFT JOIN delivered d ON d.request_id = p.id
)
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY to_match) AS match_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_match) AS match_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_fulfil) AS fulfil_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_fulfil) AS fulfil_p90
  FROM waits
"""
SOURCE = ("COALESCE(d.funding_source, CASE WHEN d.motivation = 'corporate_welfare'"
          " THEN 'corporate_welfare' END, d.contributor_kind)")
# The counted deliveries, in two passes: the groups every sum of the overview rolls up (straight
# from the table: materialising wide rows costs more than a second scan), and the distinct
# people (beneficiaries, contributors, both; beneficiaries per programme) from narrow rows.
COUNTED = f"""
WITH c AS MATERIALIZED (
  SELECT d.contributor_id, d.beneficiary_id, d.programme
    FROM {{s}}.deliveries d WHERE d.territory = %(t)s AND {Period.COUNTED}
), b AS MATERIALIZED (SELECT DISTINCT beneficiary_id AS id FROM c),
g AS MATERIALIZED (SELECT DISTINCT contributor_id AS id FROM c)
SELECT (SELECT json_agg(x) FROM (
          SELECT d.resource_kind, d.unit, d.contributor_kind, {SOURCE} AS source, d.programme,
                 d.change, count(*) AS n, sum(d.quantity)::bigint AS quantity,
                 count(d.satisfaction) AS answers, COALESCE(sum(d.satisfaction), 0)::bigint AS score,
                 CASE WHEN %(explain)s THEN array_agg(d.fulfilment_id::text) END AS ids
            FROM {{s}}.deliveries d WHERE d.territory = %(t)s AND {Period.COUNTED}
           GROUP BY 1, 2, 3, 4, 5, 6) x) AS groups,
       (SELECT count(*) FROM b) AS beneficiaries, (SELECT count(*) FROM g) AS contributors,
       (SELECT count(*) FROM b JOIN g USING (id)) AS also_contributed,
       (SELECT json_object_agg(programme, n) FROM (
          SELECT programme, count(*) AS n FROM (
            SELECT DISTINCT programme, beneficiary_id FROM c WHERE programme IS NOT NULL) y
           GROUP BY 1) p) AS by_programme
"""


def _roll_up(groups: list[dict[str, Any]], keys: tuple[str, ...], period: Period,
             where: Any = None, total: str = "quantity") -> list[dict[str, Any]]:
    """Sum the groups by `keys` (optionally only those `where` holds), sorted by key."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for g in groups:
        if where is not None and not where(g):
            continue
        key = tuple(g[k] for k in keys)
        row = rows.setdefault(key, {k: g[k] for k in keys} | {total: 0, "ids": []})
        row[total] += g["quantity"]
        row["ids"] += g["ids"] or []
    out = []
    for key in sorted(rows, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        row = rows[key]
        ids = row.pop("ids")
        if period.explain:
            row["fulfilments"] = sorted(ids)
        out.append(row)
    return out


def overview(reads: Reads, territory: str, period: Period) -> dict[str, Any]:
    params = period.params() | {"t": territory}
    as_of = reads.applied_position(territory)  # first: every figure includes at least this
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
    people = reads.rows(COUNTED, params | {"explain": period.explain})[0]
    groups = people["groups"] or []
    answers = sum(g["answers"] for g in groups)
    by_change: dict[str, int] = {}
    for g in groups:
        if g["answers"]:
            name = g["change"] or "not_given"
            by_change[name] = by_change.get(name, 0) + g["answers"]
    fulfilments_by_programme: dict[str, int] = {}
    for g in groups:
        if g["programme"] is not None:
            fulfilments_by_programme[g["programme"]] = (
                fulfilments_by_programme.get(g["programme"], 0) + g["n"])
    programme_people = people["by_programme"] or {}
    return {
        "territory": territory, "from": period.start.isoformat(), "to": period.end.isoformat(),
        "programme": period.programme,
        "needs": {"posted": sum(by_status.values()), "by_status": dict(sorted(by_status.items())),
                  "by_theme": sorted(by_theme.values(), key=lambda r: r["theme"]),
                  "by_urgency": dict(sorted(by_urgency.items())),
                  "by_zone": dict(sorted(by_zone.items()))},
        "delivered": _roll_up(groups, ("resource_kind", "unit"), period),
        "delivered_by_contributor_kind": _roll_up(
            groups, ("contributor_kind", "resource_kind", "unit"), period),
        "time_to_match_days": {"median": days(waits["match_median"]), "p90": days(waits["match_p90"])},
        "time_to_fulfil_days": {"median": days(waits["fulfil_median"]),
                                "p90": days(waits["fulfil_p90"])},
        "funding_mix": _roll_up(groups, ("source",), period,
                                lambda g: g["resource_kind"] == "money", total="eur_cent"),
        "reciprocity": {"beneficiaries": people["beneficiaries"],
                        "also_contributed": people["also_contributed"],
                        "index": ratio(people["also_contributed"], people["beneficiaries"])},
        "contributors": people["contributors"],
        "feedback": {"responses": answers,
                     "satisfaction_mean": (round(sum(g["score"] for g in groups) / answers, 2)
                                           if answers else None),
                     "by_change": dict(sorted(by_change.items()))},
        "by_programme": [{"programme": code, "fulfilments": n,
                          "beneficiaries": programme_people.get(code, 0)}
                         for code, n in sorted(fulfilments_by_programme.items())],
        "as_of": {"position": as_of},
    }
