"""Who acted is the authenticated principal, on every event on the topic, and a body cannot
say otherwise; and the fixes a new user asked for: erasure closes a person's open offers and
needs, errors name the territory code and the allowed values, `ledger audit verify` of an
unknown territory fails."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest

from consumers.audit import read_topic
from ledger.access import Role
from ledger.container import Container
from ledger.records import territory_of
from tests.support.auth import TerritoryAuth, bearer, make_key
from tests.support.stack import Roles, territory_code

pytestmark = pytest.mark.e2e


def _ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_every_event_names_the_authenticated_principal(
        http: httpx.Client, roles: Roles, container: Container, auth: TerritoryAuth) -> None:
    code = territory_code()
    t = f"/v1/territories/{code}"
    _ok(http.post("/v1/territories", json={"code": code, "name": "Lodi"}))
    forged = http.post(f"{t}/actors", json={"kind": "ets", "display_name": "Auser",
                                            "operator_id": "op-forged"})
    assert forged.status_code == 422
    assert ["body", "operator_id"] in [e["loc"] for e in forged.json()["errors"]]
    ets = _ok(http.post(f"{t}/actors", json={"kind": "ets", "display_name": "Auser"}))
    ets_token = make_key(container.api_keys, Role.ETS, [code], ets["id"])
    offer = _ok(http.post(f"{t}/contributions", headers=bearer(ets_token), json={
        "contributor_id": ets["id"], "resource_kind": "goods", "unit": "item", "quantity": 3,
        "theme": "cts.u"}))
    last = offer["position"]
    assert http.get(f"{t}/audit", params={"min_position": last}).status_code == 200

    admin = container.api_keys.authenticate(auth.admin_token)
    comune = container.api_keys.authenticate(auth.token_for(t))
    ets_key = container.api_keys.authenticate(ets_token)
    assert admin and comune and ets_key
    records = [r for r in read_topic(roles.bootstrap, roles.settings.topic)
               if territory_of(r) == code]
    operators = [(r["type"], r["data"]["operator_id"]) for r in records]
    assert operators == [
        ("it.ledger.territory.registered.v1", str(admin.id)),
        ("it.ledger.actor.registered.v1", str(comune.id)),
        ("it.ledger.contribution.pledged.v1", str(ets_key.id)),
    ]


def test_erasure_closes_a_persons_open_offers_and_needs(http: httpx.Client) -> None:
    code = territory_code()
    t = f"/v1/territories/{code}"
    _ok(http.post("/v1/territories", json={"code": code, "name": "Vigevano"}))
    person = _ok(http.post(f"{t}/actors", json={"kind": "citizen", "display_name": "Ada"}))
    other = _ok(http.post(f"{t}/actors", json={"kind": "citizen", "display_name": "Bice"}))
    need = _ok(http.post(f"{t}/requests", json={
        "beneficiary_id": person["id"], "resource_kind": "time", "unit": "minute",
        "quantity": 60, "theme": "cts.a"}))
    offer = _ok(http.post(f"{t}/contributions", json={
        "contributor_id": person["id"], "resource_kind": "time", "unit": "minute",
        "quantity": 60, "theme": "cts.a"}))
    helper = _ok(http.post(f"{t}/contributions", json={
        "contributor_id": other["id"], "resource_kind": "time", "unit": "minute",
        "quantity": 60, "theme": "cts.a"}))
    wanting = _ok(http.post(f"{t}/requests", json={
        "beneficiary_id": other["id"], "resource_kind": "time", "unit": "minute",
        "quantity": 60, "theme": "cts.a"}))
    # Erasure finds the open items in the read model: let it see them first.
    assert http.get(f"{t}/requests/{wanting['id']}",
                    params={"min_position": wanting["position"]}).status_code == 200
    erased = _ok(http.post(f"{t}/actors/{person['id']}/erase"))
    fresh = {"min_position": erased["position"]}
    assert http.get(f"{t}/requests/{need['id']}", params=fresh).json()["status"] == "withdrawn"
    assert http.get(f"{t}/contributions/{offer['id']}").json()["status"] == "withdrawn"
    for body in ({"contribution_id": helper["id"], "request_id": need["id"], "quantity": 10},
                 {"contribution_id": offer["id"], "request_id": wanting["id"], "quantity": 10}):
        refused = http.post(f"{t}/matches", json=body)
        assert refused.status_code == 409, refused.text
    assert http.get(f"{t}/matches", params={"request_id": need["id"]}).json()["items"] == []


def test_errors_name_the_territory_and_the_allowed_values(http: httpx.Client) -> None:
    missing = territory_code()
    answer = http.post(f"/v1/territories/{missing}/actors",
                       json={"kind": "ets", "display_name": "Auser"})
    assert answer.status_code == 404
    assert answer.json()["detail"] == f"territory {missing} not found"
    code = territory_code()
    t = f"/v1/territories/{code}"
    _ok(http.post("/v1/territories", json={"code": code, "name": "Mortara"}))
    ets = _ok(http.post(f"{t}/actors", json={"kind": "ets", "display_name": "Auser"}))
    unknown = http.post(f"{t}/contributions", json={
        "contributor_id": ets["id"], "resource_kind": "time", "unit": "minute",
        "quantity": 1, "theme": "area.unheard_of"})
    assert unknown.status_code == 409
    assert "cts.a" in unknown.json()["detail"] and "area.housing" in unknown.json()["detail"]
    kind = http.post(f"{t}/actors", json={"kind": "alien", "display_name": "X"})
    assert kind.status_code == 422 and "household" in kind.text
    unit = http.post(f"{t}/contributions", json={
        "contributor_id": ets["id"], "resource_kind": "goods", "unit": "minute",
        "quantity": 1, "theme": "cts.u"})
    assert unit.status_code == 422 and "gram, item" in unit.json()["detail"]
    nobody = http.get(f"{t}/actors/{uuid.uuid4()}")
    assert nobody.status_code == 404


def test_audit_verify_of_an_unknown_territory_fails(roles: Roles, http: httpx.Client) -> None:
    code = territory_code()
    _ok(http.post("/v1/territories", json={"code": code, "name": "Voghera"}))
    unknown = territory_code()
    env = roles.env()
    failed = subprocess.run([sys.executable, "-m", "ledger.cli", "audit", "verify", unknown],
                            env=env, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"no records of territory {unknown}" in failed.stdout
