"""Raw baselines in the same run: PostgreSQL inserts and COPY, kafka-python produce and consume."""

from __future__ import annotations

import secrets
import time
import uuid
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


def projection_writes(url: str, schema: str) -> tuple[int, float]:
    """Rows inserted or updated in `schema`'s tables (PostgreSQL's own counters, so every
    statement counts, ON CONFLICT DO NOTHING skips do not) and the mean stored size in bytes
    of a written row, weighted by each table's writes. Call it after the projector's
    connections have closed: a backend flushes its counters when it exits."""
    with psycopg.connect(url, autocommit=True) as conn:
        writes: dict[str, int] = {}
        for _ in range(40):  # until the exiting backends' counters have all arrived
            conn.execute("SELECT pg_stat_clear_snapshot()")
            now = {r[0]: int(r[1]) for r in conn.execute(
                "SELECT relname, n_tup_ins + n_tup_upd FROM pg_stat_user_tables "
                "WHERE schemaname = %s", (schema,))}
            if now == writes and sum(now.values()):
                break
            writes = now
            time.sleep(0.25)
        total, weighted = sum(writes.values()), 0.0
        for table, n in writes.items():
            if n:
                row = conn.execute(f'SELECT avg(pg_column_size(t.*)) FROM "{schema}".{table} t'
                                   ).fetchone()
                weighted += n * float(row[0] if row and row[0] is not None else 0)
    return total, weighted / max(1, total)


def raw_copy_same_rows(url: str, schema: str, transactions: int) -> Rate:
    """The rows the projector left in `schema`, COPYed raw into empty tables defined like its
    own (`LIKE … INCLUDING ALL`: the same keys and indexes), in as many transactions as the
    projector applied batches, each holding its share of every table. The rows are
    PostgreSQL's own COPY text read back beforehand, so no Python touches a row while timed:
    the cost of writing exactly what the projector wrote, and nothing else."""
    target = f"{schema}_raw"
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE' ORDER BY table_name", (schema,))]
        data: dict[str, list[bytes]] = {}
        with conn.cursor() as cur:
            for table in tables:
                with cur.copy(f'COPY "{schema}".{table} TO STDOUT') as copy:
                    data[table] = [bytes(row) for row in copy]
        conn.execute(f'CREATE SCHEMA "{target}"')
        for table in tables:
            conn.execute(f'CREATE TABLE "{target}".{table} (LIKE "{schema}".{table} '
                         "INCLUDING ALL)")
        count = sum(row.count(b"\n") for rows in data.values() for row in rows)
        started = time.perf_counter()
        for i in range(transactions):
            with conn.transaction(), conn.cursor() as cur:
                for table, rows in data.items():
                    part = rows[len(rows) * i // transactions:len(rows) * (i + 1) // transactions]
                    if part:
                        with cur.copy(f'COPY "{target}".{table} FROM STDIN') as copy:
                            copy.write(b"".join(part))
        rate = Rate(count, time.perf_counter() - started)
        conn.execute(f'DROP SCHEMA "{target}" CASCADE')
    return rate


def raw_copy_plain(url: str, count: int, row_bytes: float, per_transaction: int
                   ) -> tuple[Rate, float]:
    """COPY `count` rows of `row_bytes` (stored size) into a two-column table with a random
    uuid primary key, `per_transaction` rows per transaction; return the rate and the stored
    mean row size it reached. A reference only: projection rows have more columns to parse
    and more indexes to maintain."""
    # A row's stored size: tuple header 24, uuid 16, text varlena header 4 + its bytes.
    body = max(1, round(row_bytes) - 44)
    rows = [(uuid.uuid4(), secrets.token_hex(body)[:body]) for _ in range(count)]
    table = "bench_raw_projection_copy"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id uuid PRIMARY KEY, body text NOT NULL)")
        started = time.perf_counter()
        for i in range(0, count, per_transaction):
            with conn.transaction(), conn.cursor() as cur, \
                    cur.copy(f"COPY {table} (id, body) FROM STDIN") as copy:
                for row in rows[i:i + per_transaction]:
                    copy.write_row(row)
        rate = Rate(count, time.perf_counter() - started)
        size = conn.execute(f"SELECT avg(pg_column_size(t.*)) FROM {table} t").fetchone()
        conn.execute(f"DROP TABLE {table}")
    return rate, float(size[0] if size and size[0] is not None else 0)
