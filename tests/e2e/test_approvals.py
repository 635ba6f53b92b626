"""Approval under regia comunale: an ETS-proposed match reserves at once, waits for the
policy's number of distinct municipal approvals (never the proposer's), and only then can be
fulfilled; a rejection releases it; approve and reject racing: one wins, the other is 409.
Who proposed and who approved are on the events."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ledger.access import Role
from ledger.container import Container
from tests.support.auth import bearer, make_key
from tests.support.stack import Roles, territory_code

pytestmark = pytest.mark.e2e


def _ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


class Comune:
    """A territory with an ETS that follows Rosa, two municipal operators and an ETS key."""

    def __init__(self, http: httpx.Client, container: Container, roles: Roles,
                 approvers: int) -> None:
        self.code = territory_code()
        self.t = f"/v1/territories/{self.code}"
        _ok(http.post("/v1/territories", json={"code": self.code, "name": "Crema"}))
        self.ets_id = _ok(http.post(f"{self.t}/actors", json={"kind": "ets",
                                                             "display_name": "Caritas"}))["id"]
        self.offer = _ok(http.post(f"{self.t}/contributions", json={
            "contributor_id": self.ets_id, "resource_kind": "goods", "unit": "item",
            "quantity": 10, "theme": "cts.u"}))["id"]
        rosa = _ok(http.post(f"{self.t}/actors", json={
            "kind": "citizen", "display_name": "Rosa", "case_owner_id": self.ets_id}))["id"]
        self.need = _ok(http.post(f"{self.t}/requests", json={
            "beneficiary_id": rosa, "resource_kind": "goods", "unit": "item", "quantity": 10,
            "theme": "cts.u"}))["id"]
        policy = _ok(http.put(f"{self.t}/approval-policy",
                              json={"required_for": ["ets"], "approvers": approvers}))
        assert policy == {"territory": self.code, "required_for": ["ets"],
                          "approvers": approvers, "position": policy["position"]}

        def client(role: Role, actor: str | None = None) -> httpx.Client:
            token = make_key(container.api_keys, role, [self.code], actor)
            return httpx.Client(base_url=roles.base_url, timeout=30, headers=bearer(token))
        self.ets = client(Role.ETS, self.ets_id)
        self.anna, self.bruno = client(Role.MUNICIPALITY), client(Role.MUNICIPALITY)
        self.ids = {name: c.get("/v1/me").json()["id"] for name, c in
                    (("ets", self.ets), ("anna", self.anna), ("bruno", self.bruno))}

    def propose(self, quantity: int = 2) -> dict[str, Any]:
        return _ok(self.ets.post(f"{self.t}/matches", json={
            "contribution_id": self.offer, "request_id": self.need, "quantity": quantity}))

    def close(self) -> None:
        for c in (self.ets, self.anna, self.bruno):
            c.close()


def test_a_proposal_waits_for_two_distinct_municipal_approvals(
        http: httpx.Client, container: Container, roles: Roles) -> None:
    comune = Comune(http, container, roles, approvers=2)
    try:
        t = comune.t
        proposed = comune.propose(quantity=3)
        assert (proposed["status"], proposed["proposed_by"]) == ("proposed", comune.ids["ets"])
        assert proposed["approvals_required"] == 2 and proposed["approvals"] == []
        # It already reserves both sides.
        offer = comune.anna.get(f"{t}/contributions/{comune.offer}",
                                params={"min_position": proposed["position"]}).json()
        assert (offer["reserved"], offer["available"]) == (3, 7)
        queue = comune.anna.get(f"{t}/matches", params={"status": "proposed"}).json()["items"]
        assert [m["id"] for m in queue] == [proposed["id"]]

        fulfil = f"{t}/matches/{proposed['id']}/fulfilments"
        early = comune.ets.post(fulfil, json={"quantity": 1})
        assert early.status_code == 409 and early.json()["type"].endswith("match-not-approved")
        own = comune.ets.post(f"{t}/matches/{proposed['id']}/approve")
        assert own.status_code == 403

        first = _ok(comune.anna.post(f"{t}/matches/{proposed['id']}/approve"))
        assert (first["status"], first["approvals"]) == ("proposed", [comune.ids["anna"]])
        twice = comune.anna.post(f"{t}/matches/{proposed['id']}/approve")
        assert twice.status_code == 409 and twice.json()["type"].endswith("already-approved")
        assert comune.ets.post(fulfil, json={"quantity": 1}).status_code == 409

        second = _ok(comune.bruno.post(f"{t}/matches/{proposed['id']}/approve"))
        assert second["status"] == "reserved"
        assert second["approvals"] == [comune.ids["anna"], comune.ids["bruno"]]
        delivered = _ok(comune.ets.post(fulfil, json={"quantity": 1}))
        assert delivered["quantity"] == 1

        audit = comune.anna.get(f"{t}/audit", params={"min_position": delivered["position"],
                                                      "limit": 500}).json()["items"]
        by_type = {}
        for entry in audit:
            if entry["aggregate_id"] == proposed["id"]:
                by_type.setdefault(entry["type"], []).append(entry["operator_id"])
        assert by_type["it.ledger.match.proposed.v1"] == [comune.ids["ets"]]
        assert by_type["it.ledger.match.approved.v1"] == [comune.ids["anna"], comune.ids["bruno"]]
    finally:
        comune.close()


def test_reject_releases_and_races_with_approve(http: httpx.Client, container: Container,
                                               roles: Roles) -> None:
    comune = Comune(http, container, roles, approvers=1)
    try:
        t = comune.t
        rejected = comune.propose(quantity=4)
        gone = _ok(comune.anna.post(f"{t}/matches/{rejected['id']}/reject",
                                    json={"reason": "duplicate of another match"}))
        assert (gone["status"], gone["remaining"]) == ("rejected", 0)
        offer = comune.anna.get(f"{t}/contributions/{comune.offer}",
                                params={"min_position": gone["position"]}).json()
        assert offer["reserved"] == 0 and offer["available"] == 10
        assert comune.anna.post(f"{t}/matches/{rejected['id']}/approve").status_code == 409

        for _ in range(3):
            race = comune.propose(quantity=1)
            with ThreadPoolExecutor(2) as pool:
                approve = pool.submit(comune.anna.post, f"{t}/matches/{race['id']}/approve")
                reject = pool.submit(comune.bruno.post, f"{t}/matches/{race['id']}/reject")
                answers = sorted([approve.result().status_code, reject.result().status_code])
            assert answers == [201, 409], (approve.result().text, reject.result().text)
            final = comune.anna.get(f"{t}/matches/{race['id']}", params={
                "min_position": max(a.json().get("position", 0) for a in
                                    (approve.result(), reject.result()))}).json()
            assert final["status"] in ("reserved", "rejected")
    finally:
        comune.close()


def test_without_a_policy_or_for_municipal_keys_matches_are_reserved_at_once(
        http: httpx.Client, container: Container, roles: Roles) -> None:
    comune = Comune(http, container, roles, approvers=1)
    try:
        made = _ok(comune.anna.post(f"{comune.t}/matches", json={
            "contribution_id": comune.offer, "request_id": comune.need, "quantity": 1}))
        assert made["status"] == "reserved" and made["approvals_required"] == 0
        _ok(comune.anna.put(f"{comune.t}/approval-policy",
                            json={"required_for": [], "approvers": 0}))
        assert comune.propose(quantity=1)["status"] == "reserved"
        for bad in ({"required_for": ["ets"], "approvers": 0},
                    {"required_for": ["wizard"], "approvers": 1},
                    {"required_for": ["ets"], "approvers": 9}):
            answer = comune.anna.put(f"{comune.t}/approval-policy", json=bad)
            assert answer.status_code == 422, (bad, answer.text)
        assert comune.ets.put(f"{comune.t}/approval-policy",
                              json={"required_for": [], "approvers": 0}).status_code == 403
    finally:
        comune.close()
