"""`ledger up` (what `make run` runs): serves health and readiness, stops every process it
started on Ctrl-C, and a second start resumes on the same data. The first start makes an
admin key, prints it once and keeps it (0600); the second prints none and the key still works;
without a key every /v1 call is 401."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra.kafka import free_port


def _processes_mentioning(path: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(cmdline)
    return found


def _start(data_dir: Path, port: int, kafka: int, controller: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env |= {"LEDGER_DATA_DIR": str(data_dir), "LEDGER_HTTP_PORT": str(port),
            "LEDGER_KAFKA_PORT": str(kafka), "LEDGER_KAFKA_CONTROLLER_PORT": str(controller)}
    return subprocess.Popen([sys.executable, "-m", "ledger.cli", "up"], env=env,
                            stdout=open(data_dir.parent / "up.log", "ab"),  # noqa: SIM115
                            stderr=subprocess.STDOUT)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, "ledger up exited early"
        try:
            if httpx.get(base + "/readyz", timeout=3).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("ledger up did not become ready")


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0


def test_up_serves_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port, kafka, controller = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"

    proc = _start(data_dir, port, kafka, controller)
    try:
        _wait_ready(base, proc)
        assert httpx.get(base + "/healthz").status_code == 200
        key_file = data_dir / "admin.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        token = key_file.read_text().strip()
        assert token.startswith("lk_")
        assert (data_dir.parent / "up.log").read_text().count(token) == 1  # printed once
        for path in ("/v1/me", "/v1/territories/019035", "/v1/keys"):
            refused = httpx.get(base + path)
            assert refused.status_code == 401, (path, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.headers["www-authenticate"] == "Bearer"
        assert httpx.get(base + "/v1/me", headers={"Authorization": "Bearer lk_nope"}
                         ).status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(base + "/v1/me", headers=auth).json()["role"] == "admin"
        created = httpx.post(base + "/v1/territories", json={"code": "019035", "name": "Crema"},
                             headers=auth)
        assert created.status_code == 201
        position = created.json()["position"]
        seen = httpx.get(base + "/v1/territories/019035", params={"min_position": position},
                         headers=auth)
        assert seen.status_code == 200
    finally:
        _interrupt(proc)
    assert _processes_mentioning(data_dir) == []

    proc = _start(data_dir, port, kafka, controller)
    try:
        _wait_ready(base, proc)
        assert key_file.read_text().strip() == token
        assert (data_dir.parent / "up.log").read_text().count("lk_") == 1  # no new key printed
        again = httpx.get(base + "/v1/territories/019035", headers=auth)
        assert again.status_code == 200 and again.json()["name"] == "Crema"
        dup = httpx.post(base + "/v1/territories", json={"code": "019035", "name": "Crema"},
                         headers=auth)
        assert dup.status_code == 409
    finally:
        _interrupt(proc)
    assert _processes_mentioning(data_dir) == []
