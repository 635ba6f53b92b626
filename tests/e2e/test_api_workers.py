"""`ledger api` on several worker processes (LEDGER_HTTP_WORKERS): every worker serves, the
metrics of all of them are on /metrics, and killing the API leaves no worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.kafka import free_port
from tests.support.auth import bearer
from tests.support.stack import Roles, territory_code

pytestmark = pytest.mark.e2e


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_serve_share_metrics_and_die_with_the_api(roles: Roles, admin_token: str,
                                                          tmp_path: Path) -> None:
    port = free_port()
    env = roles.env() | {"LEDGER_HTTP_PORT": str(port), "LEDGER_HTTP_WORKERS": "2",
                         "LEDGER_DATA_DIR": str(roles.settings.data_dir)}
    log = open(tmp_path / "api.log", "wb")  # noqa: SIM115
    api = subprocess.Popen([sys.executable, "-m", "ledger.cli", "api"], env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10, headers=bearer(admin_token)) as client:
            deadline = time.monotonic() + 60
            while True:
                assert api.poll() is None, (tmp_path / "api.log").read_text()
                try:
                    if client.get("/healthz").status_code == 200 and len(_children(api.pid)) >= 2:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
                time.sleep(0.3)
            workers = _children(api.pid)
            codes = [territory_code() for _ in range(12)]
            for code in codes:  # new connections: the kernel spreads them over the workers
                with httpx.Client(base_url=base, timeout=10, headers=bearer(admin_token)) as one:
                    created = one.post("/v1/territories", json={"code": code, "name": "Pavia"})
                    assert created.status_code == 201, created.text
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            created_total = sum(
                s.value for f in text_string_to_metric_families(metrics.text) for s in f.samples
                if s.name == "http_requests_total" and s.labels.get("handler") == "/v1/territories"
                and s.labels.get("method") == "POST")
            assert created_total >= len(codes)  # all workers' counts, whichever answered
            assert "ledger_event_store_head" in metrics.text
            # Each worker keeps the keys it has seen; a revocation reaches them all.
            made = client.post("/v1/keys", json={"name": "revoked under workers",
                                                 "role": "auditor", "territories": codes[:1]})
            assert made.status_code == 201, made.text
            token = made.json()["token"]
            for _ in range(12):
                with httpx.Client(base_url=base, timeout=10, headers=bearer(token)) as one:
                    assert one.get("/v1/me").status_code == 200
            assert client.delete(f"/v1/keys/{made.json()['id']}").status_code == 200
            time.sleep(0.5)  # the notification reaches every worker within milliseconds
            for _ in range(12):
                with httpx.Client(base_url=base, timeout=10, headers=bearer(token)) as one:
                    assert one.get("/v1/me").status_code == 401
        os.kill(api.pid, signal.SIGKILL)
        api.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(w) for w in workers):
            assert time.monotonic() < deadline, "a worker outlived the killed API"
            time.sleep(0.2)
        with pytest.raises(httpx.HTTPError):
            httpx.get(base + "/healthz", timeout=2)
    finally:
        if api.poll() is None:
            api.kill()
        log.close()
