"""The projection consumer: committed topic records -> projection tables in PostgreSQL.

Offsets come from the projections' own tracking (the source of truth); the Kafka group
offset is committed only after the database transaction, for monitoring and lag.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from consumers.topic import committed_consumer, partitions_of
from ledger.db import Database
from ledger.projections import store
from ledger.projections.records import Record

log = logging.getLogger(__name__)

# Errors that one record's content causes; connection trouble is not among them (the
# process exits and its supervisor restarts it, resuming from tracking).
UNAPPLICABLE = (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError,
                KeyError, ValueError, TypeError)


class Projector:
    def __init__(self, *, db: Database, bootstrap: str, topic: str, group_id: str | None,
                 schema: str | None = None, batch_size: int = 2000) -> None:
        """schema=None follows the active generation; a name pins one (used by replay)."""
        self.db = db
        self.topic = topic
        self.pinned = schema
        self.batch_size = batch_size
        self.group_id = group_id
        self.consumer = committed_consumer(bootstrap, group_id=group_id,
                                           max_poll_records=batch_size,
                                           fetch_max_bytes=64 << 20,
                                           max_partition_fetch_bytes=16 << 20)
        self.partitions = partitions_of(self.consumer, topic)
        self.consumer.assign(self.partitions)
        self.stopping = threading.Event()
        self.schema = ""
        self.applied_total = 0
        self._seek()

    def _current_schema(self, conn: Any, lock: bool = False) -> str:
        return self.pinned or store.active_schema(conn, lock=lock)

    def _seek(self) -> None:
        with self.db.transaction() as conn:
            self.schema = self._current_schema(conn)
            offsets = store.start_offsets(conn, self.schema,
                                          [tp.partition for tp in self.partitions])
        for tp in self.partitions:
            self.consumer.seek(tp, offsets[tp.partition])

    def _poll(self, timeout_ms: int) -> list[Record]:
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.batch_size)
        return [Record.parse(tp.partition, m.offset, m.value)
                for tp, messages in polled.items() for m in messages]

    def poll_once(self, timeout_ms: int = 200) -> int:
        """Poll one batch and apply it; every polled record is applied when this returns."""
        records = self._poll(timeout_ms)
        if not records:
            return 0
        return self._finish(records, *self._apply_batch(records))

    def run(self, until: Callable[[], bool] | None = None) -> int:
        """Poll the next batch while the previous one is written to PostgreSQL (the database
        I/O releases the GIL), until stopped or until() holds with nothing in flight."""
        done = 0
        pending: tuple[list[Record], Future[tuple[bool, int]]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="apply") as pool:
            while not self.stopping.is_set():
                if pending is None and until is not None and until():
                    break
                records = self._poll(200)
                if pending is not None:
                    in_flight, future = pending
                    pending = None
                    finished = self._finish(in_flight, *future.result())
                    if finished == 0:  # switched generation and re-sought: polled is stale
                        continue
                    done += finished
                if records:
                    pending = (records, pool.submit(self._apply_batch, records))
            if pending is not None:
                done += self._finish(pending[0], *pending[1].result())
        return done

    def catch_up(self) -> int:
        """Apply everything committed on the topic now; return how many records."""
        ends = self.end_offsets()
        return self.run(until=lambda: all(self.positions()[p] >= end
                                          for p, end in ends.items()))

    def _apply_batch(self, records: list[Record]) -> tuple[bool, int]:
        try:
            return self._apply(records)
        except UNAPPLICABLE as err:
            log.warning("batch failed (%s); applying record by record", err)
            return self._apply_one_by_one(records)

    def _finish(self, records: list[Record], switched: bool, applied: int) -> int:
        if switched:
            log.info("projections switched to another generation; re-seeking")
            self._seek()
            return 0
        self.applied_total += applied
        self._commit_group_offsets(records)
        return len(records)

    def _apply(self, records: list[Record]) -> tuple[bool, int]:
        with self.db.transaction() as conn:
            schema = self._current_schema(conn, lock=True)
            if schema != self.schema:
                return True, 0
            return False, store.apply(conn, schema, records)

    def _apply_one_by_one(self, records: list[Record]) -> tuple[bool, int]:
        """Find the record that cannot be applied and park it, so the partition moves on."""
        applied = 0
        for record in records:
            try:
                switched, count = self._apply([record])
            except UNAPPLICABLE as err:
                log.error("parking record %d/%d: %s", record.partition, record.offset, err)
                with self.db.transaction() as conn:
                    store.park(conn, self.schema, record, f"{type(err).__name__}: {err}")
                continue
            if switched:
                return True, applied
            applied += count
        return False, applied

    def _commit_group_offsets(self, records: list[Record]) -> None:
        if not self.group_id:
            return
        last: dict[int, int] = {}
        for r in records:
            last[r.partition] = max(last.get(r.partition, 0), r.offset + 1)
        try:
            self.consumer.commit({TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1)
                                  for p, o in last.items()})
        except KafkaError as err:  # tracking in PostgreSQL stays the source of truth
            log.warning("committing group offsets failed: %s", err)

    def end_offsets(self) -> dict[int, int]:
        ends = self.consumer.end_offsets(self.partitions)
        return {tp.partition: off for tp, off in ends.items()}

    def positions(self) -> dict[int, int]:
        return {tp.partition: self.consumer.position(tp) for tp in self.partitions}

    def close(self) -> None:
        self.stopping.set()
        self.consumer.close()
