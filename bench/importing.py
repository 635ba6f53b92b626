"""`ledger import` of a territory's history, against raw PostgreSQL COPY of as many rows.

A JSON-lines file of about N events is written (one territory; citizens, households,
companies and ETS; offers, needs, matches, fulfilments with their original dates, a second
fulfilment for one in ten, feedback, a few cancellations and management costs; personal
data and free text in clear, as an export from another system would hold them), imported
through ledger/importer.py exactly as the CLI does, and the events actually stored are
counted. The baseline: the same stored rows, COPYed in one transaction into a table shaped
like the event store's (primary key, notification_id bigserial and its unique index).

Three rounds (BENCH_IMPORT_ROUNDS), each an import of a new territory's file followed by the
raw COPY of its rows; the round with the median ratio is reported, with every round's ratio.

Run alone: `python -m bench.importing` (BENCH_IMPORT_EVENTS, default 100000).
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.baselines import Rate
from ledger.container import Container
from ledger.eventstore import EVENTS_TABLE
from ledger.idempotency import IdempotencyStore
from ledger.importer import import_file

RESOURCES = [("time", "minute"), ("service", "minute"), ("space", "minute"),
             ("money", "eur_cent"), ("goods", "item"), ("goods", "gram")]
THEMES = [f"cts.{c}" for c in "abcdefghij"]
KINDS = ("citizen", "citizen", "household", "company", "ets", "citizen")
FIRST_DAY = date(2019, 1, 1)
RAW_TABLE = "bench_import_raw"
ROUNDS = 3  # imports, each followed by its baseline (see run)


class History:
    """The facts of one territory, line by line, with the events each will record."""

    def __init__(self, code: str, events: int, rng: random.Random) -> None:
        self.code, self.target, self.rng = code, events, rng
        self.events = 0
        self.contributors: list[str] = []
        self.beneficiaries: list[str] = []
        self.companies: list[str] = []
        self.n = 0

    def _ref(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def _fact(self, command: str, events: int, **fields: Any) -> dict[str, Any]:
        self.events += events
        return {"command": command, "territory": self.code} | fields

    def facts(self) -> Iterator[dict[str, Any]]:
        yield self._fact("register_territory", 1, name=f"Comune {self.code}")
        for i in range(max(20, self.target // 150)):
            yield self._actor(i)
        while self.events < self.target:
            yield from self._cycle()

    def _actor(self, i: int) -> dict[str, Any]:
        kind, ref = KINDS[i % len(KINDS)], self._ref("a")
        fields: dict[str, Any] = {"ref": ref, "kind": kind}
        if kind in ("citizen", "household"):
            fields |= {"display_name": f"Persona {i}",
                       "personal": {"email": f"p{i}@example.it", "phone": f"+39 0383 {i:06d}"},
                       "zone": f"z{i % 7}"}
            if kind == "citizen" and self.companies and i % 4 == 0:
                fields["employer_id"] = self.rng.choice(self.companies)
            self.beneficiaries.append(ref)
        else:
            fields |= {"display_name": f"{kind} {i}"}
            if kind == "ets":
                fields["runts_id"] = f"R{i:07d}"
            else:
                fields["vat_number"] = f"IT{10_000_000_000 + i}"
                self.companies.append(ref)
        self.contributors.append(ref)
        return self._fact("register_actor", 1, **fields)

    def _day(self) -> str:
        return str(FIRST_DAY + timedelta(days=self.rng.randrange(5 * 365)))

    def _cycle(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        kind, unit = rng.choice(RESOURCES)
        theme, quantity = rng.choice(THEMES), rng.randint(60, 600)
        offer, need, match = self._ref("c"), self._ref("r"), self._ref("m")
        contributor = rng.choice(self.contributors)
        yield self._fact("pledge", 1, ref=offer, contributor_id=contributor,
                         resource_kind=kind, unit=unit, quantity=quantity, theme=theme,
                         description="aiuto settimanale",
                         paid_time=False if kind == "time" else None)
        asked = rng.randint(30, quantity)
        yield self._fact("post_request", 1, ref=need, beneficiary_id=rng.choice(self.beneficiaries),
                         resource_kind=kind, unit=unit, quantity=asked, theme=theme,
                         urgency="high", description="ha bisogno di aiuto")
        reserved = rng.randint(2, asked)
        yield self._fact("match", 3, ref=match, contribution_id=offer, request_id=need,
                         quantity=reserved)
        if rng.random() < 0.03:
            yield self._fact("cancel_match", 3, match_id=match, reason="non più necessario")
            return
        first = reserved // 2 if rng.random() < 0.1 else reserved
        for part in (first, reserved - first):
            if part:
                done = self._ref("f")
                yield self._fact("fulfil", 4, ref=done, match_id=match, quantity=part,
                                 fulfilled_on=self._day())
                if rng.random() < 0.3:
                    yield self._fact("record_feedback", 1, fulfilment_id=done,
                                     satisfaction=rng.randint(1, 5), change="improve",
                                     comment="molto utile")
        if self.companies and rng.random() < 0.02:
            yield self._fact("record_management_cost", 1, company_id=rng.choice(self.companies),
                             incurred_on=self._day(), eur_cent=rng.randint(1000, 90000))


def write_history(path: Path, code: str, events: int, seed: int = 42) -> int:
    """Write the file; the number of events its facts will record."""
    history = History(code, events, random.Random(seed))  # noqa: S311 - synthetic data
    with path.open("w", encoding="utf-8") as out:
        for fact in history.facts():
            out.write(json.dumps(fact, ensure_ascii=False) + "\n")
    return history.events


def _head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}").fetchone()
    return int(row[0]) if row else 0


def _rows_after(url: str, head: int) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT originator_id, originator_version, topic, state FROM "
                            f"{EVENTS_TABLE} WHERE notification_id > %s ORDER BY notification_id",
                            (head,)).fetchall()


def raw_copy(url: str, rows: list[tuple[Any, ...]]) -> Rate:
    """The rows in one binary COPY (the format the import writes), one transaction, under the
    same table lock, into a table shaped like eventsourcing's stored-events table."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        conn.execute(f"CREATE TABLE {RAW_TABLE} (originator_id uuid NOT NULL, "
                     "originator_version bigint NOT NULL, topic text, state bytea, "
                     "notification_id bigserial, PRIMARY KEY (originator_id, originator_version))")
        conn.execute(f"CREATE UNIQUE INDEX ON {RAW_TABLE} (notification_id)")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(f"LOCK TABLE {RAW_TABLE} IN EXCLUSIVE MODE")
            with cur.copy(f"COPY {RAW_TABLE} (originator_id, originator_version, topic, state) "
                          "FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for row in rows:
                    copy.write_row(row)
        rate = Rate(len(rows), time.perf_counter() - started)
        conn.execute(f"DROP TABLE {RAW_TABLE}")
    return rate


def run(container: Container, events: int, say: Callable[[str], None]) -> dict[str, Any]:
    """BENCH_IMPORT_ROUNDS imports (default 3), each of a new territory's file and each
    followed by the raw COPY of its rows: the import and its baseline in turns, so that each
    ratio compares two measurements a second apart. Reported: the round with the median
    ratio (of an even number, the lower middle one), and every round's ratio."""
    rounds = max(1, int(os.environ.get("BENCH_IMPORT_ROUNDS") or ROUNDS))
    first = 900000 + time.time_ns() // 1000 % 90000
    done = [_round(container, events, say, f"{first + k:06d}") for k in range(rounds)]
    ratios = [r["import_ratio"] for r in done]
    median = sorted(done, key=lambda r: r["import_ratio"])[(rounds - 1) // 2]
    if rounds > 1:
        say(f"import: {rounds} rounds, import_ratio {', '.join(f'{x:.3f}' for x in ratios)}: "
            f"the median {median['import_ratio']:.3f} ({median['import_events_per_s']:,.0f} "
            f"events/s against {median['import_raw_copy_rows_per_s']:,.0f} rows/s)")
    return median | {"import_rounds": rounds, "import_ratios": ratios}


def _round(container: Container, events: int, say: Callable[[str], None],
           code: str) -> dict[str, Any]:
    url = container.database_url
    with tempfile.TemporaryDirectory(prefix="ledger-import-") as tmp:
        path = Path(tmp) / f"{code}.jsonl"
        expected = write_history(path, code, events)
        lines = sum(1 for _ in path.open(encoding="utf-8"))
        say(f"import: {lines} facts ({path.stat().st_size / 1e6:.1f} MB) for about "
            f"{expected} events of territory {code}")
        head = _head(url)
        done = [0]
        started = time.perf_counter()
        recorded = import_file(container.app, IdempotencyStore(container.db), path,
                               lambda n: done.__setitem__(0, n))
        seconds = time.perf_counter() - started
    rows = _rows_after(url, head)
    if recorded != len(rows) or done[0] != lines:
        raise RuntimeError(f"import: {recorded} events reported, {len(rows)} stored, "
                           f"progress at {done[0]} of {lines} facts")
    imported = Rate(len(rows), seconds)
    mean_bytes = sum(len(r[3]) for r in rows) / max(1, len(rows))
    copy = raw_copy(url, rows)
    ratio = imported.per_s / copy.per_s
    say(f"import: {imported.count} events in {imported.seconds:.2f}s, {imported.per_s:,.0f} "
        f"events/s; raw COPY of the same {copy.count} rows ({mean_bytes:.0f}-byte states) "
        f"{copy.seconds:.2f}s, {copy.per_s:,.0f} rows/s; import_ratio {ratio:.3f}")
    return {"import_events": imported.count,
            "import_events_per_s": round(imported.per_s, 1),
            "import_ratio": round(ratio, 4),
            "import_raw_copy_rows_per_s": round(copy.per_s, 1),
            "import_seconds": round(imported.seconds, 2)}


def main() -> int:
    from bench.alone import run_alone

    events = int(os.environ.get("BENCH_IMPORT_EVENTS") or os.environ.get("BENCH_EVENTS")
                 or 100_000)
    return run_alone(lambda c, _: run(c, events, lambda line: print(line, flush=True)))


if __name__ == "__main__":
    sys.exit(main())
