"""Applies batches of topic records to the projections of one schema generation.

Each projection keeps its own tracking (next offset per partition) in the same transaction
as its rows, so a redelivered or replayed record is skipped and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg import Cursor, errors, sql

from ledger.db import Database
from ledger.projections.audit import AuditBatch
from ledger.projections.history import HistoryBatch
from ledger.projections.items import ItemBatch
from ledger.projections.records import Record
from ledger.projections.reports import TABLES as REPORT_TABLES
from ledger.projections.reports import ReportBatch
from ledger.projections.schema import FIRST_SCHEMA, GENERATION_TABLE, TABLES


class Batch(Protocol):
    @staticmethod
    def derive(record: Record) -> Any:
        """What the projection takes from this record alone (pure: no database)."""

    def add(self, record: Record, derived: Any) -> None: ...
    def extend(self, records: Sequence[Record]) -> None:
        """add(record, derive(record)) for each of these records."""

    def encode(self) -> None:
        """Format the rows added so far as COPY text, where no database is needed (called
        once, after the last add)."""

    def flush(self, cur: Cursor[Any], schema: str, *, rows_may_exist: bool = False) -> None:
        """Write the rows; with rows_may_exist, a row already there is left as it is."""


# Applied in this order in one transaction: reports join the items of the same batch.
PROJECTIONS: dict[str, type[Batch]] = {
    "items": ItemBatch, "history": HistoryBatch, "audit": AuditBatch, "reports": ReportBatch}

Conn = psycopg.Connection[dict[str, Any]]


def setup(db: Database) -> str:
    """Create the generation pointer and the first schema if missing; return the active one."""
    with db.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(7202)")
        conn.execute(GENERATION_TABLE)
        row = conn.execute("SELECT schema_name FROM projection_generation").fetchone()
        schema = row["schema_name"] if row else FIRST_SCHEMA
        create_schema(conn, schema)
        if row is None:
            conn.execute("INSERT INTO projection_generation (schema_name) VALUES (%s)", (schema,))
    return str(schema)


def create_schema(conn: Conn, schema: str) -> None:
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(TABLES.replace("{s}", f'"{schema}"'))
    conn.execute(REPORT_TABLES.replace("{s}", f'"{schema}"'))


def active_schema(conn: Conn, *, lock: bool = False) -> str:
    query = "SELECT schema_name FROM projection_generation"
    row = conn.execute(query + (" FOR SHARE" if lock else "")).fetchone()
    if row is None:
        raise RuntimeError("projections are not set up")
    return str(row["schema_name"])


def tracking(conn: Conn, schema: str) -> dict[tuple[str, int], int]:
    rows = conn.execute(sql.SQL("SELECT projection, partition, next_offset FROM {}.tracking")
                        .format(sql.Identifier(schema))).fetchall()
    return {(r["projection"], r["partition"]): r["next_offset"] for r in rows}


def start_offsets(conn: Conn, schema: str, partitions: Sequence[int]) -> dict[int, int]:
    """Where a consumer must start so that every projection sees what it has not applied."""
    done = tracking(conn, schema)
    return {p: min(done.get((name, p), 0) for name in PROJECTIONS) for p in partitions}


@dataclass
class Summary:
    """What applying a batch reads of its records besides their rows: partitions, the first
    and last offset of each partition's valid records, the last position of each territory
    (with its partition) and of each partition."""

    all_valid: bool
    valid: int
    partitions: set[int]
    first: dict[int, int]
    last: dict[int, int]
    territories: dict[str, tuple[int, int]]
    positions: dict[int, int]


def summarize(records: Sequence[Record]) -> Summary:
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    territories: dict[str, tuple[int, int]] = {}
    positions: dict[int, int] = {}
    valid = 0
    for r in records:
        if not r.valid:
            continue
        valid += 1
        partition, offset, position = r.partition, r.offset, r.position
        if offset < first.get(partition, offset + 1):
            first[partition] = offset
        if offset > last.get(partition, -1):
            last[partition] = offset
        seen = territories.get(r.territory)
        territories[r.territory] = (position if seen is None or position > seen[0]
                                    else seen[0], partition)
        if position > positions.get(partition, 0):
            positions[partition] = position
    return Summary(valid == len(records), valid, {r.partition for r in records}, first, last,
                   territories, positions)


class Prepared(list[Record]):
    """Records with what `prepare` worked out ahead for the usual case, every record new to
    every projection: each projection's rows gathered and formatted as COPY text, and the
    records' summary."""

    batches: list[Batch] | None = None
    summary: Summary | None = None


def prepare(records: list[Record]) -> Prepared:
    """Work out ahead what each projection writes for these records, so that applying the
    batch only ships it to PostgreSQL: the projector does this in its polling thread while
    the batch before is written. Should a record fail here, nothing is prepared: apply
    derives the batch again and deals with the error (parking the record)."""
    prepared = Prepared(records)
    valid = [r for r in prepared if r.valid]
    prepared.summary = summarize(prepared)
    batches: list[Batch] = []
    try:
        for factory in PROJECTIONS.values():
            batch = factory()
            batch.extend(valid)
            batch.encode()
            if isinstance(batch, ReportBatch) and batch.columns is not None:
                batch.columns = {name: array_literal(values) if isinstance(values, list)
                                 else values for name, values in batch.columns.items()}
            batches.append(batch)
    except Exception:  # noqa: BLE001 - apply derives it again and deals with the error
        return prepared
    prepared.batches = batches
    return prepared


def array_literal(values: list[Any]) -> str:
    """A PostgreSQL array literal of these values (each quoted, None as NULL): what psycopg
    sends for a list, written ahead so that the thread holding the transaction does not. The
    statement casts it to the array type it means (`%(x)s::uuid[]`)."""
    out = []
    for value in values:
        if value is None:
            out.append("NULL")
            continue
        text = (value if isinstance(value, str) else value.isoformat()
                if isinstance(value, datetime) else str(value))
        if "\x00" in text:  # (what psycopg refuses too; the batch is then derived again)
            raise ValueError("PostgreSQL text cannot hold NUL characters")
        if "\\" in text or '"' in text:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'"{text}"')
    return "{" + ",".join(out) + "}"


def shippable(batches: list[Batch]) -> list[Batch]:
    """The prepared batches with only what `flush` still reads, to hand them to another
    process: rows gathered as Python values are dropped once they are formatted as COPY text."""
    for batch in batches:
        if isinstance(batch, AuditBatch) and batch.encoded is not None:
            batch.rows = []
        elif isinstance(batch, ItemBatch) and batch.encoded is not None:
            batch.inserts = {}
        elif isinstance(batch, HistoryBatch) and batch.encoded is not None:
            batch.known = {}  # (what is left to write names items the batch did not create)
    return batches


SAVEPOINT, ROLLBACK = "SAVEPOINT projection_rows", "ROLLBACK TO SAVEPOINT projection_rows"


def apply(conn: Conn, schema: str, records: Sequence[Record], *,
          lock_class: int | None = None) -> int:
    """Apply records (in partition order) to every projection that has not seen them.

    The rows go straight in by COPY under one savepoint; should one be there already (a
    record seen twice), the batch is written again through ON CONFLICT DO NOTHING.
    Records that come `Prepared` are written as prepared when no projection has seen any.
    `lock_class`: first take the advisory lock (lock_class, hashtext('schema/partition')) of
    each partition of the batch, in the same round trip as reading tracking."""
    summary = records.summary if isinstance(records, Prepared) else None
    if summary is None:
        summary = summarize(records)
    all_valid = summary.all_valid
    with conn.pipeline(), conn.cursor() as cur:
        if lock_class is not None:
            cur.executemany("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                            [(lock_class, f"{schema}/{p}") for p in sorted(summary.partitions)])
        read = conn.execute(sql.SQL("SELECT projection, partition, next_offset FROM {}.tracking")
                            .format(sql.Identifier(schema)))
        if all_valid:
            cur.execute(SAVEPOINT)
    done = {(r["projection"], r["partition"]): r["next_offset"] for r in read.fetchall()}
    if not all_valid:
        for r in records:
            if not r.valid and r.offset >= min(done.get((n, r.partition), 0)
                                               for n in PROJECTIONS):
                park(conn, schema, r, "not a ledger event record")
        conn.execute(SAVEPOINT)
    first, last = summary.first, summary.last
    fresh = {name: all(done.get((name, p), 0) <= offset for p, offset in first.items())
             for name in PROJECTIONS}
    new_tracking: dict[tuple[str, int], int] = {}
    prepared = records.batches if isinstance(records, Prepared) else None
    # (Prepared COPY text is UTF-8, what a connection to a UTF8 database sends.)
    if prepared is not None and all(fresh.values()) and conn.info.encoding == "utf-8":
        batches = prepared
        applied = summary.valid * len(PROJECTIONS)
        new_tracking = {(name, p): offset + 1 for name in PROJECTIONS
                        for p, offset in last.items()}
    else:
        applied = 0
        batches = []
        # (Records prepared elsewhere come as headers: parsed again to be derived here.)
        whole = [r.full() for r in records if r.valid]
        for name, factory in PROJECTIONS.items():
            batch = factory()
            if fresh[name]:
                todo = whole  # the usual case: nothing of the batch seen yet
                new_tracking.update({(name, p): offset + 1 for p, offset in last.items()})
            else:
                todo = [r for r in whole if r.offset >= done.get((name, r.partition), 0)]
                for r in todo:
                    new_tracking[(name, r.partition)] = max(
                        new_tracking.get((name, r.partition), 0), r.offset + 1)
            for r in todo:
                derived = r.derived
                batch.add(r, derived[name] if derived is not None else factory.derive(r))
            applied += len(todo)
            batches.append(batch)
    if not new_tracking:
        return 0
    with conn.cursor() as cur:
        try:
            for batch in batches:
                batch.flush(cur, schema)
        except errors.UniqueViolation:
            conn.execute(ROLLBACK)
            for batch in batches:
                batch.flush(cur, schema, rows_may_exist=True)
    _advance(conn, schema, summary, new_tracking)
    return applied


def _advance(conn: Conn, schema: str, summary: Summary,
             new_tracking: dict[tuple[str, int], int]) -> None:
    """Move tracking and the positions that min_position reads, in the caller's transaction
    (three statements, one round trip)."""
    s = sql.Identifier(schema)
    territories, partitions = summary.territories, summary.positions
    with conn.pipeline(), conn.cursor() as cur:
        cur.executemany(sql.SQL(
            "INSERT INTO {}.tracking (projection, partition, next_offset) VALUES (%s,%s,%s) "
            "ON CONFLICT (projection, partition) DO UPDATE SET next_offset = "
            "GREATEST({}.tracking.next_offset, EXCLUDED.next_offset)").format(s, s),
            [(n, p, o) for (n, p), o in new_tracking.items()])
        if territories:
            cur.executemany(sql.SQL(
                "INSERT INTO {}.territory_positions (territory, position, partition) "
                "VALUES (%s,%s,%s) ON CONFLICT (territory) DO UPDATE SET position = "
                "GREATEST({}.territory_positions.position, EXCLUDED.position), "
                "partition = EXCLUDED.partition").format(s, s),
                [(t, pos, part) for t, (pos, part) in territories.items()])
        if partitions:
            cur.executemany(sql.SQL(
                "INSERT INTO {}.partition_positions (partition, position) VALUES (%s,%s) "
                "ON CONFLICT (partition) DO UPDATE SET position = "
                "GREATEST({}.partition_positions.position, EXCLUDED.position)").format(s, s),
                list(partitions.items()))


def park(conn: Conn, schema: str, record: Record, error: str) -> None:
    """Set aside a record no projection can apply, so the partition keeps moving; operators
    find it in dead_letters (and `ledger status`)."""
    conn.execute(sql.SQL(
        "INSERT INTO {}.dead_letters (partition, kafka_offset, error, record) "
        "VALUES (%s,%s,%s,%s) ON CONFLICT DO NOTHING").format(sql.Identifier(schema)),
        (record.partition, record.offset, error[:2000],
         record.raw.decode("utf-8", "replace").replace("\x00", "")))
    _advance(conn, schema, summarize([record]),
             {(name, record.partition): record.offset + 1 for name in PROJECTIONS})
