"""`ledger import FILE` (CONTRACT.md, "Import of history"): JSON lines through the same rules as
the API; a second import records nothing; a bad line exits 1 naming it, and nothing of the file
is recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ledger.importer import ref_id
from tests.support.stack import Roles, territory_code

pytestmark = pytest.mark.integration


def _history(code: str) -> list[dict[str, Any]]:
    return [
        {"command": "register_territory", "territory": code, "name": "Comune di Casalpusterlengo"},
        {"command": "register_actor", "territory": code, "ref": "auser", "kind": "ets",
         "display_name": "Auser Casale"},
        {"command": "register_actor", "territory": code, "ref": "rosa", "kind": "citizen",
         "display_name": "Rosa Neri", "personal": {"fiscal_code": "NRERSO40A41B910X"}},
        {"command": "pledge", "territory": code, "ref": "hours", "contributor_id": "auser",
         "resource_kind": "time", "unit": "minute", "quantity": 600, "theme": "cts.a"},
        {"command": "post_request", "territory": code, "ref": "visits", "beneficiary_id": "rosa",
         "resource_kind": "time", "unit": "minute", "quantity": 240, "theme": "cts.a"},
        {"command": "match", "territory": code, "ref": "m1", "contribution_id": "hours",
         "request_id": "visits", "quantity": 240},
        {"command": "fulfil", "territory": code, "ref": "f1", "match_id": "m1", "quantity": 120,
         "fulfilled_on": "2019-03-14"},
        {"command": "fulfil", "territory": code, "ref": "f2", "match_id": "m1", "quantity": 120,
         "fulfilled_on": "2019-03-21"},
    ]


def _write(path: Path, facts: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(f) + "\n" for f in facts))
    return path


def _import(roles: Roles, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger.cli", "import", str(path)],
                          env=roles.env(), capture_output=True, text=True, timeout=120)


def _events(database_url: str, code: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_events WHERE convert_from(state, 'UTF8')"
                           " LIKE %s", (f'%"territory":"{code}"%',)).fetchone()
    assert row is not None
    return int(row[0])


def test_import_records_once_and_keeps_dates(roles: Roles, tmp_path: Path) -> None:
    code = territory_code()
    path = _write(tmp_path / "history.jsonl", _history(code))
    first = _import(roles, path)
    assert first.returncode == 0, first.stderr
    recorded = _events(roles.database_url, code)
    # territory, 2 actors, pledge, request, match (+2 side events), 2 fulfilments (+3 each)
    assert recorded == 1 + 2 + 1 + 1 + 3 + 2 * 4
    assert f"{recorded} events recorded" in first.stdout
    again = _import(roles, path)
    assert again.returncode == 0 and "imported before" in again.stdout
    assert _events(roles.database_url, code) == recorded
    with psycopg.connect(roles.database_url) as conn:
        state = conn.execute("SELECT convert_from(state, 'UTF8') FROM ledger_events WHERE "
                             "originator_id = %s", (ref_id(code, "f1"),)).fetchone()
    assert state is not None and '"fulfilled_on":"2019-03-14"' in state[0].replace(" ", "")
    assert "NRERSO40A41B910X" not in state[0]


@pytest.mark.parametrize(("bad", "line", "why"), [
    ({"command": "match", "contribution_id": "hours", "request_id": "visits", "quantity": 9999},
     6, "OverAllocationError"),
    ({"command": "fly", "contribution_id": "hours"}, 6, "unknown command"),
    ({"command": "match", "contribution_id": "hours", "colour": "red"}, 6, "unknown fields"),
])
def test_a_bad_line_is_named_and_nothing_is_recorded(roles: Roles, tmp_path: Path,
                                                     bad: dict[str, Any], line: int,
                                                     why: str) -> None:
    code = territory_code()
    facts = _history(code)
    facts[line - 1] = bad | {"territory": code, "ref": "m1"}
    result = _import(roles, _write(tmp_path / "bad.jsonl", facts))
    assert result.returncode == 1
    assert f"line {line}" in result.stderr and why in result.stderr
    assert "nothing of" in result.stderr
    assert _events(roles.database_url, code) == 0
