"""`ledger replay` rebuilds the projections while the API keeps answering, and
`ledger status --json` reports positions and lags that reach zero once caught up."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.auth import TerritoryAuth
from tests.support.scenario import Territory, build_scenario
from tests.support.stack import Roles


def active_schema(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT schema_name FROM projection_generation").fetchone()
    assert row is not None
    return str(row[0])


def ledger(roles: Roles, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "ledger.cli", *args], env=roles.env(),
                          capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def scenario(http: httpx.Client) -> tuple[Territory, dict[str, str]]:
    return build_scenario(http)


def test_replay_switches_schema_while_the_api_keeps_answering(
        http: httpx.Client, roles: Roles, scenario: tuple[Territory, dict[str, str]],
        auth: TerritoryAuth) -> None:
    t, ids = scenario
    people = list(t.actors.values())
    expected = {a: t.get(f"/actors/{a}/balances") for a in people}
    audit_before = t.get("/audit", limit=500)
    before = active_schema(roles.database_url)

    answers: list[tuple[int, Any]] = []
    stop = threading.Event()

    def read_meanwhile() -> None:
        with httpx.Client(base_url=roles.base_url, timeout=30, auth=auth) as client:
            i = 0
            while not stop.is_set():
                actor = people[i % len(people)]
                got = client.get(f"/v1/territories/{t.code}/actors/{actor}/balances")
                answers.append((got.status_code, (actor, got.json())))
                i += 1

    reader = threading.Thread(target=read_meanwhile, daemon=True)
    reader.start()
    try:
        done = ledger(roles, "replay")
    finally:
        stop.set()
        reader.join(30)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    after = active_schema(roles.database_url)
    assert after != before and after in done.stdout.decode()
    assert len(answers) > 5
    assert all(status == 200 for status, _ in answers), answers[:3]
    assert all(body == expected[actor] for _, (actor, body) in answers)

    # Same answers from the rebuilt schema, and the live projector follows it for new writes.
    assert {a: t.get(f"/actors/{a}/balances") for a in people} == expected
    assert t.get("/audit", limit=500) == audit_before
    t.withdraw("contributions", ids["c_luca"])
    assert t.get(f"/contributions/{ids['c_luca']}")["status"] == "withdrawn"
    assert t.get("/audit/verify")["count"] == len(audit_before["items"]) + 1


def test_status_json_reports_positions_and_lags(
        roles: Roles, scenario: tuple[Territory, dict[str, str]]) -> None:
    t, _ = scenario
    t.get("/audit/verify")  # everything written so far is projected
    with psycopg.connect(roles.database_url) as conn:
        row = conn.execute("SELECT max(notification_id) FROM ledger_events").fetchone()
    assert row is not None
    head = int(row[0])

    deadline = time.monotonic() + 30
    while True:
        done = ledger(roles, "status", "--json")
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        status = json.loads(done.stdout)
        lags = [status["relay"]["lag"], status["projections"]["lag_positions"],
                *(status["projections"][p]["lag"] for p in ("items", "history", "audit"))]
        if not any(lags) or time.monotonic() > deadline:
            break
        time.sleep(0.3)

    assert status["database_url"] == roles.database_url
    assert status["kafka_bootstrap"] == roles.bootstrap
    assert status["topic"] == roles.settings.topic
    assert status["event_store"]["head"] == head
    assert status["relay"] == {"position": head, "lag": 0}
    assert status["projections"]["position"] == head
    assert status["projections"]["schema"] == active_schema(roles.database_url)
    assert lags == [0, 0, 0, 0, 0], status
    assert sum(status["projections"]["end_offsets"].values()) > 0
