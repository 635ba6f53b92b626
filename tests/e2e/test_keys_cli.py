"""`ledger keys create|list|revoke` work on the database of the running ledger: the token is
printed once, works over HTTP at once, never appears in the listing, and stops working when
revoked."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.support.auth import bearer
from tests.support.stack import Roles, territory_code

pytestmark = pytest.mark.e2e


def _ledger(roles: Roles, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger.cli", "keys", *args], env=roles.env(),
                          capture_output=True, text=True, timeout=120)


def test_keys_from_the_command_line(roles: Roles, http: httpx.Client) -> None:
    code = territory_code()
    assert http.post("/v1/territories", json={"code": code, "name": "Cremona"}).status_code == 201
    made = _ledger(roles, "create", "--name", "Ufficio di piano", "--role", "auditor",
                   "--territory", code)
    assert made.returncode == 0, made.stderr
    key: dict[str, Any] = json.loads(made.stdout)
    assert (key["role"], key["territories"], key["created_by"]) == ("auditor", [code], "cli")
    me = httpx.get(f"{roles.base_url}/v1/me", headers=bearer(key["token"]))
    assert me.json()["id"] == key["id"]

    listed = _ledger(roles, "list")
    assert listed.returncode == 0 and key["id"] in listed.stdout
    assert key["token"] not in listed.stdout

    refused = _ledger(roles, "create", "--name", "x", "--role", "ets", "--territory", code)
    assert refused.returncode == 2 and "actor" in refused.stderr
    assert _ledger(roles, "create", "--name", "x", "--role", "wizard").returncode == 2

    revoked = _ledger(roles, "revoke", key["id"])
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked_at"]
    assert httpx.get(f"{roles.base_url}/v1/me", headers=bearer(key["token"])).status_code == 401
