"""A small territory for the console's tests, built over the API like a Comune would.

Auser (an ETS) follows Rosa and offers food parcels and volunteer time; Acme (a company)
offers money and gives chairs at a declared cost, one delivery of which is already recorded;
Giulia needs money for her family. The Comune asks its approval of every ETS match, and Auser
has already proposed one: its parcels to Rosa.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ledger.access import Role
from ledger.container import Container
from tests.support.auth import bearer, make_key
from tests.support.stack import Roles, territory_code


def _ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


@dataclass
class World:
    code: str
    ids: dict[str, str]
    operator_token: str
    company_token: str
    ets_token: str
    proposal: dict[str, Any]
    last_position: int


def build(http: httpx.Client, container: Container, roles: Roles) -> World:
    code = territory_code()
    t = f"/v1/territories/{code}"
    _ok(http.post("/v1/territories", json={"code": code, "name": "Comune di Voghera"}))
    _ok(http.post(f"{t}/programmes", json={"code": "famiglie", "name": "Famiglie e minori"}))
    ids: dict[str, str] = {}

    def actor(name: str, body: dict[str, Any]) -> str:
        ids[name] = _ok(http.post(f"{t}/actors", json=body))["id"]
        return ids[name]

    def offer(name: str, body: dict[str, Any]) -> str:
        ids[name] = _ok(http.post(f"{t}/contributions", json=body))["id"]
        return ids[name]

    def need(name: str, body: dict[str, Any]) -> str:
        ids[name] = _ok(http.post(f"{t}/requests", json=body))["id"]
        return ids[name]

    auser = actor("auser", {"kind": "ets", "display_name": "Auser Voghera", "runts_id": "R-123"})
    acme = actor("acme", {"kind": "company", "display_name": "Acme S.p.A.",
                          "vat_number": "IT01234567890"})
    rosa = actor("rosa", {"kind": "citizen", "display_name": "Rosa Verdi", "case_owner_id": auser,
                          "zone": "centro", "personal": {"full_name": "Rosa Verdi"}})
    giulia = actor("giulia", {"kind": "citizen", "display_name": "Giulia Neri", "zone": "nord"})
    actor("parish", {"kind": "institution", "display_name": "Parrocchia San Pietro"})
    offer("parcels", {"contributor_id": auser, "resource_kind": "goods", "unit": "item",
                      "quantity": 20, "theme": "cts.u", "description": "pacchi alimentari"})
    offer("hours", {"contributor_id": auser, "resource_kind": "time", "unit": "minute",
                    "quantity": 600, "theme": "cts.a"})
    offer("money", {"contributor_id": acme, "resource_kind": "money", "unit": "eur_cent",
                    "quantity": 50_000, "theme": "area.families_minors",
                    "motivation": "community_investment", "programme": "famiglie"})
    offer("chairs", {"contributor_id": acme, "resource_kind": "goods", "unit": "item",
                     "quantity": 10, "theme": "cts.u", "motivation": "charitable_gift",
                     "cost_eur_cent": 2_500})
    need("rosa_parcels", {"beneficiary_id": rosa, "resource_kind": "goods", "unit": "item",
                          "quantity": 5, "theme": "cts.u", "urgency": "high",
                          "description": "spesa per due settimane"})
    need("giulia_money", {"beneficiary_id": giulia, "resource_kind": "money", "unit": "eur_cent",
                          "quantity": 20_000, "theme": "area.families_minors",
                          "programme": "famiglie"})
    need("parish_chairs", {"beneficiary_id": ids["parish"], "resource_kind": "goods",
                           "unit": "item", "quantity": 4, "theme": "cts.u"})
    chairs = _ok(http.post(f"{t}/matches", json={"contribution_id": ids["chairs"],
                                                 "request_id": ids["parish_chairs"],
                                                 "quantity": 4}))
    _ok(http.post(f"{t}/matches/{chairs['id']}/fulfilments", json={"quantity": 4}))
    _ok(http.put(f"{t}/approval-policy", json={"required_for": ["ets"], "approvers": 1}))

    ets_token = make_key(container.api_keys, Role.ETS, [code], auser, name="Auser, sportello")
    with httpx.Client(base_url=roles.base_url, timeout=30, headers=bearer(ets_token)) as ets:
        proposal = _ok(ets.post(f"{t}/matches", json={"contribution_id": ids["parcels"],
                                                      "request_id": ids["rosa_parcels"],
                                                      "quantity": 5}))
    assert proposal["status"] == "proposed"
    operator = make_key(container.api_keys, Role.MUNICIPALITY, [code],
                        name="Anna Bianchi, servizi sociali")
    company = make_key(container.api_keys, Role.COMPANY, [code], acme, name="Acme, CSR office")
    # Pages read the projections: let them catch up with the whole world before any test looks.
    caught_up = http.get(f"{t}/matches", params={"min_position": proposal["position"]})
    assert caught_up.status_code == 200, caught_up.text
    return World(code, ids, operator, company, ets_token, proposal, proposal["position"])
