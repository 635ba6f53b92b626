"""A command that committed but whose response was never stored (the API died in between)
is answered on retry from what it recorded: same id, same position, nothing recorded again."""

from __future__ import annotations

import hashlib
import json
import uuid

import httpx
import psycopg

from api.writes import ID_NAMESPACE
from ledger.application import Claim
from ledger.commands import Pledge
from ledger.container import Container
from ledger.idempotency import IdempotencyStore
from tests.support.auth import TerritoryAuth
from tests.support.stack import Roles, territory_code


def _events_of(database_url: str, aggregate_id: uuid.UUID) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_events WHERE originator_id = %s",
                           (aggregate_id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_retry_after_a_crash_between_commit_and_response(http: httpx.Client, roles: Roles,
                                                         container: Container,
                                                         auth: TerritoryAuth) -> None:
    code = territory_code()
    http.post("/v1/territories", json={"code": code, "name": "Como"})
    ets = http.post(f"/v1/territories/{code}/actors",
                    json={"kind": "ets", "display_name": "Caritas Como"}).json()
    body = {"contributor_id": ets["id"], "resource_kind": "money", "unit": "eur_cent",
            "quantity": 25000, "theme": "cts.u"}
    path = f"/v1/territories/{code}/contributions"
    operator = container.api_keys.authenticate(auth.token_for(path))
    assert operator is not None
    scope, key = f"{operator.id} POST {path}", f"crash-{code}"

    # What the API does up to the moment it dies: claim the key, run the command under it.
    payload = {"description": None, "employer_id": None, "motivation": None,
               "paid_time": None, "project_ref": None, "valid_until": None,
               "cost_eur_cent": None, "funding_source": None, "programme": None} | body
    fingerprint = hashlib.sha256(json.dumps([scope, payload], sort_keys=True).encode()
                                 ).hexdigest()
    assert IdempotencyStore(container.db).claim(scope, key, fingerprint) is None
    new_id = uuid.uuid5(ID_NAMESPACE, f"{scope}|{key}")
    written = container.app.handle(
        Pledge(code, uuid.UUID(ets["id"]), "money", "eur_cent", 25000, "cts.u"),
        operator.principal(), new_id, Claim(scope, key))

    retry = http.post(f"/v1/territories/{code}/contributions", json=body,
                      headers={"Idempotency-Key": key})
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == str(new_id)
    assert retry.json()["position"] == written.position
    assert retry.headers["Ledger-Position"] == str(written.position)
    again = http.post(f"/v1/territories/{code}/contributions", json=body,
                      headers={"Idempotency-Key": key})
    assert again.json() == retry.json()
    assert _events_of(roles.database_url, new_id) == 1
