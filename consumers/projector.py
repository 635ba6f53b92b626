"""The projection consumer: committed topic records -> projection tables in PostgreSQL.

Offsets come from the projections' own tracking (the source of truth); the Kafka group
offset is committed only after the database transaction, for monitoring and lag.

A live projector (a group id, following the active generation) is one member of the
consumer group: Kafka shares the partitions among the instances, and every partition newly
assigned is sought to its tracking. Before a partition is taken away, the batch in flight
finishes, and a batch is only applied to partitions still held, so the next owner starts
where this one stopped. A pinned projector (replay, bench) or one without a group reads
every partition by itself.

Batches polled ahead (records polled are decoded by consumers.projector_fetch) are parsed
and their rows prepared as COPY text in a child process (consumers.projector_prepare), which
touches no database: this process polls, ships the prepared bytes and commits each batch
with its tracking, as before.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

import psycopg
from kafka import OffsetAndMetadata, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError

from consumers import projector_fetch
from consumers.projector_prepare import Message, Preparer, prepare_here
from consumers.topic import committed_consumer, partitions_of
from ledger.db import Database
from ledger.projections import store
from ledger.projections.records import Record

log = logging.getLogger(__name__)

# Errors that one record's content causes; connection trouble is not among them (the
# process exits and its supervisor restarts it, resuming from tracking).
UNAPPLICABLE = (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError,
                KeyError, ValueError, TypeError)

# Advisory lock class of "applying partition p of schema s" (two-int keys, apart from the
# single-key locks 72xx of the rest of the ledger).
PARTITION_LOCK = 7220

# Seconds a thread waits for the GIL before the holder is made to release it, while run()
# overlaps polling with writing (Python's default is 0.005).
SWITCH_INTERVAL = 0.0002

# Batches run() keeps polled and handed to the preparer process beyond the one being written.
AHEAD = 2


class Projector:
    def __init__(self, *, db: Database, bootstrap: str, topic: str, group_id: str | None,
                 schema: str | None = None, batch_size: int = 2000,
                 session_timeout_ms: int = 10_000, heartbeat_interval_ms: int = 3_000,
                 prepare_apart: bool = True) -> None:
        """schema=None follows the active generation; a name pins one (used by replay).
        The timeouts say how soon the group notices an instance that died. prepare_apart:
        run() prepares batches in a child process (`Preparer`), else in this process."""
        self.db = db
        self.topic = topic
        self.pinned = schema
        self.batch_size = batch_size
        self.group_id = group_id
        self.shared = group_id is not None and schema is None
        membership = ({"session_timeout_ms": session_timeout_ms,
                       "heartbeat_interval_ms": heartbeat_interval_ms} if self.shared else {})
        self.consumer = committed_consumer(bootstrap, group_id=group_id,
                                           max_poll_records=batch_size,
                                           fetch_max_bytes=64 << 20,
                                           max_partition_fetch_bytes=16 << 20, **membership)
        projector_fetch.install(self.consumer)
        self.partitions = partitions_of(self.consumer, topic)
        self.stopping = threading.Event()
        # Started here, so that it is ready (its imports done) when run() begins.
        self.preparer = Preparer(prepare_apart)
        self.schema = ""
        self.applied_total = 0
        self.owned: frozenset[int] = frozenset()
        self._in_flight: Future[tuple[bool, int]] | None = None
        if self.shared:
            with self.db.transaction() as conn:
                self.schema = self._current_schema(conn)
            self.consumer.subscribe([topic], listener=_Rebalance(self))
        else:
            self.consumer.assign(self.partitions)
            self.owned = frozenset(tp.partition for tp in self.partitions)
            self._seek()

    def _current_schema(self, conn: Any, lock: bool = False) -> str:
        return self.pinned or store.active_schema(conn, lock=lock)

    def _seek(self) -> None:
        """Follow the active generation: every partition held, to that schema's tracking."""
        with self.db.transaction() as conn:
            self.schema = self._current_schema(conn)
        self._seek_to_tracking([tp for tp in self.partitions if tp.partition in self.owned])

    def _seek_to_tracking(self, partitions: Collection[TopicPartition]) -> None:
        with self.db.transaction() as conn:
            offsets = store.start_offsets(conn, self.schema, [tp.partition for tp in partitions])
        for tp in partitions:
            self.consumer.seek(tp, offsets[tp.partition])

    def _assigned(self, assigned: Collection[TopicPartition]) -> None:
        """A rebalance gave us these partitions: resume each from PostgreSQL tracking (a
        generation switch meanwhile is noticed, and re-sought, by the next apply)."""
        mine = [tp for tp in assigned if tp.topic == self.topic]
        self._seek_to_tracking(mine)
        self.owned = self.owned | {tp.partition for tp in mine}
        log.info("partitions assigned: %s", sorted(tp.partition for tp in mine))

    def _revoked(self, revoked: Collection[TopicPartition]) -> None:
        """Before the group hands these partitions to another instance: let the batch in
        flight finish (its tracking commits with it), and apply nothing of them afterwards."""
        self.owned = self.owned - {tp.partition for tp in revoked}
        in_flight = self._in_flight
        if in_flight is not None:
            wait([in_flight])
        if revoked:
            log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    def _poll_messages(self, timeout_ms: int) -> list[Message]:
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.batch_size)
        return [(tp.partition, m.offset, m.value)
                for tp, messages in polled.items() for m in messages]

    def _poll(self, timeout_ms: int) -> list[Record]:
        # Rows derived and formatted here, before the batch is applied (run() has this done in
        # the preparer process, while the batch before is being written).
        return prepare_here(self._poll_messages(timeout_ms))

    def poll_once(self, timeout_ms: int = 200) -> int:
        """Poll one batch and apply it; every polled record is applied when this returns."""
        records = self._poll(timeout_ms)
        if not records:
            return 0
        return self._finish(records, *self._apply_batch(records))

    def run(self, until: Callable[[], bool] | None = None) -> int:
        """Poll and prepare the next batches while the previous one is written to PostgreSQL,
        until stopped or until() holds with nothing in flight. The batches are parsed and
        prepared in the preparer process (`consumers.projector_prepare`), else in this
        thread as they are taken (prepare_apart=False).

        The applying thread releases the GIL at every wait on the database socket, dozens of
        times a batch, and must then win it back from the polling thread: at Python's default
        switch interval (5 ms) that alone could more than double the time a batch takes to
        write when the polling thread prepares. So while this runs, a thread waiting for the
        GIL gets it within SWITCH_INTERVAL."""
        with _prompt_gil_handoff():
            return self._run(until)

    def _run(self, until: Callable[[], bool] | None) -> int:
        """Up to AHEAD polled batches are being prepared (in the preparer process) while the
        apply thread writes the one before: this process polls, ships bytes and commits.
        Everything polled is applied before this returns (or dropped, when a re-seek from
        tracking makes it stale)."""
        try:
            return self._pipelined(self.preparer, until)
        finally:
            self.preparer.drop()  # (left waiting only by an error)
            self._in_flight = None

    def _pipelined(self, preparer: Preparer, until: Callable[[], bool] | None) -> int:
        done = 0
        pending: tuple[list[Record], Future[tuple[bool, int]]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="apply") as pool:
            while not self.stopping.is_set():
                if pending is None and not preparer.waiting and until is not None and until():
                    break
                while len(preparer.waiting) < AHEAD:
                    messages = self._poll_messages(
                        0 if preparer.waiting else 50 if pending is not None else 200)
                    if not messages:
                        break
                    preparer.submit(messages)
                ready = preparer.receive() if preparer.waiting else None
                written: tuple[list[Record], int] | None = None
                if pending is not None:
                    in_flight, future = pending
                    pending = None
                    stale, applied = future.result()
                    if stale:  # re-sought from tracking: what was polled ahead is stale
                        preparer.drop()
                        self._finish(in_flight, stale, applied)
                        continue
                    written = (in_flight, applied)
                if ready is not None:
                    self._in_flight = pool.submit(self._apply_batch, ready)
                    pending = (ready, self._in_flight)
                if written is not None:  # its group offsets go while the next one is written
                    done += self._finish(written[0], False, written[1])
            if pending is not None:
                stale, applied = pending[1].result()
                done += self._finish(pending[0], stale, applied)
                if stale:
                    preparer.drop()
            while preparer.waiting:  # stopped with batches polled ahead: applied, in order
                ready = preparer.receive()
                stale, applied = self._apply_batch(ready)
                done += self._finish(ready, stale, applied)
                if stale:
                    preparer.drop()
        return done

    def catch_up(self) -> int:
        """Apply everything committed on the topic now (of the partitions held); return how
        many records."""
        ends = self.end_offsets()
        return self.run(until=lambda: all(self.positions().get(p, end) >= end
                                          for p, end in ends.items()))

    def _apply_batch(self, records: list[Record]) -> tuple[bool, int]:
        """(re-seek needed, records applied). Records of partitions a rebalance took away
        since they were polled are dropped, and the consumer then re-seeks from tracking."""
        held = self.owned
        mine = records  # as prepared, in the usual case
        if any(r.partition not in held for r in records):
            mine = [r for r in records if r.partition in held]
        dropped = len(mine) < len(records)
        if dropped:
            log.info("dropping %d records of partitions no longer held",
                     len(records) - len(mine))
        if not mine:
            return dropped, 0
        try:
            stale, applied = self._apply(mine)
        except UNAPPLICABLE as err:
            log.warning("batch failed (%s); applying record by record", err)
            stale, applied = self._apply_one_by_one(mine)
        return stale or dropped, applied

    def _finish(self, records: list[Record], stale: bool, applied: int) -> int:
        if stale:
            log.info("generation switched or partitions moved; re-seeking from tracking")
            self._seek()
            return 0
        self.applied_total += applied
        self._commit_group_offsets(records)
        return len(records)

    def _apply(self, records: list[Record]) -> tuple[bool, int]:
        """One transaction. One applier per partition at a time: should two instances ever
        both believe they hold a partition (a rebalance while one was cut off), the second
        waits on the partition's advisory lock for the first to commit and then reads its
        tracking, so store.apply skips what the first already applied."""
        with self.db.transaction() as conn:
            schema = self._current_schema(conn, lock=True)
            if schema != self.schema:
                return True, 0
            return False, store.apply(conn, schema, records, lock_class=PARTITION_LOCK)

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
            if r.partition in self.owned:
                last[r.partition] = max(last.get(r.partition, 0), r.offset + 1)
        if not last:
            return
        # Sent without waiting for the answer (it arrives during a later poll): the polling
        # thread goes on preparing. Tracking in PostgreSQL stays the source of truth; these
        # offsets are for monitoring (lag), at most a batch behind should the process end.
        try:
            self.consumer.commit_async(
                {TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1)
                 for p, o in last.items()}, callback=_commit_failed)
        except KafkaError as err:
            log.warning("committing group offsets failed: %s", err)

    def end_offsets(self) -> dict[int, int]:
        ends = self.consumer.end_offsets(self.partitions)
        return {tp.partition: off for tp, off in ends.items()}

    def positions(self) -> dict[int, int]:
        """The next offset to read of every partition held."""
        return {tp.partition: self.consumer.position(tp) for tp in self.partitions
                if tp.partition in self.owned}

    def close(self) -> None:
        """Leave the group (the others take our partitions at once), waiting at most 5 s for
        a coordinator that may be gone."""
        self.stopping.set()
        self.preparer.close()
        self.consumer.close(timeout_ms=5000)


def _commit_failed(offsets: Any, response: Any) -> None:
    if isinstance(response, Exception):
        log.warning("committing group offsets failed: %s", response)


_handoff_lock = threading.Lock()
_handoff_users = 0
_handoff_saved = 0.0


@contextmanager
def _prompt_gil_handoff() -> Iterator[None]:
    """SWITCH_INTERVAL while at least one run() is going on in the process; the interval
    there was before when the last one ends."""
    global _handoff_users, _handoff_saved  # noqa: PLW0603 - one setting per process
    with _handoff_lock:
        if _handoff_users == 0:
            _handoff_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_handoff_saved, SWITCH_INTERVAL))
        _handoff_users += 1
    try:
        yield
    finally:
        with _handoff_lock:
            _handoff_users -= 1
            if _handoff_users == 0:
                sys.setswitchinterval(_handoff_saved)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Called on kafka-python's IO thread while run() waits in poll()."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        self.projector._revoked(revoked)

    def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self.projector._assigned(assigned)
