"""The ledger on a three-broker Kafka cluster of its own (tests/integration/test_kafka_cluster.py):
a database on the session's PostgreSQL, a topic of replication 3, the relay as a child process
restarted when it exits, and live projectors observed in threads of the test process."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaAdminClient
from kafka.errors import KafkaError
from psycopg import sql

from consumers.projector import Projector
from consumers.topic import committed_messages
from infra.kafka import KafkaCluster, ensure_topic, start_cluster
from infra.postgres import create_database
from infra.stack import Services
from ledger.container import Container
from ledger.db import Database
from ledger.projections.records import Record
from ledger.settings import Settings
from tests.support.stack import Roles

Applied = tuple[int, int, bool]  # partition, offset, held by the instance when applied
TopicRecord = tuple[int, int, dict[str, Any]]  # partition, offset, value


class Observed(Projector):
    """A live projector that notes each record it applies and whether it held the partition
    at that moment; it runs in a thread of its own."""

    def __init__(self, name: str, url: str, bootstrap: str, topic: str, group: str) -> None:
        super().__init__(db=Database(url, max_size=2), bootstrap=bootstrap, topic=topic,
                         group_id=group, batch_size=500, session_timeout_ms=6000,
                         heartbeat_interval_ms=1000)
        self.applied: list[Applied] = []
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def _apply(self, records: list[Record]) -> tuple[bool, int]:
        held = self.owned
        stale, count = super()._apply(records)
        if not stale:
            self.applied.extend((r.partition, r.offset, r.partition in held) for r in records)
        return stale, count

    def _serve(self) -> None:
        try:
            self.run()
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.errors.append(err)

    def shut(self) -> None:
        self.stopping.set()
        self.thread.join(30)
        self.close()  # leaves the group: the others take its partitions at once
        self.db.close()


class ClusterStack:
    def __init__(self, settings: Settings, services: Services, cluster: KafkaCluster,
                 partitions: int, logs: Path) -> None:
        suffix = f"cluster{random.randrange(10**6)}"  # noqa: S311
        self.settings = settings.model_copy(update={"topic": f"ledger.events.{suffix}",
                                                    "topic_partitions": partitions})
        self.topic = self.settings.topic
        self.group = f"proj-{suffix}"
        self.cluster = cluster
        self.url = create_database(services.database_url, f"ledger_{suffix}")
        ensure_topic(cluster.bootstrap, self.topic, partitions)
        self.container = Container.build(self.settings, self.url, cluster.bootstrap)
        self.roles = Roles(self.settings, self.url, cluster.bootstrap, logs)
        self.relay_restarts = 0
        self.roles.start("relay")

    def tend_relay(self) -> None:
        """A relay that lost its broker exits (see Relay._commit); start another, as
        `ledger up` does."""
        if self.roles.procs["relay"].poll() is not None:
            self.relay_restarts += 1
            self.roles.start("relay")

    def hold(self, seconds: float) -> None:
        """Let the load run a while, keeping the relay alive."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.tend_relay()
            time.sleep(0.2)

    def wait(self, what: str, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.tend_relay()
            assert time.monotonic() < deadline, (
                f"{what} within {timeout}s\nrelay:\n{self.roles.log_tail('relay')}")
            time.sleep(0.3)

    def caught_up(self, projectors: list[Observed]) -> list[TopicRecord]:
        """Wait until every stored event is on the topic and tracked by the projections."""
        result: list[TopicRecord] = []

        def complete() -> bool:
            for p in projectors:
                assert not p.errors, p.errors
            records = committed_records(self.cluster.bootstrap, self.topic)
            if len(records) < len(stored_events(self.url)):
                return False
            result[:] = records
            return tracked(self.url) == {part: offset + 1 for part, offset, _ in records}

        self.wait("the topic and the projections did not catch up", complete, 60)
        return result

    def projector(self, name: str) -> Observed:
        return Observed(name, self.url, self.cluster.bootstrap, self.topic, self.group)

    def relayed(self) -> int:
        """The event-store position the relay has committed on the topic."""
        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT position FROM relay_checkpoint").fetchone()
        return int(row[0]) if row else 0

    def pick_victim(self) -> int:
        """A broker that leads a partition of the topic, preferably the projectors' group
        coordinator, never the relay's transaction coordinator: kafka-python 3.0.12 does not
        move an open transaction to a new coordinator, so the relay would wait out its 30 s
        delivery timeout and restart (which loses nothing either, but is too slow here)."""
        bootstrap = self.cluster.bootstrap
        transactions = coordinator(bootstrap, "__transaction_state", f"relay-{self.topic}")
        group = coordinator(bootstrap, "__consumer_offsets", self.group)
        leaders = {int(d["leader_id"]) for d in describe(bootstrap, self.topic).values()}
        candidates = sorted(leaders - {transactions})
        return group if group in candidates else candidates[0]

    def close(self) -> None:
        self.roles.stop_all()
        self.container.close()


@contextmanager
def cluster_stack(settings: Settings, services: Services, root: Path, partitions: int
                  ) -> Iterator[ClusterStack]:
    cluster = start_cluster(root / "kafka", nodes=3)
    try:
        stack = ClusterStack(settings, services, cluster, partitions, root / "logs")
        try:
            yield stack
        finally:
            stack.close()
    finally:
        cluster.stop()


def committed_records(bootstrap: str, topic: str) -> list[TopicRecord]:
    """Every committed record, read with read_committed."""
    return [(p, m.offset, json.loads(m.value)) for p, m in committed_messages(bootstrap, topic)]


def describe(bootstrap: str, topic: str) -> dict[int, dict[str, Any]]:
    """Leader, replicas and ISR of each partition (asking again if the broker asked is down)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
            try:
                [described] = admin.describe_topics([topic])
            finally:
                admin.close()
            return {p["partition_index"]: p for p in described["partitions"]}
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def coordinator(bootstrap: str, internal_topic: str, key: str) -> int:
    """The broker coordinating `key`: the leader of its partition of the internal topic,
    Kafka's Utils.abs(key.hashCode()) modulo the partitions (Java's String.hashCode, a signed
    32-bit int; Utils.abs maps its minimum to 0)."""
    h = 0
    for ch in key:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    signed = h - (1 << 32) if h >= 1 << 31 else h
    partitions = describe(bootstrap, internal_topic)
    index = (0 if signed == -(1 << 31) else abs(signed)) % len(partitions)
    return int(partitions[index]["leader_id"])


def stored_events(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT originator_id, originator_version FROM ledger_events"
                            ).fetchall()
    return [(str(r[0]), int(r[1])) for r in rows]


def live_schema(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT schema_name FROM projection_generation").fetchone()
    assert row is not None
    return str(row[0])


def tracked(url: str) -> dict[int, int]:
    """The next offset every projection of the live schema has reached, per partition."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(sql.SQL("SELECT partition, min(next_offset) FROM {}.tracking "
                                    "GROUP BY partition").format(
            sql.Identifier(live_schema(url)))).fetchall()
    return {int(p): int(o) for p, o in rows}
