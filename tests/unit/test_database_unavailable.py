"""When PostgreSQL is unreachable the API answers 503 problem+json with Retry-After, not 500."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.settings import Settings


class _DownReads:
    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> None:
            raise psycopg.OperationalError("connection refused")
        return fail


def test_reads_answer_503_when_the_database_is_down() -> None:
    """Even checking the caller's key needs the database: that too is a 503, never a 500."""
    container = SimpleNamespace(settings=Settings(dev_admin_token=None), reads=_DownReads(),
                                api_keys=_DownReads())
    client = TestClient(create_app(container))  # type: ignore[arg-type]
    answer = client.get("/v1/territories/018182", headers={"Authorization": "Bearer lk_anything"})
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["Retry-After"] == "2"
    assert answer.json()["status"] == 503
