"""`make bench`: events/s of the relay and the projector, each against raw kafka-python on
the same records in the same run, on a throwaway embedded stack (temp data, free ports).

Environment: BENCH_EVENTS (100000), BENCH_SAVE_BATCH (300 events per app.save: psycopg
pipeline mode, which eventsourcing uses to insert, hangs intermittently on statements over
~500 KB),
BENCH_RELAY_BATCH / BENCH_PROJECTION_BATCH (the Settings defaults, 2000), BENCH_PROFILE
(a directory: cProfile the relay and projector phases into it), BENCH_ONLY (a comma list
of the parts to run besides the relay and the projector with their baselines, which always
run: reports, merkle, import, http; `BENCH_ONLY=relay,projector` runs none of them, for
quick iterations), BENCH_IMPORT_EVENTS (BENCH_EVENTS: the size of the history `ledger import`
reads, bench/importing.py), BENCH_HTTP_* (bench/http_writes.py). The last line printed is
one JSON object. After each part and for the whole run, what the machine's CPUs did meanwhile
is printed, and the share the host took goes in the JSON (`<part>_steal_share`,
`machine_steal_share`; bench/machine.py).
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import baselines
from bench import http_writes as http_bench
from bench import importing as import_bench
from bench import merkle as merkle_bench
from bench import reports as report_bench
from bench.machine import Shares, watched
from bench.phases import run_projector, run_relay
from bench.profiling import Profiler
from bench.workload import Generator
from infra.kafka import ensure_topic
from infra.stack import start_services
from ledger.container import Container
from ledger.settings import Settings
from tests.support.stack import test_settings


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def wanted(part: str) -> bool:
    only = {p.strip() for p in os.environ.get("BENCH_ONLY", "").split(",") if p.strip()}
    return not only or part in only


def say(line: str) -> None:
    print(line, flush=True)


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` dumps every thread's stack


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # kafka-python 3 warns whenever one selector task runs >100 ms (big fetches): noise here.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    _stop_on_sigterm()
    events = _env_int("BENCH_EVENTS", 100_000)
    save_batch = _env_int("BENCH_SAVE_BATCH", 300)
    defaults = Settings.model_fields
    relay_batch = _env_int("BENCH_RELAY_BATCH", defaults["relay_batch_size"].default)
    proj_batch = _env_int("BENCH_PROJECTION_BATCH", defaults["projection_batch_size"].default)
    profiler = Profiler(os.environ.get("BENCH_PROFILE"))
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        settings = test_settings(Path(tmp))
        say(f"bench: {events} events; relay batch {relay_batch}, projection batch "
            f"{proj_batch}, save batch {save_batch}; data in {tmp}")
        started = time.perf_counter()
        services = start_services(settings)
        try:
            say(f"services up in {time.perf_counter() - started:.1f}s "
                f"(kafka {services.kafka_bootstrap}, topic {services.topic})")
            container = Container.build(settings, services.database_url,
                                        services.kafka_bootstrap)
            try:
                result = _bench(container, services.topic, events, save_batch, relay_batch,
                                proj_batch, settings.topic_partitions, profiler)
            finally:
                container.close()
        finally:
            services.stop()
    say(json.dumps(result))
    return 0


def _progress(total: int) -> Callable[[int], None]:
    """In place on a terminal; every tenth otherwise."""
    step, shown = max(1, total // 10), [0]

    def show(n: int) -> None:
        if sys.stdout.isatty():
            print(f"\r  generated {n}/{total}", end="", flush=True)
        elif n >= shown[0] + step or n == total:
            shown[0] = n
            say(f"  generated {n}/{total}")
    return show


def _bench(container: Container, topic: str, events: int, save_batch: int, relay_batch: int,
           proj_batch: int, partitions: int, profiler: Profiler) -> dict[str, Any]:
    with watched() as run:
        result = _parts(container, topic, events, save_batch, relay_batch, proj_batch,
                        partitions, profiler)
    say(f"whole run: {run.line()}")
    return result | {"machine_steal_share": round(run.steal, 4)}


def _steal(part: str, shares: Shares) -> dict[str, float]:
    """What the machine did while a part (its rate and its baseline) ran: printed, and the
    share stolen by the host for the JSON line (bench/machine.py)."""
    say(f"{part}: {shares.line()}")
    return {f"{part}_steal_share": round(shares.steal, 4)}


def _parts(container: Container, topic: str, events: int, save_batch: int, relay_batch: int,
           proj_batch: int, partitions: int, profiler: Profiler) -> dict[str, Any]:
    url, bootstrap = container.database_url, container.kafka_bootstrap

    gen = Generator(container.app, container.keys, events, save_batch, partitions)
    started = time.perf_counter()
    written = gen.run(_progress(events))
    write = baselines.Rate(written, time.perf_counter() - started)
    if sys.stdout.isatty():
        print()
    say(f"write: {written} events in {gen.saves} app.save() calls: {write.seconds:.1f}s, "
        f"{write.per_s:,.0f} events/s (domain + mapper + insert)")
    rows = baselines.stored_rows(url)
    head = len(rows)
    pg = baselines.pg_inserts(url, rows, save_batch)
    mean_bytes = sum(len(r[3]) for r in rows) / max(1, head)
    say(f"raw pg: executemany {pg['executemany'].per_s:,.0f} rows/s, COPY "
        f"{pg['copy'].per_s:,.0f} rows/s (same {mean_bytes:.0f}-byte states, "
        f"{save_batch} per transaction)")
    del rows

    with watched() as relay_machine:
        relay = run_relay(url, bootstrap, topic, relay_batch, head, profiler)
        say(f"relay: {relay.count} events in {relay.seconds:.1f}s, {relay.per_s:,.0f} events/s")
        say("\n".join(profiler.breakdown("relay")))

        records = baselines.read_records(bootstrap, topic)
        raw_topic = f"{topic}.raw"
        ensure_topic(bootstrap, raw_topic, partitions)
        cpu = time.process_time()
        produce = baselines.raw_produce(bootstrap, raw_topic, records)
        cpu = time.process_time() - cpu
    value_bytes = sum(len(v) for _, v in records) / max(1, len(records))
    del records
    say(f"raw produce: {produce.count} records ({value_bytes:.0f} B mean value) in "
        f"{produce.seconds:.1f}s, {produce.per_s:,.0f} records/s "
        f"(cpu {cpu:.1f}s, all threads)")
    stolen = _steal("relay", relay_machine)

    with watched() as projection_machine:
        consume = baselines.raw_consume(bootstrap, topic, proj_batch)
        say(f"raw consume (read_committed, orjson.loads each value): {consume.count} records "
            f"in {consume.seconds:.1f}s, {consume.per_s:,.0f} records/s")

        projection, schema, counts = run_projector(url, bootstrap, topic, proj_batch, profiler)
        say(f"projection: {projection.count} events in {projection.seconds:.1f}s, "
            f"{projection.per_s:,.0f} events/s into {schema} (rows: {counts})")
        say("\n".join(profiler.breakdown("projector")))
        # The rows it wrote against a raw COPY of the same rows into tables like its own, in
        # as many transactions as it applied batches (and, for reference, of rows of the same
        # mean size into a two-column uuid-keyed table).
        rows_written, row_bytes = baselines.projection_writes(url, schema)
        written_per_s = rows_written / projection.seconds if projection.seconds else 0.0
        batches = -(-events // proj_batch)
        copy = baselines.raw_copy_same_rows(url, schema, batches)
        plain, plain_bytes = baselines.raw_copy_plain(url, rows_written, row_bytes,
                                                      max(1, rows_written // batches))
    say(f"projection writes: {rows_written} rows ({rows_written / max(1, events):.2f} per "
        f"event, {row_bytes:.0f} B mean stored row), {written_per_s:,.0f} rows/s; raw COPY "
        f"of its {copy.count} rows into tables like its own: {copy.per_s:,.0f} rows/s "
        f"(of {plain_bytes:.0f}-byte rows into a two-column table: {plain.per_s:,.0f} rows/s)")
    stolen |= _steal("projection", projection_machine)
    if not (relay.count == consume.count == projection.count == counts["audit"] == events):
        raise RuntimeError(f"counts disagree: events {events}, relayed {relay.count}, "
                           f"consumed {consume.count}, projected {projection.count}, "
                           f"audit rows {counts['audit']}")

    reports: dict[str, Any] = {}
    if wanted("reports"):
        reports = report_bench.run(container, _env_int("BENCH_FULFILMENTS", 100_000))
        say(f"reports over {reports['report_fulfilments']} fulfilments: overview "
            f"{reports['overview_ms']} ms, csr {reports['csr_ms']} ms (median of 5)")

    # Proofs anyone can check: the Merkle tile store alone; the share of the relay's time its
    # tree appends take is estimated from the two rates.
    proofs: dict[str, Any] = {}
    if wanted("merkle"):
        proofs = merkle_bench.run(url, say)
        proofs["merkle_relay_share"] = round(relay.per_s / proofs["merkle_appends_per_s"], 4)

    # `ledger import` of a territory's history against raw COPY of as many rows (after the
    # relay and projector counts: these events are not theirs).
    imported: dict[str, Any] = {}
    if wanted("import"):
        with watched() as import_machine:
            imported = import_bench.run(container, _env_int("BENCH_IMPORT_EVENTS", events), say)
        stolen |= _steal("import", import_machine)

    # The write path over HTTP against raw locked single-row inserts (bench/http_writes.py).
    writes: dict[str, Any] = {}
    if wanted("http"):
        with watched() as http_machine:
            writes = http_bench.run(container, container.settings.data_dir / "logs", say)
        stolen |= _steal("http", http_machine)

    relay_ratio = relay.per_s / produce.per_s
    projection_ratio = projection.per_s / consume.per_s
    write_ratio = written_per_s / copy.per_s if copy.per_s else 0.0
    say(f"relay_ratio {relay_ratio:.3f}, projection_ratio {projection_ratio:.3f}, "
        f"projection_write_ratio {write_ratio:.3f}")
    return {
        "events": events,
        "relay_events_per_s": round(relay.per_s, 1),
        "relay_ratio": round(relay_ratio, 4),
        "projection_events_per_s": round(projection.per_s, 1),
        "projection_ratio": round(projection_ratio, 4),
        "projection_write_ratio": round(write_ratio, 4),
        "projection_rows_written": rows_written,
        "projection_rows_per_event": round(rows_written / max(1, events), 3),
        "projection_rows_per_s": round(written_per_s, 1),
        "projection_row_bytes": round(row_bytes, 1),
        "raw_copy_rows_per_s": round(copy.per_s, 1),
        "raw_copy_plain_rows_per_s": round(plain.per_s, 1),
        "raw_produce_events_per_s": round(produce.per_s, 1),
        "raw_consume_events_per_s": round(consume.per_s, 1),
        "raw_consume_parses_json": True,
        "write_events_per_s": round(write.per_s, 1),
        "pg_insert_rows_per_s": round(pg["executemany"].per_s, 1),
        "pg_copy_rows_per_s": round(pg["copy"].per_s, 1),
        "relay_seconds": round(relay.seconds, 2),
        "projection_seconds": round(projection.seconds, 2),
        "relay_batch_size": relay_batch,
        "projection_batch_size": proj_batch,
        "mean_record_bytes": round(value_bytes, 1),
    } | reports | proofs | imported | writes | stolen


if __name__ == "__main__":
    sys.exit(main())
