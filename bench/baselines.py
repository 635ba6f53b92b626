"""Raw baselines in the same run: PostgreSQL inserts, kafka-python produce and consume."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from ledger.eventstore import EVENTS_TABLE

# The relay's producer settings (consumers/relay.py), minus transactions and idempotence.
PRODUCER_SETTINGS: dict[str, Any] = {"acks": "all", "linger_ms": 5, "batch_size": 1 << 20,
                                     "max_request_size": 8 << 20}
# The projector's fetch settings (consumers/projector.py).
FETCH_SETTINGS: dict[str, Any] = {"fetch_max_bytes": 64 << 20,
                                  "max_partition_fetch_bytes": 16 << 20}


@dataclass
class Rate:
    count: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def stored_rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT originator_id, originator_version, topic, state FROM "
                            f"{EVENTS_TABLE} ORDER BY notification_id").fetchall()


def pg_inserts(url: str, rows: list[tuple[Any, ...]], batch: int) -> dict[str, Rate]:
    """The stored events' bytes into a plain table: executemany per batch, and COPY."""
    ddl = ("CREATE TABLE {} (originator_id uuid, originator_version int, topic text, "
           "state bytea)")
    out: dict[str, Rate] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name in ("executemany", "copy"):
            table = f"bench_raw_{name}"
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(ddl.format(table))
            started = time.perf_counter()
            for i in range(0, len(rows), batch):
                chunk = rows[i:i + batch]
                with conn.transaction(), conn.cursor() as cur:
                    if name == "copy":
                        with cur.copy(f"COPY {table} FROM STDIN") as copy:
                            for row in chunk:
                                copy.write_row(row)
                    else:
                        cur.executemany(f"INSERT INTO {table} VALUES (%s,%s,%s,%s)", chunk)
            out[name] = Rate(len(rows), time.perf_counter() - started)
            conn.execute(f"DROP TABLE {table}")
    return out


def _consumer(bootstrap: str, topic: str, max_records: int) -> tuple[KafkaConsumer, list[Any]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                             enable_auto_commit=False, max_poll_records=max_records,
                             **FETCH_SETTINGS)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    return consumer, parts


def read_records(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """Every committed (key, value) of the topic, partition by partition."""
    consumer, parts = _consumer(bootstrap, topic, 5000)
    try:
        ends = consumer.end_offsets(parts)
        out: list[tuple[bytes, bytes]] = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for messages in consumer.poll(timeout_ms=500).values():
                out.extend((m.key, m.value) for m in messages)
        return out
    finally:
        consumer.close()


def raw_consume(bootstrap: str, topic: str, max_records: int) -> Rate:
    """read_committed, assign, poll to the end offsets; parse every value as the projector
    does (orjson)."""
    consumer, parts = _consumer(bootstrap, topic, max_records)
    try:
        ends = consumer.end_offsets(parts)
        count = 0
        started = time.perf_counter()
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for messages in consumer.poll(timeout_ms=500, max_records=max_records).values():
                for m in messages:
                    orjson.loads(m.value)
                count += len(messages)
        return Rate(count, time.perf_counter() - started)
    finally:
        consumer.close()


def raw_produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> Rate:
    """A plain producer with the relay's acks/linger/batch settings, then flush."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SETTINGS)
    try:
        producer.partitions_for(topic)  # metadata outside the timing
        started = time.perf_counter()
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
        return Rate(len(records), time.perf_counter() - started)
    finally:
        producer.close(timeout=5)
