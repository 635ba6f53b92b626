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
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex
from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from consumers.topic import last_values, partition_for
from infra.kafka import ensure_topic
from ledger import checkpoints
from ledger.checkpoints import CheckpointSigner, Signed
from ledger.db import Database
from ledger.merkle import leaf_hash
from ledger.records import CONTENT_TYPE, ISOFORMAT, ChainLink, encode_record
from ledger.tiles import WIDTH, TreeAppender, load_partial_tiles, write_tiles

log = logging.getLogger(__name__)
HEADERS = [("content-type", CONTENT_TYPE.encode())]


@dataclass(frozen=True)
class Progress:
    """What one committed batch changed: chain links, tree tiles, the resume position."""

    links: dict[str, ChainLink]
    position: int
    tiles: list[tuple[str, int, int, bytes]]

    def save(self, db: Database, signer: CheckpointSigner | None = None) -> list[Signed]:
        """One transaction: the tiles, the links, the position, and the checkpoints due."""
        with db.transaction() as conn:
            write_tiles(conn, self.tiles)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO relay_chain (territory, seq, hash, position) VALUES (%s,%s,%s,%s)"
                    " ON CONFLICT (territory) DO UPDATE SET seq = EXCLUDED.seq,"
                    " hash = EXCLUDED.hash, position = EXCLUDED.position",
                    [(t, link.seq, link.hash, self.position) for t, link in self.links.items()])
            conn.execute("INSERT INTO relay_checkpoint (id, position) VALUES (1, %s) "
                         "ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position",
                         (self.position,))
            if signer is None:
                return []
            signer.grown({t: link.seq for t, link in self.links.items()})
            return signer.sign_due(conn)


class ChainState:
    """seq and hash of the last record per territory, and the territories' trees, as of
    `position`."""

    def __init__(self, db: Database, links: dict[str, ChainLink] | None = None,
                 position: int = 0) -> None:
        self.db = db
        self.links = links or {}
        self.position = position
        self.dirty: set[str] = set()
        self.tree = TreeAppender(self._load_tiles)

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

    def take_changes(self) -> Progress:
        """What changed since the last call: to save once their batch committed."""
        changed = Progress({t: self.links[t] for t in self.dirty}, self.position,
                           self.tree.take_writes())
        self.dirty.clear()
        return changed

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
    always does); without them the tree is still kept, and nothing is signed."""

    def __init__(self, *, recorder: Any, decode: Callable[[bytes], dict[str, Any]],
                 db: Database, bootstrap: str, topic: str, transactional_id: str,
                 batch_size: int = 2000, signer: CheckpointSigner | None = None,
                 checkpoint_topic: str | None = None) -> None:
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

    def _records(self, notifications: Sequence[Any], chain: ChainState) -> list[tuple[str, bytes]]:
        out = []
        fast = self.fast_decoding
        for n in notifications:
            state = _json_state(n.state) if fast else None
            if state is None:
                state = self.decode(n.state)
            territory = str(state["territory"])
            value, raw = encode_record(topic=n.topic, state=state, originator_id=n.originator_id,
                                       version=n.originator_version, position=n.id,
                                       prev=chain.links.get(territory))
            chain.tree.append(territory, value["seq"], leaf_hash(raw))
            chain.links[territory] = ChainLink(value["seq"], value["hash"])
            chain.dirty.add(territory)
            chain.position = n.id
            out.append((territory, raw))
        return out

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

    def _send(self, records: list[tuple[str, bytes]]) -> list[FutureRecordMetadata]:
        self.sent += len(records)
        self.producer.begin_transaction()
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
        """Build the next batch while the previous one commits and its bookkeeping is saved.
        A failed commit raises and ends the process: the restart resumes from what the topic
        holds. (Reading the next batch on a thread of its own was tried: its Python work only
        took the GIL from the main thread, which is the bottleneck.)"""
        in_flight: Future[tuple[list[Signed], int]] | None = None
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

    def _commit_and_save(self, sent: list[FutureRecordMetadata],
                         changes: Progress) -> tuple[list[Signed], int]:
        """In the commit thread: the Kafka transaction, then (only once it committed) the
        batch's chain, tiles, position and due checkpoints in one database transaction."""
        self._commit(sent)
        return changes.save(self.db, self.signer), changes.position

    def _settle(self, in_flight: Future[tuple[list[Signed], int]]) -> None:
        """Between batches, in the main thread: the checkpoints go out on their topic."""
        signed, position = in_flight.result()
        self._publish(signed)
        self.published = position

    def close(self) -> None:
        self.stopping.set()
        self.producer.close(timeout=5)


@lru_cache(maxsize=4096)
def _partition(territory: str, partitions: int) -> int:
    return partition_for(territory, partitions)


# -- the stored state as the JSON values of its record, without the transcoder's objects ----------
_HEX32 = re.compile("[0-9a-f]{32}")


class _Unusual(Exception):  # noqa: N818 - a signal, not an error: decode as eventsourcing does
    pass


def _is_default_json(decode: Callable[[bytes], Any]) -> bool:
    """decode is eventsourcing's JSONTranscoder with its standard uuid and datetime codings."""
    transcoder = getattr(decode, "__self__", None)
    return (isinstance(transcoder, JSONTranscoder)
            and getattr(decode, "__func__", None) is JSONTranscoder.decode
            and type(transcoder.names.get("uuid_hex")) is UUIDAsHex
            and type(transcoder.names.get("datetime_iso")) is DatetimeAsISO)


def _json_state(stored: bytes) -> dict[str, Any] | None:
    """The stored state with every value as encode_record turns it into JSON (a uuid as its
    canonical text, a datetime as its isoformat()), read by orjson; None when anything in it is
    unusual (another coding, numbers or text orjson refuses), which the transcoder then decodes.
    tests/unit/test_relay_decoding.py checks that both paths give the same record bytes."""
    try:
        state = orjson.loads(stored)
        if type(state) is not dict or ("_type_" in state and len(state) == 2):
            return None
        json_state: dict[str, Any] = _json(state)
        return json_state
    except (orjson.JSONDecodeError, _Unusual):
        return None


def _json(value: Any) -> Any:
    """Changes orjson's fresh containers in place; scalars cost no call. A float is unusual:
    orjson reads an integer too big for 64 bits as one, where json keeps the integer."""
    if type(value) is dict:
        if "_type_" in value and len(value) == 2:
            return _tagged(value)
        for k, v in value.items():
            kind = type(v)
            if kind is dict or kind is list:
                value[k] = _json(v)
            elif kind is float:
                raise _Unusual
    elif type(value) is list:
        for i, v in enumerate(value):
            kind = type(v)
            if kind is dict or kind is list:
                value[i] = _json(v)
            elif kind is float:
                raise _Unusual
    return value


def _tagged(value: dict[str, Any]) -> str:
    coding, data = value["_type_"], value.get("_data_")
    if type(data) is not str:
        raise _Unusual
    if coding == "uuid_hex":
        return _uuid_text(data)
    if coding == "datetime_iso":
        return _datetime_text(data)
    raise _Unusual


@lru_cache(maxsize=1 << 16)
def _uuid_text(data: str) -> str:
    """str(UUID(data)): an id recurs in the events of its item and of those it meets."""
    if _HEX32.fullmatch(data):
        return f"{data[:8]}-{data[8:12]}-{data[12:16]}-{data[16:20]}-{data[20:]}"
    raise _Unusual


def _datetime_text(data: str) -> str:
    """datetime.fromisoformat(data).isoformat(): data itself when it already has that form
    and is a valid time (isoformat() of an aware datetime is slow)."""
    try:
        parsed = datetime.fromisoformat(data)
    except ValueError:
        raise _Unusual from None
    return data if ISOFORMAT.fullmatch(data) else parsed.isoformat()
