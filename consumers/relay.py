"""The relay: PostgreSQL event store -> Kafka topic, exactly once among committed records.

Resume point: the highest `position` among the last committed records of the topic's
partitions (one transaction per batch, batches in position order, so that record ends the
last committed batch). Chain state (seq, hash per territory) is cached in `relay_chain`
after each commit and re-derived from the event store whenever the cache and the topic
disagree: records are a pure function of the event store, so a rebuild is bit-for-bit.

Each record is also a leaf of its territory's Merkle tree (ledger/tiles.py). The tiles a
batch changed are written in the same transaction as `relay_chain` and `relay_checkpoint`,
so the stored tree is always exactly the chain's; re-deriving the chain re-derives the tree,
and a rebuilt topic yields the same roots. In that transaction, too, the signer signs the
checkpoints that are due (ledger/checkpoints.py); they are then committed on the checkpoint
topic and marked published (what a crash left unpublished goes out at the next start).
Every record carries the Kafka header `content-type: application/cloudevents+json`.

`run` has the records built in a process of its own (consumers/relay_builder.py), a batch or
two ahead of the one this process sends in its transaction, from the chain state that batch
will leave when it commits; a failed batch drops what was built ahead, and the next session
starts from the last committed state. The records go to the producer's accumulator without
send()'s per-record checks (`Appender`).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from kafka import KafkaProducer, TopicPartition
from kafka.producer.future import FutureRecordMetadata

from consumers.relay_builder import (
    BuilderProcess,
    BuilderSpec,
    Built,
    Chain,
    Progress,
    Record,
    _is_default_json,
    _json_state,  # noqa: F401 - tests/unit/test_relay_decoding.py reads it from here
    build_records,
)
from consumers.topic import last_values, partition_for
from infra.kafka import ensure_topic
from ledger import checkpoints
from ledger.checkpoints import CheckpointSigner, Signed
from ledger.db import Database
from ledger.records import CONTENT_TYPE, ChainLink
from ledger.tiles import WIDTH, load_partial_tiles

log = logging.getLogger(__name__)
HEADERS = [("content-type", CONTENT_TYPE.encode())]


class ChainState(Chain):
    """The relay's chain (see Chain), kept in PostgreSQL."""

    def __init__(self, db: Database, links: dict[str, ChainLink] | None = None,
                 position: int = 0) -> None:
        super().__init__(links or {}, position, self._load_tiles)
        self.db = db

    def _load_tiles(self, territory: str, size: int) -> dict[int, list[bytes]]:
        with self.db.transaction() as conn:
            return load_partial_tiles(conn, territory, size)

    @classmethod
    def load(cls, db: Database) -> ChainState:
        with db.transaction() as conn:
            row = conn.execute("SELECT position FROM relay_checkpoint WHERE id = 1").fetchone()
            links = {r["territory"]: ChainLink(r["seq"], r["hash"])
                     for r in conn.execute("SELECT territory, seq, hash FROM relay_chain")}
        return cls(db, links, row["position"] if row else 0)

    def trees_stored(self) -> bool:
        """Every chained territory has its tree's tiles (not so before trees existed)."""
        with self.db.transaction() as conn:
            counts = {r["territory"]: r["n"] for r in conn.execute(
                "SELECT territory, count(*) AS n FROM log_tiles WHERE level = 0 GROUP BY territory")}
        return all(counts.get(t, 0) == -(-link.seq // WIDTH) for t, link in self.links.items())

    def save(self, signer: CheckpointSigner | None = None) -> list[Signed]:
        return self.take_changes().save(self.db, signer)

    def reset(self) -> None:
        """Forget the chain and the trees (checkpoints and keys stay: a re-derived tree is the
        same tree, and the signer checks it against the last checkpoint before signing)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM relay_chain")
            conn.execute("DELETE FROM relay_checkpoint")
            conn.execute("DELETE FROM log_tiles")
        self.links, self.position, self.dirty = {}, 0, set()
        self.tree.forget()


class Relay:
    """`signer` and `checkpoint_topic` together turn on signed checkpoints (`ledger relay`
    always does); without them the tree is still kept, and nothing is signed.

    `pipeline` (the default): `run` builds the records in a process of its own
    (consumers/relay_builder.py), ahead of the batch being sent, when the recorder is
    eventsourcing's PostgreSQL one and `decode` a JSONTranscoder's; otherwise, and in
    `publish_once`, they are built here."""

    def __init__(self, *, recorder: Any, decode: Callable[[bytes], dict[str, Any]],
                 db: Database, bootstrap: str, topic: str, transactional_id: str,
                 batch_size: int = 2000, signer: CheckpointSigner | None = None,
                 checkpoint_topic: str | None = None, pipeline: bool = True) -> None:
        self.recorder = recorder
        self.decode = decode
        self.fast_decoding = _is_default_json(decode)
        self.db = db
        self.bootstrap = bootstrap
        self.topic = topic
        self.batch_size = batch_size
        self.signer = signer if checkpoint_topic else None
        self.checkpoint_topic = checkpoint_topic
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, transactional_id=transactional_id,
            enable_idempotence=True, acks="all", linger_ms=5, batch_size=1 << 20,
            max_request_size=8 << 20,
            # A batch stuck on a lost broker fails within 30 s (not the default 2 minutes):
            # the relay then exits and its restart resumes from the topic (see _commit).
            request_timeout_ms=10_000, delivery_timeout_ms=30_000)
        self.producer.init_transactions()  # fences any other relay with the same id
        self.partitions = len(self.producer.partitions_for(topic))
        self.appender = Appender.of(self.producer, topic, self.partitions)
        spec = BuilderSpec.of(recorder, decode, batch_size) if pipeline else None
        # Started first: the child imports while this process recovers the chain.
        self.builder = BuilderProcess(spec) if spec is not None else None
        # The builder's time by step, summed over the batches it built (bench/profiling.py).
        self.builder_seconds: dict[str, float] = defaultdict(float)
        self._failed = False  # a pipelined run raised: the next one recovers the chain first
        try:
            self.chain = self._recover_chain()
            self.published = self.chain.position
            self.sent = 0
            self.stopping = threading.Event()
            if self.signer is not None and checkpoint_topic:
                ensure_topic(bootstrap, checkpoint_topic, 1)
                with self.db.transaction() as conn:
                    self.signer.grown(checkpoints.unsigned_sizes(conn))
                    left = checkpoints.unpublished(conn)
                self._publish(left)
        except BaseException:
            if self.builder is not None:
                self.builder.close()
            raise

    def _recover_chain(self) -> ChainState:
        tails = last_values(self.bootstrap, self.topic)
        resume = max((int(v["position"]) for v in tails.values()), default=0)
        chain = ChainState.load(self.db)
        if chain.position > resume:
            log.warning("chain cache at %d is ahead of the topic (%d): re-deriving from the start",
                        chain.position, resume)
            chain.reset()
        elif not chain.trees_stored():
            log.warning("the stored Merkle trees lag the chain: re-deriving from the start")
            chain.reset()
        while chain.position < resume:
            batch = self.recorder.select_notifications(chain.position + 1, self.batch_size,
                                                       stop=resume)
            if not batch:
                raise RuntimeError(f"event store has no events up to topic position {resume}")
            self._records(batch, chain)
            if chain.position < resume:
                chain.save()  # in steps: a long re-derivation keeps memory flat
        chain.save()
        log.info("relay resumes after position %d", chain.position)
        return chain

    def _records(self, notifications: Sequence[Any], chain: ChainState) -> list[Record]:
        return build_records(((n.id, n.originator_id, n.originator_version, n.topic, n.state)
                              for n in notifications), chain, self.decode, self.fast_decoding)

    def publish_once(self) -> int:
        """Publish the next batch in one Kafka transaction; return how many records it held."""
        batch = self.recorder.select_notifications(self.chain.position + 1, self.batch_size)
        if not batch:
            return 0
        before = (dict(self.chain.links), self.chain.position, set(self.chain.dirty))
        records = self._records(batch, self.chain)
        try:
            self._commit(self._send(records))
        except BaseException:
            self.chain.links, self.chain.position, self.chain.dirty = before
            self.chain.tree.forget()  # reloaded from the stored tiles, which lack this batch
            raise
        self._publish(self.chain.save(self.signer))
        self.published = self.chain.position
        return len(records)

    def sign_pending(self) -> int:
        """Sign the checkpoints that came due while no batch committed; return how many."""
        if self.signer is None or not self.signer.due():
            return 0
        with self.db.transaction() as conn:
            signed = self.signer.sign_due(conn)
        self._publish(signed)
        return len(signed)

    def _publish(self, signed: list[Signed]) -> None:
        """Commit checkpoints on the checkpoint topic (between batches), then mark them."""
        if not signed or self.checkpoint_topic is None:
            return
        self.producer.begin_transaction()
        self._commit([self.producer.send(
            self.checkpoint_topic, key=note.territory.encode(), value=note.note.encode(),
            headers=[("content-type", b"text/plain")]) for note in signed])
        with self.db.transaction() as conn:
            checkpoints.mark_published(conn, signed)

    def _send(self, records: list[Record]) -> list[FutureRecordMetadata]:
        self.sent += len(records)
        self.producer.begin_transaction()
        if self.appender is not None:
            return self.appender.send(records)
        # The default partitioner's choice, computed once per territory.
        return [self.producer.send(self.topic, key=key.encode(), value=value, headers=HEADERS,
                                   partition=_partition(key, self.partitions))
                for key, value in records]

    def _commit(self, sent: list[FutureRecordMetadata]) -> None:
        """Commit the transaction only if every record of it was written.

        kafka-python fails a batch whose connection broke (a killed broker: delivery timeout,
        epoch bump) without failing the transaction, and would then commit the rest: a gap in
        positions that the resume point (the topic's tail) would never fill. So any failed
        record raises instead; the process exits, the next relay's init_transactions aborts
        the open transaction and resumes from what the topic holds.
        """
        self.producer.flush()
        failed = [f for f in sent if f.failed()]
        if failed:
            log.error("%d of %d records were not written (%s): not committing",
                      len(failed), len(sent), failed[0].exception)
            error = failed[0].exception
            raise error if isinstance(error, BaseException) else RuntimeError(str(error))
        self.producer.commit_transaction()

    def run(self, idle_wait: float = 0.05, until: Callable[[], bool] | None = None) -> None:
        """Publish batches until stopped (or `until()` when nothing is left). A failed commit
        raises, and ends the process: the restart resumes from what the topic holds."""
        if self.builder is not None:
            if self._failed:  # a batch may have committed without its bookkeeping: as at a start
                self.chain = self._recover_chain()
                self._failed = False
            self._run_pipelined(self.builder, idle_wait, until)
        else:
            self._run_here(idle_wait, until)

    def _run_here(self, idle_wait: float, until: Callable[[], bool] | None) -> None:
        """Build the next batch here while the previous one commits and its bookkeeping is
        saved. (Reading the next batch on a thread of its own was tried: its Python work only
        took the GIL from the main thread, which is the bottleneck.)"""
        in_flight: Future[tuple[list[Signed], Progress]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as pool:
            while not self.stopping.is_set():
                batch = self.recorder.select_notifications(self.chain.position + 1,
                                                           self.batch_size)
                records = self._records(batch, self.chain) if batch else []
                if in_flight is not None:
                    self._settle(in_flight)
                    in_flight = None
                if not records:
                    self.sign_pending()
                    if until is not None and until():
                        break
                    self.stopping.wait(idle_wait)
                    continue
                in_flight = pool.submit(self._commit_and_save, self._send(records),
                                        self.chain.take_changes())
            if in_flight is not None:
                self._settle(in_flight)

    def _run_pipelined(self, builder: BuilderProcess, idle_wait: float,
                       until: Callable[[], bool] | None, ahead: int = 2) -> None:
        """The builder process reads and builds up to `ahead` batches after the one being sent;
        this process only sends, commits and saves. self.chain follows the committed batches
        (its tree is the builder's meanwhile). Any failure drops the builder's session, and
        with it every batch built after the last one committed."""
        self.chain.tree.forget()
        self.chain.dirty.clear()
        builder.start(self.chain.links, self.chain.position)
        for _ in range(ahead):
            builder.request()
        in_flight: Future[tuple[list[Signed], Progress]] | None = None
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as pool:
                while not self.stopping.is_set():
                    built = self._receive(builder)
                    builder.request()
                    if in_flight is not None:
                        self._advance(self._settle(in_flight))
                        in_flight = None
                    if built is None:
                        self.sign_pending()
                        if until is not None and until():
                            break
                        self.stopping.wait(idle_wait)
                        continue
                    in_flight = pool.submit(
                        self._commit_and_save, self._send(built.records), built.changes)
                if in_flight is not None:
                    self._advance(self._settle(in_flight))
        except BaseException:
            self._failed = True
            raise
        finally:
            builder.session += 1  # what it still builds, or has built, is never used
            self.chain.tree.forget()  # the stored tiles are the committed tree

    def _receive(self, builder: BuilderProcess) -> Built | None:
        built = builder.receive()
        if built is not None:
            for step, seconds in built.seconds.items():
                self.builder_seconds[step] += seconds
        return built

    def _advance(self, changes: Progress) -> None:
        """self.chain after a pipelined batch committed and was saved."""
        self.chain.links.update(changes.links)
        self.chain.position = changes.position

    def _commit_and_save(self, sent: list[FutureRecordMetadata],
                         changes: Progress) -> tuple[list[Signed], Progress]:
        """In the commit thread: the Kafka transaction, then (only once it committed) the
        batch's chain, tiles, position and due checkpoints in one database transaction."""
        self._commit(sent)
        return changes.save(self.db, self.signer), changes

    def _settle(self, in_flight: Future[tuple[list[Signed], Progress]]) -> Progress:
        """Between batches, in the main thread: the checkpoints go out on their topic."""
        signed, changes = in_flight.result()
        self._publish(signed)
        self.published = changes.position
        return changes

    def close(self) -> None:
        self.stopping.set()
        if self.builder is not None:
            self.builder.close()
        self.producer.close(timeout=5)


class Appender:
    """What producer.send does for a record, less what the relay's records make needless.

    send() checks each record's headers and types, looks the topic's metadata up twice,
    estimates the record's size, and adds its partition to the transaction under a lock: for
    records that are all bytes, with the same header, to partitions of one known topic, that
    is two fifths of its time (the relay's main thread does little else). Here the batch's
    partitions are added to the transaction once, before its first record (as send() does
    for the first record to each), and each record goes straight to the accumulator, which
    encodes it exactly as send() has it do (the same record, key, value, header, partition
    and timestamp). Private attributes of kafka-python (pinned in pyproject.toml); `of`
    returns None, and the relay uses send(), if they are not there. A record too big for a
    request goes through send(), which refuses it."""

    def __init__(self, producer: KafkaProducer, topic: str, partitions: int) -> None:
        self.producer = producer
        self.topic = topic
        self.partitions = partitions
        self.accumulator = producer._accumulator  # noqa: SLF001
        self.transactions = producer._transaction_manager  # noqa: SLF001
        self.sender = producer._sender  # noqa: SLF001
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]
        self.largest = int(producer.config["max_request_size"]) - 4096

    @classmethod
    def of(cls, producer: KafkaProducer, topic: str, partitions: int) -> Appender | None:
        try:
            appender = cls(producer, topic, partitions)
        except (AttributeError, KeyError):
            return None
        if not all((callable(getattr(appender.accumulator, "append", None)),
                    callable(getattr(appender.transactions,
                                     "maybe_add_partition_to_transaction", None)),
                    callable(getattr(appender.sender, "wakeup", None)))):
            return None
        return appender

    def send(self, records: list[Record]) -> list[FutureRecordMetadata]:
        partitions = self.partitions
        wanted = [_partition(key, partitions) for key, _ in records]
        for partition in sorted(set(wanted)):
            self.transactions.maybe_add_partition_to_transaction(self.tps[partition])
        append, tps, largest = self.accumulator.append, self.tps, self.largest
        out = []
        for (key, value), partition in zip(records, wanted, strict=True):
            if len(value) > largest:
                out.append(self.producer.send(self.topic, key=key.encode(), value=value,
                                              headers=HEADERS, partition=partition))
                continue
            future, full, created, _ = append(tps[partition], None, key.encode(), value, HEADERS)
            if full or created:
                self.sender.wakeup()
            out.append(future)
        return out


@lru_cache(maxsize=4096)
def _partition(territory: str, partitions: int) -> int:
    return partition_for(territory, partitions)
