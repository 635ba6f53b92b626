"""LEDGER_DEV_ADMIN_TOKEN: when set, it is also accepted as an admin bearer token (calls without
a token stay 401 as always); health probes stay open; `ledger up` refuses it in production."""

from __future__ import annotations

import os
import subprocess
import sys

from fastapi.testclient import TestClient

from api.app import create_app
from infra.stack import Services
from ledger.container import Container
from ledger.settings import Settings
from tests.support.stack import territory_code


def test_token_guards_the_api(settings: Settings, services: Services) -> None:
    guarded = settings.model_copy(update={"dev_admin_token": "s3cret-token"})
    container = Container.build(guarded, services.database_url, services.kafka_bootstrap)
    try:
        client = TestClient(create_app(container))
        body = {"code": territory_code(), "name": "Bergamo"}
        missing = client.post("/v1/territories", json=body)
        assert missing.status_code == 401
        assert missing.headers["content-type"].startswith("application/problem+json")
        wrong = client.post("/v1/territories", json=body,
                            headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = client.post("/v1/territories", json=body,
                            headers={"Authorization": "Bearer s3cret-token"})
        assert right.status_code == 201
        assert client.get(f"/v1/territories/{body['code']}/themes").status_code == 401
        assert client.get("/healthz").status_code == 200
    finally:
        container.close()


def test_up_refuses_the_token_in_production() -> None:
    env = os.environ | {"LEDGER_ENV": "production", "LEDGER_DEV_ADMIN_TOKEN": "x"}
    result = subprocess.run([sys.executable, "-m", "ledger.cli", "up"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refused" in result.stderr
