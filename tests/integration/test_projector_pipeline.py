"""The pipelined projector (each batch's rows prepared and formatted as COPY text on the
polling thread, written by the apply thread while the next batch is prepared): the same
projections as records applied one plain batch at a time; a crash inside a batch's
transaction, or between its commit and its group offsets, loses and duplicates nothing; a
prepared batch that meets records already applied (overlap, lost tracking) writes them once."""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from typing import Any

import pytest
from psycopg import sql

from bench.workload import Generator
from consumers.projector import PARTITION_LOCK, Projector
from consumers.projector_prepare import Preparer, prepare_here
from consumers.topic import committed_messages
from infra.stack import Services
from ledger.db import Database
from ledger.projections import store
from ledger.projections.records import Record
from ledger.settings import Settings
from tests.support.isolated import Isolated, isolated_stack

pytestmark = pytest.mark.integration


class Crash(Exception):
    """The process dying at that point (not a record's fault: nothing is parked)."""


class Crashing(Projector):
    """A pinned projector that dies at its n-th batch: inside the transaction, after the
    batch's rows are written but before COMMIT, or right after COMMIT, before the group
    offsets."""

    def __init__(self, iso: Isolated, schema: str, *, at: int, where: str) -> None:
        super().__init__(db=iso.container.db, bootstrap=iso.bootstrap, topic=iso.settings.topic,
                         group_id=f"pipe-{iso.settings.topic}", schema=schema, batch_size=400)
        self.at, self.where = at, where
        self.batches = self.prepared = self.commits = 0

    def _apply(self, records: list[Record]) -> tuple[bool, int]:
        self.batches += 1
        self.prepared += isinstance(records, store.Prepared) and records.batches is not None
        if self.where == "in transaction" and self.batches == self.at:
            with self.db.transaction() as conn:
                store.apply(conn, self.schema, records, lock_class=PARTITION_LOCK)
                raise Crash
        return super()._apply(records)

    def _commit_group_offsets(self, records: list[Record]) -> None:
        self.commits += 1
        if self.where == "before group offsets" and self.commits == self.at:
            raise Crash
        super()._commit_group_offsets(records)


class Orphaned(Crashing):
    """A projector whose preparer process is killed while its n-th batch is applied."""

    def _apply(self, records: list[Record]) -> tuple[bool, int]:
        if self.batches + 1 == self.at and self.preparer is not None:
            os.kill(self.preparer.process.pid, signal.SIGKILL)
        return super()._apply(records)


def _shipped(prepared: store.Prepared) -> list[Any]:
    """What applying a prepared batch reads: each record's header, their summary and, of each
    projection's batch, what store.shippable leaves of it, with COPY text as bytes and records
    by offset."""
    assert prepared.batches is not None
    out: list[Any] = [[(r.partition, r.offset, r.valid, r.territory, r.position)
                       for r in prepared], prepared.summary]
    for batch in store.shippable(prepared.batches):
        state = {}
        for name, value in sorted(vars(batch).items()):
            if hasattr(value, "data"):
                value = bytes(value.data)
            elif isinstance(value, dict) and any(hasattr(v, "data") for v in value.values()):
                value = {k: bytes(v.data) for k, v in value.items()}
            elif name == "records":
                value = [(r.partition, r.offset, payload) for r, payload in value]
            state[name] = value
        out.append(state)
    return out


def _topic_records(iso: Isolated, expected: int) -> list[Record]:
    deadline = time.monotonic() + 120
    while True:
        found = [Record.parse(p, m.offset, m.value)
                 for p, m in committed_messages(iso.bootstrap, iso.settings.topic)]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(1)


def _new_schema(db: Database) -> str:
    schema = f"proj_pipe_{uuid.uuid4().hex[:8]}"
    with db.transaction() as conn:
        store.create_schema(conn, schema)
    return schema


def _differences(db: Database, a: str, b: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Rows of each table of schema a missing from b's and the other way round."""
    out: dict[str, Any] = {}
    with db.transaction() as conn:
        tables = [r["table_name"] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE' ORDER BY 1", (a,))]
        for table in tables:
            if table in skip:
                continue
            cols = sql.SQL(",").join(sql.Identifier(r["column_name"]) for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = %s AND column_name <> 'parked_at' ORDER BY ordinal_position",
                (a, table)))
            counts = []
            for one, other in ((a, b), (b, a)):
                row = conn.execute(sql.SQL(
                    "SELECT count(*) AS n FROM (SELECT {c} FROM {x}.{t} EXCEPT ALL "
                    "SELECT {c} FROM {y}.{t}) AS d").format(
                        c=cols, t=sql.Identifier(table), x=sql.Identifier(one),
                        y=sql.Identifier(other))).fetchone()
                counts.append(row["n"] if row else -1)
            if any(counts):
                out[table] = counts
    return out


def _count(db: Database, schema: str, table: str) -> int:
    with db.transaction() as conn:
        row = conn.execute(sql.SQL("SELECT count(*) AS n FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table))).fetchone()
    return int(row["n"]) if row else -1


def test_crashes_and_overlaps_lose_and_duplicate_nothing(settings: Settings,
                                                         services: Services) -> None:
    with isolated_stack(settings, services, "projpipe") as iso:
        db = iso.container.db
        Generator(iso.container.app, iso.container.keys, 2500, 300,
                  iso.settings.topic_partitions).run()
        expected = len(iso.stored_events())
        iso.roles.start("relay")
        try:
            records = _topic_records(iso, expected)
        finally:
            iso.roles.stop("relay")
        assert len(records) == expected
        records.sort(key=lambda r: (r.partition, r.offset))

        # The reference: plain record lists (nothing prepared), one transaction per 300.
        reference = _new_schema(db)
        for i in range(0, len(records), 300):
            with db.transaction() as conn:
                store.apply(conn, reference, records[i:i + 300])
        assert _count(db, reference, "audit") == expected

        # The live loop, dying inside a transaction, then between a commit and the group
        # offsets, then running to the end.
        schema = _new_schema(db)
        for at, where in ((3, "in transaction"), (2, "before group offsets")):
            crashing = Crashing(iso, schema, at=at, where=where)
            try:
                with pytest.raises(Crash):
                    crashing.catch_up()
                assert crashing.prepared >= at - 1  # the batches went as prepared
            finally:
                crashing.close()
        interval = sys.getswitchinterval()
        rest = Crashing(iso, schema, at=0, where="nowhere")
        try:
            rest.catch_up()
            assert rest.prepared == rest.batches > 0
        finally:
            rest.close()
        assert sys.getswitchinterval() == interval  # run() leaves the process as it was
        assert _differences(db, reference, schema) == {}

        # Prepared batches that overlap what was applied: each projection skips what its
        # tracking has seen and writes the rest once.
        overlap = _new_schema(db)
        with db.transaction() as conn:
            store.apply(conn, overlap, records[:len(records) // 2])
        for i in range(0, len(records), 700):
            batch = store.prepare(records[max(0, i - 200):i + 700])
            assert batch.batches is not None
            with db.transaction() as conn:
                store.apply(conn, overlap, batch, lock_class=PARTITION_LOCK)
        assert _differences(db, reference, overlap) == {}

        # Tracking lost: a prepared batch meets every one of its rows, and changes nothing.
        with db.transaction() as conn:
            conn.execute(sql.SQL("DELETE FROM {}.tracking").format(sql.Identifier(overlap)))
            assert store.apply(conn, overlap, store.prepare(records[:500])) == (
                500 * len(store.PROJECTIONS))
        assert _differences(db, reference, overlap, skip=("tracking",)) == {}

        # The preparer process hands back what preparing here gives, in the order submitted;
        # a drop() discards what was submitted before it.
        messages = [(r.partition, r.offset, r.raw) for r in records]
        preparer = Preparer()
        try:
            preparer.submit(messages[900:1000])
            preparer.drop()
            parts = [messages[:450], messages[450:900], messages[1300:1700]]
            for part in parts:
                preparer.submit(part)
            for part in parts:
                assert _shipped(preparer.receive()) == _shipped(prepare_here(part))
            assert preparer.locally == 0 and not preparer.waiting
        finally:
            preparer.close()

        # Its process killed mid-run: the batches it held are prepared here, a new one takes
        # the next ones, and the tables come out the same.
        orphaned_schema = _new_schema(db)
        orphaned = Orphaned(iso, orphaned_schema, at=3, where="nowhere")
        try:
            first_child = orphaned.preparer.process if orphaned.preparer else None
            orphaned.catch_up()
            assert orphaned.preparer is not None and orphaned.preparer.locally >= 1
            assert orphaned.preparer.process is not first_child  # a new one was started
            assert orphaned.prepared == orphaned.batches
        finally:
            orphaned.close()
        assert _differences(db, reference, orphaned_schema) == {}
