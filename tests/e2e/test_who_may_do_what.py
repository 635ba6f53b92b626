"""Who may do what, end to end: every role × every route family × own and other territory,
with the exact status; and nothing personal ever reaches a company, auditor or service key.

Two territories hold the same cast: the Comune, an ETS (Auser) that follows Rosa, a company
(Acme) and its employee Marco. Each territory has a key of every role (ets and company keys act
for Auser and Acme); under an approval policy the ETS has proposed one match per role.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ledger.access import Role
from ledger.container import Container
from tests.support.auth import bearer, make_key
from tests.support.stack import Roles, territory_code

pytestmark = pytest.mark.e2e

ROSA = {"full_name": "Rosa Colombo", "fiscal_code": "CLMRSO40A41M109K", "email": "rosa@example.it"}
NEED_TEXT = "Accompagnamento settimanale in dialisi"
SECRETS = (ROSA["full_name"], ROSA["fiscal_code"], ROSA["email"], NEED_TEXT, "Marco Ferrari")
CIPHERTEXT = re.compile(r"\bv1\.[A-Za-z0-9_-]{20,}")
ROLES = (Role.ADMIN, Role.MUNICIPALITY, Role.ETS, Role.COMPANY, Role.AUDITOR, Role.SERVICE)


@dataclass
class Place:
    code: str
    ids: dict[str, str] = field(default_factory=dict)
    tokens: dict[Role, str] = field(default_factory=dict)
    proposed: dict[Role, str] = field(default_factory=dict)


def _ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _place(http: httpx.Client, container: Container, admin: str) -> Place:
    place = Place(territory_code())
    t = f"/v1/territories/{place.code}"
    _ok(http.post("/v1/territories", json={"code": place.code, "name": f"Comune {place.code}"},
                  headers=bearer(admin)))
    ids = place.ids
    ids["auser"] = _ok(http.post(f"{t}/actors", json={"kind": "ets", "display_name": "Auser"}))["id"]
    ids["acme"] = _ok(http.post(f"{t}/actors", json={"kind": "company",
                                                    "display_name": "Acme SpA"}))["id"]
    ids["marco"] = _ok(http.post(f"{t}/actors", json={
        "kind": "citizen", "display_name": "Marco Ferrari", "employer_id": ids["acme"]}))["id"]
    ids["rosa"] = _ok(http.post(f"{t}/actors", json={
        "kind": "citizen", "display_name": ROSA["full_name"], "personal": ROSA,
        "case_owner_id": ids["auser"]}))["id"]
    ids["gift"] = _ok(http.post(f"{t}/contributions", json={
        "contributor_id": ids["acme"], "resource_kind": "time", "unit": "minute",
        "quantity": 600, "theme": "cts.a", "motivation": "community_investment",
        "paid_time": True, "description": "Volontariato aziendale"}))["id"]
    ids["need"] = _ok(http.post(f"{t}/requests", json={
        "beneficiary_id": ids["rosa"], "resource_kind": "time", "unit": "minute",
        "quantity": 600, "theme": "cts.a", "description": NEED_TEXT}))["id"]
    match = _ok(http.post(f"{t}/matches", json={"contribution_id": ids["gift"],
                                                "request_id": ids["need"], "quantity": 60}))
    ids["fulfilment"] = _ok(http.post(f"{t}/matches/{match['id']}/fulfilments", json={
        "quantity": 30, "note": "Prima visita, Rosa era stanca"}))["id"]
    for role in ROLES:
        actor = {Role.ETS: ids["auser"], Role.COMPANY: ids["acme"]}.get(role)
        place.tokens[role] = make_key(container.api_keys, role, [place.code], actor)
    _ok(http.put(f"{t}/approval-policy", json={"required_for": ["ets"], "approvers": 1}))
    for role in ROLES:
        proposed = _ok(http.post(f"{t}/matches", headers=bearer(place.tokens[Role.ETS]), json={
            "contribution_id": ids["gift"], "request_id": ids["need"], "quantity": 1}))
        assert proposed["status"] == "proposed"
        place.proposed[role] = proposed["id"]
    # Reads come from the projections: let them catch up with everything written here.
    assert http.get(t, params={"min_position": proposed["position"]}).status_code == 200
    return place


@pytest.fixture(scope="module")
def places(http: httpx.Client, container: Container, admin_token: str) -> tuple[Place, Place]:
    return _place(http, container, admin_token), _place(http, container, admin_token)


Route = Callable[[httpx.Client, Place, Role], httpx.Response]


def _t(p: Place) -> str:
    return f"/v1/territories/{p.code}"


FAMILIES: dict[str, tuple[Route, dict[Role, int]]] = {
    # A company reads its own offer; everybody else may read any offer of their territory.
    "item read": (lambda c, p, r: c.get(f"{_t(p)}/contributions/{p.ids['gift']}"),
                  dict.fromkeys(ROLES, 200)),
    "personal-data read": (lambda c, p, r: c.get(f"{_t(p)}/actors/{p.ids['rosa']}"),
                           dict.fromkeys(ROLES, 200) | {Role.COMPANY: 403}),
    "write": (lambda c, p, r: c.post(f"{_t(p)}/requests", json={
        "beneficiary_id": p.ids["rosa"], "resource_kind": "goods", "unit": "item",
        "quantity": 1, "theme": "cts.u"}),
        {Role.ADMIN: 201, Role.MUNICIPALITY: 201, Role.ETS: 201, Role.COMPANY: 403,
         Role.AUDITOR: 403, Role.SERVICE: 403}),
    "approve": (lambda c, p, r: c.post(f"{_t(p)}/matches/{p.proposed[r]}/approve"),
                dict.fromkeys(ROLES, 403) | {Role.MUNICIPALITY: 201}),
    "report": (lambda c, p, r: c.get(f"{_t(p)}/actors/{p.ids['acme']}/balances"),
               dict.fromkeys(ROLES, 200) | {Role.ETS: 403}),
    "audit": (lambda c, p, r: c.get(f"{_t(p)}/audit"),
              dict.fromkeys(ROLES, 200) | {Role.ETS: 403, Role.COMPANY: 403}),
    "access log": (lambda c, p, r: c.get(f"{_t(p)}/access-log"),
                   dict.fromkeys(ROLES, 403) | {Role.ADMIN: 200, Role.MUNICIPALITY: 200,
                                                Role.AUDITOR: 200}),
    "keys": (lambda c, p, r: c.post("/v1/keys", json={
        "name": f"dashboard {r.value}", "role": "service", "territories": [p.code]}),
        dict.fromkeys(ROLES, 403) | {Role.ADMIN: 201, Role.MUNICIPALITY: 201}),
}


def _expected_elsewhere(role: Role, family: str, at_home: int) -> int:
    """In a territory not its own, everything is 404, except for the admin (all territories)
    and for roles that may never manage keys at all (403 wherever)."""
    if role is Role.ADMIN:
        return at_home
    if family == "keys" and at_home == 403:
        return 403
    return 404


@pytest.fixture(scope="module")
def seen(roles: Roles) -> Iterator[dict[Role, list[str]]]:
    collected: dict[Role, list[str]] = {role: [] for role in ROLES}
    yield collected


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_role_on_route_family(role: Role, family: str, places: tuple[Place, Place],
                              roles: Roles, seen: dict[Role, list[str]]) -> None:
    home, away = places
    route, expected = FAMILIES[family]
    with httpx.Client(base_url=roles.base_url, timeout=30,
                      headers=bearer(home.tokens[role])) as client:
        at_home = route(client, home, role)
        elsewhere = route(client, away, role)
    assert at_home.status_code == expected[role], (family, role, at_home.text)
    assert elsewhere.status_code == _expected_elsewhere(role, family, expected[role]), (
        family, role, "elsewhere", elsewhere.text)
    for answer in (at_home, elsewhere):
        if answer.status_code >= 400:
            assert answer.headers["content-type"].startswith("application/problem+json")
        seen[role].append(answer.text)


def test_personal_data_shows_only_to_the_comune_and_the_ets_of_the_case(
        places: tuple[Place, Place], roles: Roles) -> None:
    home, _ = places
    for role in ROLES:
        with httpx.Client(base_url=roles.base_url, timeout=30,
                          headers=bearer(home.tokens[role])) as client:
            answer = client.get(f"{_t(home)}/actors/{home.ids['rosa']}")
            need = client.get(f"{_t(home)}/requests/{home.ids['need']}")
        if role is Role.COMPANY:
            assert (answer.status_code, need.status_code) == (403, 403)
            continue
        rosa, request = answer.json(), need.json()
        if role in (Role.MUNICIPALITY, Role.ETS):
            assert rosa["personal"] == ROSA and rosa["display_name"] == ROSA["full_name"]
            assert request["description"] == NEED_TEXT
        else:
            assert not {"personal", "display_name"} & rosa.keys(), (role, rosa)
            assert "description" not in request, (role, request)
            assert rosa["kind"] == "citizen" and rosa["erased"] is False
            assert request["quantity"] == 600  # the facts stay visible


def test_every_answer_to_company_auditor_and_service_is_free_of_personal_data(
        places: tuple[Place, Place], roles: Roles, seen: dict[Role, list[str]]) -> None:
    home, _ = places
    ids = home.ids
    reads = [f"{_t(home)}/{path}" for path in (
        f"actors/{ids['rosa']}", f"actors/{ids['marco']}", f"actors/{ids['acme']}",
        f"actors/{ids['rosa']}/history", f"actors/{ids['marco']}/history",
        f"actors/{ids['acme']}/history", f"requests/{ids['need']}", "requests",
        "contributions", f"contributions/{ids['gift']}", "matches",
        f"fulfilments/{ids['fulfilment']}", "audit")]
    for role in (Role.COMPANY, Role.AUDITOR, Role.SERVICE):
        with httpx.Client(base_url=roles.base_url, timeout=30,
                          headers=bearer(home.tokens[role])) as client:
            texts = [client.get(path).text for path in reads] + seen[role]
        assert len(texts) > len(reads)
        for text in texts:
            for secret in SECRETS:
                assert secret not in text, (role, secret, text[:300])
            assert not CIPHERTEXT.search(text), (role, text[:300])
            assert "_sealed" not in text, (role, text[:300])
    # The same reads do show them to the Comune, so the scan can find them.
    with httpx.Client(base_url=roles.base_url, timeout=30,
                      headers=bearer(home.tokens[Role.MUNICIPALITY])) as client:
        comune = " ".join(client.get(path).text for path in reads)
    assert all(secret in comune for secret in SECRETS)


def test_a_company_sees_only_its_own_and_its_employees_offers(
        places: tuple[Place, Place], roles: Roles, http: httpx.Client) -> None:
    home, _ = places
    t = _t(home)
    other = _ok(http.post(f"{t}/contributions", json={
        "contributor_id": home.ids["auser"], "resource_kind": "money", "unit": "eur_cent",
        "quantity": 1000, "theme": "cts.u"}))["id"]
    employee_gift = _ok(http.post(f"{t}/contributions", json={
        "contributor_id": home.ids["marco"], "resource_kind": "time", "unit": "minute",
        "quantity": 120, "theme": "cts.a"}))
    employee = employee_gift["id"]
    with httpx.Client(base_url=roles.base_url, timeout=30,
                      headers=bearer(home.tokens[Role.COMPANY])) as client:
        listed = {i["id"] for i in client.get(f"{t}/contributions", params={
            "limit": 500, "min_position": employee_gift["position"]}).json()["items"]}
        assert {home.ids["gift"], employee} <= listed and other not in listed
        assert client.get(f"{t}/contributions/{other}").status_code == 403
        assert client.get(f"{t}/contributions/{employee}").status_code == 200
        assert client.get(f"{t}/actors/{home.ids['marco']}").status_code == 200
        assert client.get(f"{t}/actors/{home.ids['auser']}").status_code == 403
        fulfilment = client.get(f"{t}/fulfilments/{home.ids['fulfilment']}").json()
        assert "beneficiary_id" not in fulfilment and fulfilment["quantity"] == 30
        assert client.get(f"{t}/requests").status_code == 403
        assert client.get(f"{t}/matches").status_code == 403


def test_an_ets_acts_only_on_its_own_cases(places: tuple[Place, Place], roles: Roles,
                                           http: httpx.Client) -> None:
    home, _ = places
    t = _t(home)
    stranger = _ok(http.post(f"{t}/actors", json={"kind": "citizen",
                                                 "display_name": "Giulia Neri"}))["id"]
    with httpx.Client(base_url=roles.base_url, timeout=30,
                      headers=bearer(home.tokens[Role.ETS])) as ets:
        need = {"resource_kind": "goods", "unit": "item", "quantity": 1, "theme": "cts.u"}
        assert ets.post(f"{t}/requests", json=need | {"beneficiary_id": stranger}
                        ).status_code == 403
        # A person the ETS registers becomes its case, whatever the body says.
        mine = _ok(ets.post(f"{t}/actors", json={"kind": "household",
                                                 "display_name": "Famiglia Russo"}))
        assert mine["case_owner_id"] == home.ids["auser"]
        assert mine["display_name"] == "Famiglia Russo"
        _ok(ets.post(f"{t}/requests", json=need | {"beneficiary_id": mine["id"]}))
        assert ets.post(f"{t}/actors", json={"kind": "company", "display_name": "X"}
                        ).status_code == 403
        giulia = ets.get(f"{t}/actors/{stranger}").json()
        assert "display_name" not in giulia  # not its case: no personal data
        assert ets.post(f"{t}/actors/{mine['id']}/erase").status_code == 403


def test_access_log_records_who_saw_whose_data(places: tuple[Place, Place], roles: Roles,
                                               container: Container) -> None:
    home, _ = places
    t = _t(home)
    rosa = home.ids["rosa"]
    for role in (Role.MUNICIPALITY, Role.ETS, Role.AUDITOR):
        with httpx.Client(base_url=roles.base_url, timeout=30,
                          headers=bearer(home.tokens[role])) as client:
            assert client.get(f"{t}/actors/{rosa}").status_code == 200
    with httpx.Client(base_url=roles.base_url, timeout=30,
                      headers=bearer(home.tokens[Role.AUDITOR])) as auditor:
        log = auditor.get(f"{t}/access-log", params={"subject_id": rosa, "limit": 500}).json()
    entries = [e for e in log["items"] if e["route"] == f"{t}/actors/{rosa}"]
    roles_seen = {e["principal_role"] for e in entries}
    assert {"municipality", "ets"} <= roles_seen and "auditor" not in roles_seen
    ids = {str(k.id) for k in container.api_keys.list()}
    assert all(e["principal_id"] in ids and e["method"] == "GET" for e in entries)
    assert all(set(e) == {"id", "at", "principal_id", "principal_role", "subject_id", "method",
                          "route"} for e in log["items"])


def test_revoked_key_is_refused_at_once(places: tuple[Place, Place], roles: Roles,
                                        admin_token: str) -> None:
    home, _ = places
    with httpx.Client(base_url=roles.base_url, timeout=30, headers=bearer(admin_token)) as admin:
        created = admin.post("/v1/keys", json={"name": "temporary", "role": "auditor",
                                               "territories": [home.code]})
        assert created.status_code == 201
        key = created.json()
        assert key["token"].startswith("lk_") and key["role"] == "auditor"
        me = httpx.get(roles.base_url + "/v1/me", headers=bearer(key["token"])).json()
        assert me == {"id": key["id"], "name": "temporary", "role": "auditor",
                      "territories": [home.code], "actor_id": None, "auth": "api_key"}
        listed = {k["id"]: k for k in admin.get("/v1/keys").json()["items"]}
        assert "token" not in listed[key["id"]] and listed[key["id"]]["last_used_at"]
        assert admin.delete(f"/v1/keys/{key['id']}").json()["revoked_at"]
    refused = httpx.get(roles.base_url + "/v1/me", headers=bearer(key["token"]))
    assert refused.status_code == 401


def test_bad_keys_requests_are_422(roles: Roles, admin_token: str,
                                   places: tuple[Place, Place]) -> None:
    home, _ = places
    with httpx.Client(base_url=roles.base_url, timeout=30, headers=bearer(admin_token)) as admin:
        for body in ({"name": "x", "role": "root", "territories": [home.code]},
                     {"name": "x", "role": "service", "territories": []},
                     {"name": "x", "role": "service", "territories": ["999999"]},
                     {"name": "x", "role": "ets", "territories": [home.code]},
                     {"name": "x", "role": "company", "territories": [home.code],
                      "actor_id": home.ids["auser"]},
                     {"name": "x", "role": "auditor", "territories": [home.code],
                      "actor_id": str(uuid.uuid4())}):
            answer = admin.post("/v1/keys", json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
