"""The relay: PostgreSQL event store -> Kafka topic, exactly once among committed records.

Resume point: the highest `position` among the last committed records of the topic's
partitions (one transaction per batch, batches in position order, so that record ends the
last committed batch). Chain state (seq, hash per territory) is cached in `relay_chain`
after each commit and re-derived from the event store whenever the cache and the topic
disagree: records are a pure function of the event store, so a rebuild is bit-for-bit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from kafka import KafkaProducer

from consumers.topic import last_values, partition_for
from ledger.db import Database
from ledger.records import ChainLink, build_record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    links: dict[str, ChainLink]
    position: int

    def save(self, db: Database) -> None:
        with db.transaction() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO relay_chain (territory, seq, hash, position) VALUES (%s,%s,%s,%s)"
                    " ON CONFLICT (territory) DO UPDATE SET seq = EXCLUDED.seq,"
                    " hash = EXCLUDED.hash, position = EXCLUDED.position",
                    [(t, link.seq, link.hash, self.position) for t, link in self.links.items()])
            conn.execute("INSERT INTO relay_checkpoint (id, position) VALUES (1, %s) "
                         "ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position",
                         (self.position,))


class ChainState:
    """seq and hash of the last record per territory, as of `position`."""

    def __init__(self, links: dict[str, ChainLink] | None = None, position: int = 0) -> None:
        self.links = links or {}
        self.position = position
        self.dirty: set[str] = set()

    @classmethod
    def load(cls, db: Database) -> ChainState:
        with db.transaction() as conn:
            row = conn.execute("SELECT position FROM relay_checkpoint WHERE id = 1").fetchone()
            links = {r["territory"]: ChainLink(r["seq"], r["hash"])
                     for r in conn.execute("SELECT territory, seq, hash FROM relay_chain")}
        return cls(links, row["position"] if row else 0)

    def take_changes(self) -> Checkpoint:
        """What changed since the last call: the links to save once their batch committed."""
        changed = Checkpoint({t: self.links[t] for t in self.dirty}, self.position)
        self.dirty.clear()
        return changed

    def save(self, db: Database) -> None:
        self.take_changes().save(db)

    def reset(self, db: Database) -> None:
        with db.transaction() as conn:
            conn.execute("DELETE FROM relay_chain")
            conn.execute("DELETE FROM relay_checkpoint")
        self.links, self.position, self.dirty = {}, 0, set()


class Relay:
    def __init__(self, *, recorder: Any, decode: Callable[[bytes], dict[str, Any]],
                 db: Database, bootstrap: str, topic: str, transactional_id: str,
                 batch_size: int = 2000) -> None:
        self.recorder = recorder
        self.decode = decode
        self.db = db
        self.bootstrap = bootstrap
        self.topic = topic
        self.batch_size = batch_size
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, transactional_id=transactional_id,
            enable_idempotence=True, acks="all", linger_ms=5, batch_size=1 << 20,
            max_request_size=8 << 20)
        self.producer.init_transactions()  # fences any other relay with the same id
        self.partitions = len(self.producer.partitions_for(topic))
        self.chain = self._recover_chain()
        self.published = self.chain.position
        self.sent = 0
        self.stopping = threading.Event()

    def _recover_chain(self) -> ChainState:
        tails = last_values(self.bootstrap, self.topic)
        resume = max((int(v["position"]) for v in tails.values()), default=0)
        chain = ChainState.load(self.db)
        if chain.position > resume:
            log.warning("chain cache at %d is ahead of the topic (%d): re-deriving from the start",
                        chain.position, resume)
            chain.reset(self.db)
        while chain.position < resume:
            batch = self.recorder.select_notifications(chain.position + 1, self.batch_size,
                                                       stop=resume)
            if not batch:
                raise RuntimeError(f"event store has no events up to topic position {resume}")
            self._records(batch, chain)
        chain.save(self.db)
        log.info("relay resumes after position %d", chain.position)
        return chain

    def _records(self, notifications: Sequence[Any], chain: ChainState) -> list[tuple[str, bytes]]:
        out = []
        for n in notifications:
            state = self.decode(n.state)
            territory = str(state["territory"])
            value = build_record(topic=n.topic, state=state, originator_id=n.originator_id,
                                 version=n.originator_version, position=n.id,
                                 prev=chain.links.get(territory))
            chain.links[territory] = ChainLink(value["seq"], value["hash"])
            chain.dirty.add(territory)
            chain.position = n.id
            out.append((territory, orjson.dumps(value)))
        return out

    def publish_once(self) -> int:
        """Publish the next batch in one Kafka transaction; return how many records it held."""
        batch = self.recorder.select_notifications(self.chain.position + 1, self.batch_size)
        if not batch:
            return 0
        before = (dict(self.chain.links), self.chain.position, set(self.chain.dirty))
        records = self._records(batch, self.chain)
        try:
            self._send(records)
            self.producer.commit_transaction()
        except BaseException:
            self.chain.links, self.chain.position, self.chain.dirty = before
            raise
        self.chain.save(self.db)
        self.published = self.chain.position
        return len(records)

    def _send(self, records: list[tuple[str, bytes]]) -> None:
        self.sent += len(records)
        self.producer.begin_transaction()
        for key, value in records:
            # The default partitioner's choice, computed once per territory.
            self.producer.send(self.topic, key=key.encode(), value=value,
                               partition=_partition(key, self.partitions))

    def run(self, idle_wait: float = 0.05, until: Callable[[], bool] | None = None) -> None:
        """Build the next batch while the previous one commits. A failed commit raises and
        ends the process: the restart resumes from what the topic holds."""
        in_flight: tuple[Future[None], Checkpoint] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as pool:
            while not self.stopping.is_set():
                batch = self.recorder.select_notifications(self.chain.position + 1,
                                                           self.batch_size)
                records = self._records(batch, self.chain) if batch else []
                if in_flight is not None:
                    self._settle(*in_flight)
                    in_flight = None
                if not records:
                    if until is not None and until():
                        break
                    self.stopping.wait(idle_wait)
                    continue
                self._send(records)
                in_flight = (pool.submit(self.producer.commit_transaction),
                             self.chain.take_changes())
            if in_flight is not None:
                self._settle(*in_flight)

    def _settle(self, commit: Future[None], changes: Checkpoint) -> None:
        commit.result()
        changes.save(self.db)
        self.published = changes.position

    def close(self) -> None:
        self.stopping.set()
        self.producer.close(timeout=5)


@lru_cache(maxsize=4096)
def _partition(territory: str, partitions: int) -> int:
    return partition_for(territory, partitions)
