"""Report query times over a large reporting projection: 100,000 fulfilments (BENCH_FULFILMENTS)
of one territory in one year, a fifth of them given by one company and its employees (through
500 offers), and 20,000 needs posted in the year, half of them matched. Rows are loaded straight into the
projection tables (COPY): this measures the queries, not the projector."""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import date, timedelta
from typing import Any

from psycopg import sql

from ledger.container import Container
from ledger.projections import store
from ledger.reports.csr import csr
from ledger.reports.overview import overview
from ledger.reports.period import Period

TERRITORY = "999001"
YEAR = date(2025, 1, 1)


def _load(container: Container, fulfilments: int, rng: random.Random) -> uuid.UUID:
    company, employees = uuid.uuid4(), [uuid.uuid4() for _ in range(50)]
    people = [uuid.uuid4() for _ in range(5000)]
    requests = [uuid.uuid4() for _ in range(fulfilments // 5)]
    # Offers are delivered many times each: 500 of the company and its people, 5,000 others.
    own_offers = [uuid.uuid4() for _ in range(500)]
    offers = [uuid.uuid4() for _ in range(5000)]
    with container.db.transaction() as conn:
        schema = sql.Identifier(store.active_schema(conn))
        with conn.cursor().copy(sql.SQL(
                "COPY {}.requests (id, territory, beneficiary_id, resource_kind, unit, quantity,"
                " status, theme, urgency, created_at, updated_at, position, created_position)"
                " FROM STDIN").format(schema)) as copy:
            for i, rid in enumerate(requests):
                at = f"{YEAR + timedelta(days=i % 365)} 10:00:00+01"
                copy.write_row((rid, TERRITORY, rng.choice(people), "time", "minute", 120,
                                rng.choice(("open", "met", "partly_matched")), "cts.a",
                                "normal", at, at, i, i))
        with conn.cursor().copy(sql.SQL(
                "COPY {}.matches (id, territory, contribution_id, request_id, contributor_id,"
                " beneficiary_id, resource_kind, unit, quantity, status, created_at, updated_at,"
                " position, created_position) FROM STDIN").format(schema)) as copy:
            for i, rid in enumerate(requests[::2]):
                at = f"{YEAR + timedelta(days=(2 * i) % 365 + 2)} 10:00:00+01"
                copy.write_row((uuid.uuid4(), TERRITORY, uuid.uuid4(), rid, uuid.uuid4(),
                                uuid.uuid4(), "time", "minute", 60, "reserved", at, at, i, i))
        with conn.cursor().copy(sql.SQL(
                "COPY {}.deliveries (fulfilment_id, territory, fulfilled_on, recorded_at, theme,"
                " match_id, contribution_id, request_id, contributor_id, contributor_kind,"
                " employer_id, paid_time, motivation, cost_eur_cent, beneficiary_id,"
                " beneficiary_kind, resource_kind, unit, quantity, reversed, position)"
                " FROM STDIN").format(schema)) as copy:
            for i in range(fulfilments):
                on = YEAR + timedelta(days=i % 365)
                mine = i % 5 == 0
                giver = (company if i % 10 == 0 else rng.choice(employees)) if mine else uuid.uuid4()
                kind = "money" if i % 3 == 0 else "time"  # (an offer's kind varies here: a
                # pessimistic case for the grouping, which the queries do not depend on)
                copy.write_row((uuid.uuid4(), TERRITORY, on, f"{on} 12:00:00+01", "cts.a",
                                uuid.uuid4(), rng.choice(own_offers if mine else offers),
                                rng.choice(requests), giver,
                                "company" if giver == company else "citizen",
                                company if mine and giver != company else None, True,
                                "community_investment", None if kind == "money" else 2500,
                                rng.choice(people), "citizen", kind,
                                "eur_cent" if kind == "money" else "minute",
                                rng.randint(1, 500), i % 97 == 0, i))
    with container.db.pool.connection() as conn:
        conn.autocommit = True
        conn.execute("ANALYZE")  # as autovacuum would after such a load
    return company


def run(container: Container, fulfilments: int, repeats: int = 5) -> dict[str, Any]:
    company = _load(container, fulfilments, random.Random(7))  # noqa: S311 - synthetic data
    period = Period(YEAR, YEAR + timedelta(days=364))

    def timed(call: Any) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    return {"report_fulfilments": fulfilments,
            "overview_ms": round(timed(lambda: overview(container.reads, TERRITORY, period)), 1),
            "csr_ms": round(timed(lambda: csr(container.reads, [(TERRITORY, company)], period,
                                              company)), 1)}
