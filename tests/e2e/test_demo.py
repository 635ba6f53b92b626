"""`ledger demo` loads a realistic territory through the API, and loading it again records
nothing new (every call carries an Idempotency-Key)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import psycopg

from ledger.apikeys import ensure_admin_key, read_admin_key
from ledger.container import Container
from ledger.demo import TERRITORY, load_demo
from ledger.settings import Settings
from tests.support.stack import Roles


def _stored(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_events").fetchone()
    assert row is not None
    return int(row[0])


def test_demo_loads_once(roles: Roles, http: httpx.Client, container: Container,
                         settings: Settings) -> None:
    # The admin key that `ledger up` keeps in the data directory; the CLI finds it by itself.
    ensure_admin_key(container.api_keys, settings.admin_key_path)
    token = read_admin_key(settings.admin_key_path)
    assert token
    first = load_demo(roles.base_url, token)
    stored = _stored(roles.database_url)
    env = {k: v for k, v in roles.env().items() if k != "LEDGER_TOKEN"}
    again = subprocess.run([sys.executable, "-m", "ledger.cli", "demo", "--base-url",
                            roles.base_url], env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    assert _stored(roles.database_url) == stored
    assert '"ids"' in again.stdout and first["ids"]["marco"] in again.stdout

    t = f"/v1/territories/{TERRITORY['code']}"
    marco = http.get(f"{t}/actors/{first['ids']['marco']}/balances",
                     params={"min_position": first["position"]}).json()["balances"]
    assert marco == [{"resource_kind": "time", "unit": "minute", "pledged": 1200,
                      "reserved": 120, "delivered": 240, "available": 840, "received": 0,
                      "requested_open": 0}]
    family = http.get(f"{t}/actors/{first['ids']['famiglia']}/balances").json()["balances"]
    assert {(b["resource_kind"], b["received"], b["requested_open"]) for b in family} == {
        ("goods", 2, 0), ("money", 60000, 0)}
    assert http.get(f"{t}/audit/verify").json()["verified"] is True
