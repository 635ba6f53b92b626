"""The write path over HTTP against its raw limit, in the same run.

The API runs as `ledger api` runs it in production (a child process, its own workers); the
load comes from this process over keep-alive HTTP/1.1 connections written by hand on asyncio
streams, so that the client costs a few microseconds a request and the machine's CPU goes to
the server and the database. Every command is a pledge of an hour of time by one of 64
citizens of one territory, signed with a municipal API key (authentication, access, loads
of the territory and the contributor, one event inserted, the item presented).

- `http_commands_per_s`: BENCH_HTTP_CLIENTS (16) clients, each sending its next command when
  the previous one is answered, for BENCH_HTTP_SECONDS (10 s).
- `http_p99_ms`: the 99th percentile latency at a steady BENCH_HTTP_RATE (200) commands/s
  offered (open loop: a command that waits for a connection counts its wait).
- `http_ratio`: http_commands_per_s ÷ raw single-row PostgreSQL inserts of the same event
  size, each in its own transaction under the event store's table lock (`LOCK TABLE … IN
  EXCLUSIVE MODE`, as the recorder takes it), from as many connections as clients, for the
  same time, in turns with the closed loop: BENCH_HTTP_SLICES (5) slices of each, one after
  the other, so that both rates see the machine at the same moments.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg

from ledger import commands as cmd
from ledger.access import Principal, Role
from ledger.container import Container
from tests.support.stack import Roles

BY = Principal("bench:http", "bench", Role.ADMIN)
TERRITORY = "999002"


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def _setup(container: Container) -> tuple[list[str], str]:
    app = container.app
    app.handle(cmd.RegisterTerritory(territory=TERRITORY, name="Comune di Banco"), BY)
    people = [str(app.handle(cmd.RegisterActor(territory=TERRITORY, kind="citizen",
                                               display_name=f"Volontario {i}"), BY).id)
              for i in range(64)]
    _, token = container.api_keys.create("bench operator", Role.MUNICIPALITY, [TERRITORY],
                                         None, "bench")
    return people, token


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, read the whole response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, head: bytes, body: bytes) -> int:
        self.writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


class Load:
    def __init__(self, port: int, token: str, people: list[str]) -> None:
        self.port = port
        self.head = (f"POST /v1/territories/{TERRITORY}/contributions HTTP/1.1\r\n"
                     f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                     "Content-Type: application/json\r\nContent-Length: ").encode()
        self.bodies = [orjson.dumps({"contributor_id": p, "resource_kind": "time",
                                     "unit": "minute", "quantity": 60, "theme": "cts.a"})
                       for p in people]
        self.sent = 0
        self.failed: dict[int, int] = {}

    async def one(self, conn: Connection) -> None:
        body = self.bodies[self.sent % len(self.bodies)]
        self.sent += 1
        status = await conn.post(self.head, body)
        if status != 201:
            self.failed[status] = self.failed.get(status, 0) + 1

    async def closed_loop(self, clients: int, seconds: float) -> tuple[int, float, list[float]]:
        conns = [await Connection.open(self.port) for _ in range(clients)]
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def client(conn: Connection) -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await self.one(conn)
                latencies.append(time.perf_counter() - started)
        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in conns))
        elapsed = time.perf_counter() - started
        for c in conns:
            c.close()
        return len(latencies), elapsed, latencies

    async def open_loop(self, rate: float, seconds: float, clients: int) -> list[float]:
        """Commands due every 1/rate s; each waits for a free connection, its latency counted
        from when it was due."""
        free: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(clients):
            free.put_nowait(await Connection.open(self.port))
        latencies: list[float] = []

        async def command(due: float) -> None:
            conn = await free.get()
            try:
                await self.one(conn)
            finally:
                free.put_nowait(conn)
            latencies.append(time.perf_counter() - due)
        start = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(command(due)))
        await asyncio.gather(*tasks)
        while not free.empty():
            free.get_nowait().close()
        return latencies


RAW_TABLE = "bench_raw_locked"


def create_raw_table(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        conn.execute(f"CREATE TABLE {RAW_TABLE} (originator_id uuid NOT NULL, originator_version "
                     "integer NOT NULL, topic text, state bytea, notification_id bigserial, "
                     "PRIMARY KEY (originator_id, originator_version))")
        conn.execute(f"CREATE UNIQUE INDEX ON {RAW_TABLE} (notification_id)")


def drop_raw_table(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {RAW_TABLE}")


def raw_locked_inserts(url: str, state: bytes, clients: int, seconds: float) -> tuple[int, float]:
    """Single-row inserts, each its own transaction under a table lock, from `clients`
    connections at once, into a table shaped like the event store's (create_raw_table): how
    many were made, in how many seconds."""
    counts = [0] * clients
    deadline = time.perf_counter() + seconds
    ready = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        with psycopg.connect(url) as conn:
            ready.wait()
            while time.perf_counter() < deadline:
                with conn.transaction():
                    conn.execute(f"LOCK TABLE {RAW_TABLE} IN EXCLUSIVE MODE")
                    conn.execute(f"INSERT INTO {RAW_TABLE} (originator_id, originator_version, "
                                 "topic, state) VALUES (%s, 1, %s, %s)",
                                 (uuid.uuid4(), "ledger.domain:Contribution.Pledged", state))
                counts[n] += 1
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - started


def _pledge_state(url: str) -> bytes:
    from ledger.eventstore import EVENTS_TABLE
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT state FROM {EVENTS_TABLE} WHERE topic LIKE "
                           "'%Contribution.Pledged' ORDER BY notification_id DESC LIMIT 1"
                           ).fetchone()
    assert row is not None, "no pledge was recorded"
    return bytes(row[0])


def run(container: Container, log_dir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    clients = int(_env("BENCH_HTTP_CLIENTS", 16))
    seconds = _env("BENCH_HTTP_SECONDS", 10)
    rate = _env("BENCH_HTTP_RATE", 200)
    slices = max(1, int(_env("BENCH_HTTP_SLICES", 5)))
    people, token = _setup(container)
    workers = int(_env("BENCH_HTTP_WORKERS", 2))
    roles = Roles(container.settings, container.database_url, container.kafka_bootstrap,
                  log_dir)
    os.environ["LEDGER_HTTP_WORKERS"] = str(workers)  # Roles passes the environment on
    try:
        roles.start("api")
    finally:
        os.environ.pop("LEDGER_HTTP_WORKERS")
    try:
        roles.wait_ready()  # /readyz: PostgreSQL and Kafka answer (relay not needed)
        load = Load(roles.http_port, token, people)
        # The load generator's own collector pauses would count as the server's latency.
        gc.collect()
        gc.freeze()
        asyncio.run(load.closed_loop(clients, 2))  # warm up: connections, caches, plans
        # The closed loop and the raw inserts take turns, a slice of each at a time, so that
        # both see the machine as it is at the same moments: a virtual machine's speed drifts
        # within seconds, and a ratio of two rates measured a quarter of a minute apart carried
        # that drift (the raw rate alone moved by half from one run to the next).
        url = container.database_url
        state = _pledge_state(url)
        create_raw_table(url)
        done = raw_done = 0
        elapsed = raw_elapsed = 0.0
        closed: list[float] = []
        try:
            for _ in range(slices):
                n, took, latencies = asyncio.run(load.closed_loop(clients, seconds / slices))
                done, elapsed = done + n, elapsed + took
                closed += latencies
                n, took = raw_locked_inserts(url, state, clients, seconds / slices)
                raw_done, raw_elapsed = raw_done + n, raw_elapsed + took
        finally:
            drop_raw_table(url)
        per_s = done / elapsed
        raw = raw_done / raw_elapsed
        say(f"http: {workers} API workers, {clients} clients, {done} pledges in {elapsed:.1f}s: {per_s:,.0f}/s, "
            f"p50 {_ms(closed, 0.5)} ms, p99 {_ms(closed, 0.99)} ms")
        say(f"raw locked single-row inserts, {clients} connections, in turns with the above "
            f"({slices} slices each): {raw:,.0f}/s")
        paced = asyncio.run(load.open_loop(rate, seconds, clients))
        say(f"http at {rate:.0f}/s offered: p50 {_ms(paced, 0.5)} ms, p99 {_ms(paced, 0.99)} ms")
        if load.failed:
            raise RuntimeError(f"commands failed: {load.failed}\n{roles.log_tail('api')}")
    finally:
        roles.stop("api")
    return {"http_commands_per_s": round(per_s, 1), "http_p99_ms": _ms(paced, 0.99),
            "http_p50_ms": _ms(paced, 0.5), "http_saturated_p99_ms": _ms(closed, 0.99),
            "http_clients": clients, "http_offered_rate": rate, "http_workers": workers,
            "http_slices": slices,
            "raw_locked_inserts_per_s": round(raw, 1), "http_ratio": round(per_s / raw, 4)}


def _ms(latencies: list[float], q: float) -> float:
    if not latencies:
        return 0.0
    ordered = sorted(latencies)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def main() -> int:
    """Standalone: `python -m bench.http_writes` on a throwaway embedded stack."""
    from bench.alone import run_alone

    return run_alone(lambda c, tmp: run(c, tmp / "logs", lambda s: print(s, flush=True)))


if __name__ == "__main__":
    sys.exit(main())
