"""An ETS's volunteer hours for its rendiconto: the counted deliveries of time its volunteers
gave through it (contributions of `time` whose contributor is the ETS), valued at the hourly
minimum of a CCNL grade (versioned data with its source, ledger/reports/mappings/) as the
costi e proventi figurativi of DM 5 marzo 2020. Valuations exist only here: the ledger keeps
the raw minutes."""

from __future__ import annotations

import json
import uuid
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from ledger.projections.queries import Reads
from ledger.reports.period import Period

TABLE = json.loads((Path(__file__).parent / "mappings" / "ccnl-coop-sociali-2024-10.json"
                    ).read_text())
LEVELS = tuple(TABLE["monthly_eur_cent"])
HOURS = """
SELECT d.theme, sum(d.quantity)::bigint AS minutes, count(*) AS fulfilments,
       array_agg(d.fulfilment_id::text ORDER BY d.fulfilment_id) AS ids
  FROM {s}.deliveries d
 WHERE d.territory = %(t)s AND d.contributor_id = %(ets)s AND d.resource_kind = 'time'
   AND """ + Period.COUNTED + """
 GROUP BY 1 ORDER BY 1
"""


def hourly_rate(level: str) -> int:
    monthly = Decimal(TABLE["monthly_eur_cent"][level])
    return int((monthly / TABLE["hourly_divisor"]).quantize(Decimal(1), ROUND_HALF_UP))


def ets_report(reads: Reads, territory: str, ets_id: uuid.UUID, period: Period,
               level: str | None = None) -> dict[str, Any]:
    grade = level or TABLE["default_level"]
    rate = hourly_rate(grade)
    rows = reads.rows(HOURS, period.params() | {"t": territory, "ets": ets_id})
    by_theme = []
    for row in rows:
        value = int((Decimal(row["minutes"]) * rate / 60).quantize(Decimal(1), ROUND_HALF_UP))
        entry = {"theme": row["theme"], "minutes": row["minutes"],
                 "fulfilments": row["fulfilments"], "figurative_eur_cent": value}
        if period.explain:
            entry["fulfilment_ids"] = list(row["ids"])
        by_theme.append(entry)
    return {"ets_id": str(ets_id), "territory": territory, "from": period.start.isoformat(),
            "to": period.end.isoformat(), "method": TABLE["version"],
            "source": {"contract": TABLE["contract"], "table": TABLE["table"],
                       "hourly_divisor": TABLE["hourly_divisor"]},
            "level": grade, "hourly_rate_eur_cent": rate,
            "minutes": sum(r["minutes"] for r in by_theme),
            "figurative_eur_cent": sum(r["figurative_eur_cent"] for r in by_theme),
            "by_theme": by_theme, "as_of": {"position": reads.applied_position(territory)}}
