"""Long-running roles (relay, projector, API) and the supervisor that `ledger up` runs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ledger.settings import Settings

log = logging.getLogger(__name__)
ROLES = ("relay", "project", "expire", "api")


def watch_parent() -> None:
    """Exit when the supervisor that started us is gone, so no process is left behind."""
    parent = os.environ.get("LEDGER_PARENT_PID")
    if not parent:
        return

    def watch() -> None:
        while True:
            if os.getppid() != int(parent):
                os._exit(0)
            time.sleep(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def on_stop(callback: Callable[[], None]) -> None:
    def handler(signum: int, _: object) -> None:
        log.info("signal %d: stopping", signum)
        callback()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Supervisor:
    """Starts each role as a child process, restarts one that dies, stops all on a signal."""

    def __init__(self, settings: Settings, database_url: str, bootstrap: str,
                 log_dir: Path, heal: Callable[[], list[str]] | None = None) -> None:
        self.env = os.environ | {
            "LEDGER_DATABASE_URL": database_url, "LEDGER_KAFKA_BOOTSTRAP": bootstrap,
            "LEDGER_PARENT_PID": str(os.getpid()), "LEDGER_TOPIC": settings.topic,
            "LEDGER_HTTP_HOST": settings.http_host, "LEDGER_HTTP_PORT": str(settings.http_port)}
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()
        self.heal = heal
        self.heal_backoff = 1.0
        self.next_heal = 0.0

    def _spawn(self, role: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_dir / f"{role}.log", "ab")  # noqa: SIM115 - the child owns it
        self.children[role] = subprocess.Popen(
            [sys.executable, "-m", "ledger.cli", role], env=self.env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.info("started %s (pid %d), log in %s", role, self.children[role].pid,
                 self.log_dir / f"{role}.log")

    def run(self) -> None:
        for role in ROLES:
            self._spawn(role)
        while not self.stopping.wait(0.5):
            self._heal_services()
            for role, proc in list(self.children.items()):
                if proc.poll() is not None and not self.stopping.is_set():
                    log.warning("%s exited with %s; restarting", role, proc.returncode)
                    time.sleep(1)
                    self._spawn(role)

    def _heal_services(self) -> None:
        """Restart a crashed embedded PostgreSQL or Kafka, backing off while it keeps failing;
        the roles reconnect by themselves or exit and are restarted below."""
        if self.heal is None or time.monotonic() < self.next_heal:
            return
        try:
            restarted = self.heal()
        except Exception:  # noqa: BLE001 - try again later, never give up the other roles
            log.exception("restarting a service failed; next try in %.0fs", self.heal_backoff)
            self.next_heal = time.monotonic() + self.heal_backoff
            self.heal_backoff = min(self.heal_backoff * 2, 30.0)
            return
        if restarted:
            log.warning("restarted %s", ", ".join(restarted))
        self.heal_backoff = 1.0
        self.next_heal = time.monotonic() + 1.0

    def stop(self) -> None:
        self.stopping.set()
        for role in reversed(ROLES):
            proc = self.children.get(role)
            if proc and proc.poll() is None:
                proc.terminate()
        for role, proc in self.children.items():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop; killing it", role)
                proc.kill()
                proc.wait()
