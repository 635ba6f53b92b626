"""Positions and lags of the event store, the relay and the projections (CLI and /metrics)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import Gauge
from psycopg import sql

from ledger.eventstore import EVENTS_TABLE
from ledger.projections import store

if TYPE_CHECKING:
    from ledger.container import Container

log = logging.getLogger(__name__)

# With several API workers (prometheus_client's multiprocess mode) each gauge shows the value
# that a live worker's refresher set last.
LATEST: Final = "livemostrecent"
HEAD = Gauge("ledger_event_store_head", "Highest notification id in the event store",
             multiprocess_mode=LATEST)
RELAYED = Gauge("ledger_relay_position", "Highest event-store position published to Kafka",
                multiprocess_mode=LATEST)
RELAY_LAG = Gauge("ledger_relay_lag_events", "Stored events not yet published to Kafka",
                  multiprocess_mode=LATEST)
PARKED = Gauge("ledger_projection_dead_letters", "Records parked because no projection could "
               "apply them (see the dead_letters table)", multiprocess_mode=LATEST)
PROJECTION_LAG = Gauge("ledger_projection_lag_records", "Committed topic records not yet applied",
                       ["projection"], multiprocess_mode=LATEST)


def _database_status(c: Container) -> dict[str, Any]:
    with c.db.transaction() as conn:
        head = conn.execute("SELECT COALESCE(MAX(notification_id), 0) AS h FROM " + EVENTS_TABLE
                            ).fetchone()
        relayed = conn.execute("SELECT position FROM relay_checkpoint WHERE id = 1").fetchone()
        schema = store.active_schema(conn)
        tracking = store.tracking(conn, schema)
        applied = conn.execute(sql.SQL("SELECT COALESCE(MAX(position), 0) AS p FROM {}."
                                       "partition_positions").format(sql.Identifier(schema))
                               ).fetchone()
        parked = conn.execute(sql.SQL("SELECT count(*) AS n FROM {}.dead_letters").format(
            sql.Identifier(schema))).fetchone()
    return {"head": int(head["h"]) if head else 0,
            "relayed": int(relayed["position"]) if relayed else 0,
            "schema": schema, "tracking": tracking,
            "applied": int(applied["p"]) if applied else 0,
            "parked": int(parked["n"]) if parked else 0}


def end_offsets(bootstrap: str, topic: str, consumer: Any = None) -> dict[int, int]:
    """The end offset of each partition (`consumer`: one to use and keep open, else a new one)."""
    from consumers.topic import committed_consumer, partitions_of

    own = consumer is None
    if own:
        consumer = committed_consumer(bootstrap, request_timeout_ms=5000)
    try:
        parts = partitions_of(consumer, topic)
        return {tp.partition: off for tp, off in consumer.end_offsets(parts).items()}
    finally:
        if own:
            consumer.close()


def projection_lags(bootstrap: str, topic: str, tracking: dict[tuple[str, int], int],
                    ends: dict[int, int], scan_limit: int = 10_000,
                    consumer: Any = None) -> dict[str, int]:
    """Committed records each projection has not applied yet.

    Offsets alone overcount: transaction markers and aborted records take offsets but are
    never applied, so a caught-up projection sits at least one offset short of the end. A
    short unapplied tail is read and counted; a longer one is estimated from offsets.
    """
    from kafka import TopicPartition

    from consumers.topic import committed_consumer

    lags = dict.fromkeys(store.PROJECTIONS, 0)
    own = consumer is None
    if own:
        consumer = committed_consumer(bootstrap, request_timeout_ms=5000)
    try:
        for partition, end in ends.items():
            done = {name: tracking.get((name, partition), 0) for name in lags}
            start = min(done.values())
            offsets = _committed_offsets(consumer, TopicPartition(topic, partition), start, end,
                                         scan_limit) if start < end else []
            for name in lags:
                lags[name] += (max(0, end - done[name]) if offsets is None
                               else sum(1 for o in offsets if o >= done[name]))
    finally:
        if own:
            consumer.close()
    return lags


def _committed_offsets(consumer: Any, tp: Any, start: int, end: int,
                       limit: int) -> list[int] | None:
    """Offsets of the committed records in [start, end), or None if too many to read."""
    if end - start > limit:
        return None
    consumer.assign([tp])
    consumer.seek(tp, start)
    offsets: list[int] = []
    deadline = time.monotonic() + 5
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            return None
        for record in consumer.poll(timeout_ms=500, max_records=limit).get(tp, []):
            if record.offset < end:
                offsets.append(record.offset)
    return offsets


def collect_status(c: Container, update_metrics: bool = False,
                   consumer: Any = None) -> dict[str, Any]:
    """`consumer`: a Kafka consumer to read offsets with and keep open (the metrics refresher
    keeps one), else one is made for the occasion."""
    db = _database_status(c)
    try:
        ends: dict[int, int] | None = end_offsets(c.kafka_bootstrap, c.settings.topic, consumer)
    except Exception as err:  # noqa: BLE001 - status must report, not fail
        log.warning("cannot read end offsets: %s", err)
        ends = None
    lags: dict[str, int] | None = None
    if ends is not None:
        try:
            lags = projection_lags(c.kafka_bootstrap, c.settings.topic, db["tracking"], ends,
                                   consumer=consumer)
        except Exception as err:  # noqa: BLE001 - status must report, not fail
            log.warning("cannot read the unapplied records: %s", err)
    projections: dict[str, Any] = {}
    for name in store.PROJECTIONS:
        offsets = {p: o for (n, p), o in db["tracking"].items() if n == name}
        lag = None if lags is None else lags[name]
        projections[name] = {"offsets": offsets, "lag": lag}
        if update_metrics and lag is not None:
            PROJECTION_LAG.labels(name).set(lag)
    status = {
        "database_url": c.database_url,
        "kafka_bootstrap": c.kafka_bootstrap,
        "topic": c.settings.topic,
        "event_store": {"head": db["head"]},
        "relay": {"position": db["relayed"], "lag": db["head"] - db["relayed"]},
        "projections": {"schema": db["schema"], "position": db["applied"],
                        "lag_positions": db["head"] - db["applied"],
                        "end_offsets": ends, "dead_letters": db["parked"], **projections},
    }
    if update_metrics:
        HEAD.set(db["head"])
        RELAYED.set(db["relayed"])
        RELAY_LAG.set(db["head"] - db["relayed"])
        PARKED.set(db["parked"])
    return status


def _check_postgres(c: Container) -> str:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(c.database_url, connect_timeout=1, row_factory=dict_row) as conn:
        conn.execute("SET statement_timeout = 800")
        conn.execute("SELECT 1")
        store.active_schema(conn)
    return "ok"


def _check_kafka(c: Container) -> str:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=c.kafka_bootstrap, request_timeout_ms=800)
    try:
        if not admin.describe_cluster().get("brokers"):
            return "error: no broker answers"
    finally:
        admin.close()
    return "ok"


_CHECKS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readiness")


def readiness(c: Container, budget: float = 0.9) -> dict[str, str]:
    """PostgreSQL (with the projections' schema) and Kafka, checked side by side; whatever has
    not answered within the budget is reported down, so /readyz answers within a second."""
    futures = {"postgres": _CHECKS.submit(_check_postgres, c),
               "kafka": _CHECKS.submit(_check_kafka, c)}
    wait(futures.values(), timeout=budget)
    checks: dict[str, str] = {}
    for name, future in futures.items():
        if not future.done():
            checks[name] = f"error: no answer within {budget:.1f}s"
        elif future.exception() is not None:
            checks[name] = f"error: {future.exception()}"
        else:
            checks[name] = future.result()
    checks["projections"] = checks["postgres"]
    return checks


class MetricsRefresher:
    """Keeps the ledger's gauges fresh in the background, so a scrape of /metrics is instant."""

    def __init__(self, c: Container, interval: float = 2.0) -> None:
        self.c, self.interval = c, interval
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="metrics")

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        from consumers.topic import committed_consumer

        consumer: Any = None  # one client kept between refreshes (no reconnection each time)
        try:
            while True:
                try:
                    if consumer is None:
                        consumer = committed_consumer(self.c.kafka_bootstrap,
                                                      request_timeout_ms=5000)
                    collect_status(self.c, update_metrics=True, consumer=consumer)
                except Exception as err:  # noqa: BLE001 - a scrape shows the last known values
                    log.warning("metrics refresh failed: %s", err)
                    if consumer is not None:
                        consumer.close()
                        consumer = None
                if self.stopping.wait(self.interval):
                    return
        finally:
            if consumer is not None:
                consumer.close()

    def stop(self) -> None:
        self.stopping.set()
