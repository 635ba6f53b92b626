"""Faults (CONTRACT.md): under a steady write load, the embedded PostgreSQL and then Kafka are
killed. While PostgreSQL is down writes answer 503 within 3 s and /readyz answers within 1 s
naming it; `ledger up` restarts each crashed service by itself; every acknowledged write is
there once, on the topic once, and the chain verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from consumers.audit import read_topic
from infra.kafka import free_port
from infra.postgres import embedded_url
from ledger.records import territory_of, verify_chain

pytestmark = pytest.mark.e2e


def _start(data_dir: Path, port: int, kafka: int, controller: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env |= {"LEDGER_DATA_DIR": str(data_dir), "LEDGER_HTTP_PORT": str(port),
            "LEDGER_KAFKA_PORT": str(kafka), "LEDGER_KAFKA_CONTROLLER_PORT": str(controller),
            "LEDGER_EXPIRY_INTERVAL_SECONDS": "3600"}
    return subprocess.Popen([sys.executable, "-m", "ledger.cli", "up"], env=env,
                            stdout=open(data_dir.parent / "up.log", "ab"),  # noqa: SIM115
                            stderr=subprocess.STDOUT)


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout:.0f}s")


class Writer(threading.Thread):
    """Registers actors one after another; a failed call is retried with the same key until
    acknowledged, so an acknowledged write is one the ledger recorded exactly once."""

    def __init__(self, base: str, token: str, code: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=base, timeout=10,
                                   headers={"Authorization": f"Bearer {token}"})
        self.code, self.stopping = code, threading.Event()
        self.acknowledged: list[dict[str, Any]] = []
        self.refusals: Counter[int] = Counter()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            key = f"fault-{self.code}-{n}"
            while not self.stopping.is_set():
                try:
                    answer = self.client.post(
                        f"/v1/territories/{self.code}/actors", headers={"Idempotency-Key": key},
                        json={"kind": "ets", "display_name": f"ETS {n}"})
                except httpx.HTTPError:
                    time.sleep(0.2)
                    continue
                if answer.status_code == 201:
                    self.acknowledged.append(answer.json())
                    break
                self.refusals[answer.status_code] += 1
                time.sleep(0.2)
            time.sleep(0.05)


def _pid_of(pattern: str) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if pattern in cmdline and "java" in cmdline:
                return int(entry.name)
    raise AssertionError(f"no process runs {pattern}")


def test_killed_services_come_back_and_nothing_is_lost_or_duplicated(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port, kafka, controller = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port, kafka, controller)
    try:
        _wait(lambda: httpx.get(base + "/readyz", timeout=3).status_code == 200, 120,
              "ledger up was not ready")
        token = (data_dir / "admin.key").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        code = "019036"
        assert httpx.post(base + "/v1/territories", json={"code": code, "name": "Cremona"},
                          headers=auth).status_code == 201
        writer = Writer(base, token, code)
        writer.start()
        _wait(lambda: len(writer.acknowledged) >= 5, 30, "no writes went through")

        # PostgreSQL dies: fast 503s and a readiness answer that names it, then it comes back.
        postmaster = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        time.sleep(0.5)
        started = time.monotonic()
        refused = httpx.post(base + f"/v1/territories/{code}/actors", headers=auth, timeout=10,
                             json={"kind": "ets", "display_name": "during the outage"})
        write_seconds = time.monotonic() - started
        started = time.monotonic()
        ready = httpx.get(base + "/readyz", timeout=10)
        ready_seconds = time.monotonic() - started
        if refused.status_code == 503:  # unless the supervisor was quicker than this call
            assert write_seconds < 3, write_seconds
            assert refused.headers["content-type"].startswith("application/problem+json")
        if ready.status_code == 503:
            assert "error" in ready.json()["checks"]["postgres"]
        assert ready_seconds < 1.5, ready_seconds
        before = len(writer.acknowledged)
        _wait(lambda: len(writer.acknowledged) >= before + 5, 90,
              "writes did not resume after PostgreSQL was killed")

        # Kafka dies: writes go on (the event store is the truth), the relay catches up later.
        os.kill(_pid_of(str(data_dir / "kafka" / "server.properties")), signal.SIGKILL)
        before = len(writer.acknowledged)
        _wait(lambda: len(writer.acknowledged) >= before + 5, 90,
              "writes did not go on after Kafka was killed")
        _wait(lambda: httpx.get(base + "/readyz", timeout=3).status_code == 200, 120,
              "Kafka did not come back")
        writer.stopping.set()
        writer.join(30)

        last = max(a["position"] for a in writer.acknowledged)
        _wait(lambda: httpx.get(base + f"/v1/territories/{code}", headers=auth, timeout=10,
                                params={"min_position": last}).status_code == 200, 120,
              "the projections did not catch up")
        ids = [a["id"] for a in writer.acknowledged]
        assert len(ids) == len(set(ids))
        records = [r for r in read_topic(f"127.0.0.1:{kafka}", "ledger.events.v1")
                   if territory_of(r) == code]
        missing = [a for a in writer.acknowledged if httpx.get(
            base + f"/v1/territories/{code}/actors/{a['id']}", headers=auth,
            timeout=10).status_code != 200]
        if missing:
            url = embedded_url(data_dir)
            assert url
            with psycopg.connect(url) as conn:
                stored = {str(r[0]): r[1] for r in conn.execute(
                    "SELECT originator_id, notification_id FROM ledger_events "
                    "WHERE originator_id = ANY(%s)", ([m["id"] for m in missing],)).fetchall()}
            on_topic = {r["subject"]: r["position"] for r in records}
            raise AssertionError([(m["id"], m["position"], stored.get(m["id"]),
                                   on_topic.get(m["id"])) for m in missing])
        subjects = Counter(r["subject"] for r in records if r["type"].endswith(".registered.v1"))
        assert set(ids) <= set(subjects) and all(n == 1 for n in subjects.values())
        assert len(records) == len(subjects)  # the territory and each actor, once each
        assert verify_chain(records) is None
        verified = httpx.get(base + f"/v1/territories/{code}/audit/verify", headers=auth,
                             timeout=10).json()
        assert verified["verified"] is True and verified["count"] == len(records)
        log = (data_dir.parent / "up.log").read_text()
        assert "PostgresService is down" in log and "KafkaService is down" in log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
