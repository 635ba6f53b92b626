"""Reading the event topic: committed records only, from any partition's tail."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

log = logging.getLogger(__name__)


def committed_consumer(bootstrap: str, **config: Any) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                         enable_auto_commit=False, auto_offset_reset="earliest",
                         consumer_timeout_ms=float("inf"), **config)


def partitions_of(consumer: KafkaConsumer, topic: str, timeout: float = 30.0
                  ) -> list[TopicPartition]:
    """The topic's partitions. A metadata request sent to a broker of the bootstrap list that
    is down fails; the client then blacks that broker out, so asking again reaches another."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ids = consumer.partitions_for_topic(topic)
            break
        except KafkaError as err:
            if time.monotonic() > deadline:
                raise
            log.info("no metadata for %s yet (%s); asking another broker", topic, err)
            time.sleep(0.2)
    if not ids:
        raise RuntimeError(f"topic {topic} does not exist")
    return [TopicPartition(topic, p) for p in sorted(ids)]


def from_start(consumer: KafkaConsumer, topic: str
               ) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
    """Assign every partition of the topic at its beginning: the partitions and their end
    offsets now."""
    parts = partitions_of(consumer, topic)
    consumer.assign(parts)
    consumer.seek_to_beginning()
    return parts, consumer.end_offsets(parts)


def committed_messages(bootstrap: str, topic: str, max_records: int = 10000
                       ) -> Iterator[tuple[int, Any]]:
    """(partition, message) for every record committed on the topic now, partition by
    partition in offset order, read with read_committed up to the end offsets."""
    consumer = committed_consumer(bootstrap)
    try:
        parts, ends = from_start(consumer, topic)
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for tp, messages in consumer.poll(timeout_ms=1000, max_records=max_records).items():
                for m in messages:
                    yield tp.partition, m
    finally:
        consumer.close()


def last_values(bootstrap: str, topic: str) -> dict[int, dict[str, Any]]:
    """The value of the last committed data record of every non-empty partition.

    Transaction markers take offsets too, so we read a window back from the end and widen it
    until a data record turns up.
    """
    consumer = committed_consumer(bootstrap)
    try:
        parts = partitions_of(consumer, topic)
        consumer.assign(parts)
        ends = consumer.end_offsets(parts)
        result: dict[int, dict[str, Any]] = {}
        for tp in parts:
            end = ends[tp]
            window = 64
            while end > 0:
                start = max(0, end - window)
                last = _last_in_range(consumer, tp, start, end)
                if last is not None:
                    result[tp.partition] = last
                    break
                if start == 0:
                    break
                window *= 4
        return result
    finally:
        consumer.close()


def _last_in_range(consumer: KafkaConsumer, tp: TopicPartition, start: int,
                   end: int) -> dict[str, Any] | None:
    """The last record in [start, end) that is a ledger record (foreign ones are skipped)."""
    consumer.seek(tp, start)
    last = None
    while consumer.position(tp) < end:
        batch = consumer.poll(timeout_ms=1000, max_records=5000)
        for record in batch.get(tp, []):
            if record.offset < end:
                value = _ledger_value(record.value)
                last = value if value is not None else last
    return last


def _ledger_value(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("position"), int):
        return value
    return None


def partition_for(territory: str, partitions: int) -> int:
    """The partition Kafka's default partitioner puts a territory's records in."""
    from kafka.partitioner.default import murmur2

    return int((murmur2(territory.encode()) & 0x7FFFFFFF) % partitions)
