"""Open data of a territory: what was delivered, by month, theme, resource and kind of giver.

No personal data (no ids, no names, no zones) and small counts suppressed: a row's distinct
beneficiaries below 5 are published as empty, and rows with fewer than 5 fulfilments are
merged into `other` (theme) so no one can be singled out.

Columns: `month` (YYYY-MM, of the delivery), `theme` (CTS art. 5 letter, area or the
territory's own code; `other` for merged small rows), `resource_kind`, `unit`,
`contributor_kind`, `fulfilments`, `quantity` (in the unit), `beneficiaries` (distinct; empty
when fewer than 5).
"""

from __future__ import annotations

from typing import Any

from ledger.projections.queries import Reads
from ledger.reports.period import Period

SUPPRESS_BELOW = 5
COLUMNS = ("month", "theme", "resource_kind", "unit", "contributor_kind", "fulfilments",
           "quantity", "beneficiaries")
ROWS = """
WITH base AS (
  SELECT to_char(d.fulfilled_on, 'YYYY-MM') AS month, d.theme, d.resource_kind, d.unit,
         COALESCE(d.contributor_kind, 'unknown') AS contributor_kind, d.beneficiary_id, d.quantity
    FROM {s}.deliveries d WHERE d.territory = %(t)s AND """ + Period.COUNTED + """
), sized AS (
  SELECT *, count(*) OVER (PARTITION BY month, theme, resource_kind, unit, contributor_kind) AS n
    FROM base
)
SELECT month, CASE WHEN n < %(k)s THEN 'other' ELSE theme END AS theme, resource_kind, unit,
       contributor_kind, count(*) AS fulfilments, sum(quantity)::bigint AS quantity,
       count(DISTINCT beneficiary_id) AS beneficiaries
  FROM sized GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
"""


def open_data(reads: Reads, territory: str, period: Period) -> list[dict[str, Any]]:
    rows = reads.rows(ROWS, period.params() | {"t": territory, "k": SUPPRESS_BELOW})
    return [{c: row[c] for c in COLUMNS} | {
        "beneficiaries": row["beneficiaries"] if row["beneficiaries"] >= SUPPRESS_BELOW else None}
        for row in rows]
