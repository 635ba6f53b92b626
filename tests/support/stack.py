"""Real services for the tests: PostgreSQL and Kafka via infra/, and the ledger's own roles
as child processes, exactly as `ledger up` runs them."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.kafka import free_port
from ledger.settings import Settings


def test_settings(data_dir: Path) -> Settings:
    """Settings for a throwaway stack: temp data, free ports; external services only if the
    user points at them explicitly."""
    return Settings(data_dir=data_dir, kafka_port=free_port(), kafka_controller_port=free_port(),
                    database_url=os.environ.get("LEDGER_TEST_DATABASE_URL"),
                    kafka_bootstrap=os.environ.get("LEDGER_TEST_KAFKA_BOOTSTRAP"),
                    topic=f"ledger.events.test{random.randrange(10**6)}",  # noqa: S311
                    relay_batch_size=500,
                    projection_batch_size=500, dev_admin_token=None)


@dataclass
class Roles:
    """relay, project and api as child processes of the test session."""

    settings: Settings
    database_url: str
    bootstrap: str
    log_dir: Path
    http_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        return os.environ | {
            "LEDGER_DATABASE_URL": self.database_url, "LEDGER_KAFKA_BOOTSTRAP": self.bootstrap,
            "LEDGER_TOPIC": self.settings.topic, "LEDGER_HTTP_PORT": str(self.http_port),
            "LEDGER_HTTP_HOST": "127.0.0.1", "LEDGER_PARENT_PID": str(os.getpid()),
            "LEDGER_RELAY_BATCH_SIZE": str(self.settings.relay_batch_size),
            "LEDGER_PROJECTION_BATCH_SIZE": str(self.settings.projection_batch_size),
            "LEDGER_RELAY_TRANSACTIONAL_ID": f"relay-{self.settings.topic}",
            "LEDGER_CONSUMER_GROUP": f"proj-{self.settings.topic}",
            "LEDGER_DEV_ADMIN_TOKEN": "",
            "LEDGER_DATA_DIR": str(self.settings.data_dir),
            # Tests drive expiry themselves (tests/integration/test_expiry.py).
            "LEDGER_EXPIRY_INTERVAL_SECONDS": "3600"}

    def start(self, role: str) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_dir / f"{role}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "ledger.cli", role], env=self.env(),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs[role] = proc
        return proc

    def stop(self, role: str, kill: bool = False) -> None:
        proc = self.procs.pop(role, None)
        if proc is None or proc.poll() is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def start_all(self) -> None:
        for role in ("relay", "project", "expire", "api"):
            self.start(role)
        self.wait_ready()

    def stop_all(self) -> None:
        for role in list(self.procs):
            self.stop(role)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for role, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{role} exited with {proc.returncode}: "
                                       f"{self.log_tail(role)}")
            try:
                answer = httpx.get(self.base_url + "/readyz", timeout=5)
                if answer.status_code == 200:
                    return
                last = answer.text
            except httpx.HTTPError as err:
                last = str(err)
            time.sleep(0.3)
        raise RuntimeError(f"the API did not become ready: {last}\n{self.log_tail('api')}")

    def log_tail(self, role: str, size: int = 3000) -> str:
        path = self.log_dir / f"{role}.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""


def territory_code() -> str:
    """A fresh ISTAT-shaped code, so tests sharing one stack never see each other's facts."""
    return f"{random.randrange(10**6):06d}"  # noqa: S311
