"""The relay and the projector, in-process, as `ledger relay` / `ledger project` build them."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.baselines import Rate
from bench.profiling import Profiler
from consumers.projector import Projector
from consumers.relay import Relay
from ledger.container import open_application
from ledger.db import Database
from ledger.eventstore import eventstore_env
from ledger.projections import store


def run_relay(url: str, bootstrap: str, topic: str, batch_size: int, head: int,
              profiler: Profiler) -> Rate:
    db = Database(url, max_size=2)
    db.create_side_tables()
    store_app = open_application(db, eventstore_env(url, pool_size=2))
    relay = Relay(recorder=store_app.recorder, decode=store_app.mapper.transcoder.decode,
                  db=db, bootstrap=bootstrap, topic=topic,
                  transactional_id=f"bench-relay-{topic}", batch_size=batch_size)
    try:
        profiler.watch_relay(relay)
        started, cpu = time.perf_counter(), time.process_time()
        with profiler.section("relay"):
            # The live loop, which builds the next batch while the previous one commits.
            relay.run(until=lambda: relay.published >= head)
        # CPU time (all threads) besides wall time: on a busy machine the ratio of wall times
        # swings with the load; this does much less.
        profiler.seconds["relay"]["cpu (this process, all threads)"] = time.process_time() - cpu
        return Rate(relay.sent, time.perf_counter() - started)
    finally:
        relay.close()
        store_app.close()
        db.close()


def run_projector(url: str, bootstrap: str, topic: str, batch_size: int,
                  profiler: Profiler) -> tuple[Rate, str, dict[str, Any]]:
    """From offset 0 into a fresh pinned schema, until the positions reach the end offsets."""
    db = Database(url, max_size=2)
    schema = f"proj_bench_{time.time_ns() // 1000}"
    with db.transaction() as conn:
        store.create_schema(conn, schema)
    # BENCH_PROJECTOR_APART=0: prepare batches in the projector's process (no child process).
    projector = Projector(db=db, bootstrap=bootstrap, topic=topic, group_id=f"bench-{topic}",
                          schema=schema, batch_size=batch_size,
                          prepare_apart=os.environ.get("BENCH_PROJECTOR_APART", "1") != "0")
    try:
        profiler.watch_projector(projector)
        # The polling thread derives each batch's rows and formats them as COPY text (the
        # projections' add calls are inside it) while the apply thread writes the batch before.
        profiler._wrap(store, "prepare", "store.prepare (polling thread)")
        started = time.perf_counter()
        with profiler.section("projector"):
            count = projector.catch_up()
        rate = Rate(count, time.perf_counter() - started)
        with db.transaction() as conn:
            rows = {t: conn.execute(f'SELECT count(*) AS n FROM "{schema}".{t}').fetchone()["n"]
                    for t in ("audit", "history", "contributions", "fulfilments")}
        return rate, schema, rows
    finally:
        projector.close()
        db.close()
