"""A realistic territory driven over HTTP only; every balance and every item state is checked
against the tiny model of the contract's definitions in tests/support/scenario.py."""

from __future__ import annotations

from collections import defaultdict

import httpx
import pytest

from ledger.container import Container
from tests.support.auth import TerritoryAuth
from tests.support.scenario import Territory, build_scenario


@pytest.fixture(scope="module")
def scenario(http: httpx.Client) -> tuple[Territory, dict[str, str]]:
    return build_scenario(http)


def test_scenario_balances_and_states_match_the_model(
        scenario: tuple[Territory, dict[str, str]]) -> None:
    t, _ = scenario
    model = t.model

    for cid in model.contributions:
        got = t.get(f"/contributions/{cid}")
        assert {k: got[k] for k in model.contribution(cid)} == model.contribution(cid), cid
    for rid in model.requests:
        got = t.get(f"/requests/{rid}")
        assert {k: got[k] for k in model.request(rid)} == model.request(rid), rid
    for mid in model.matches:
        got = t.get(f"/matches/{mid}")
        assert {k: got[k] for k in model.match(mid)} == model.match(mid), mid
    for fid, (mid, quantity) in model.fulfilments.items():
        got = t.get(f"/fulfilments/{fid}")
        assert (got["match_id"], got["quantity"], got["reversed"]) == (
            mid, quantity, fid in model.reversed)

    delivered: dict[tuple[str, str], int] = defaultdict(int)
    received: dict[tuple[str, str], int] = defaultdict(int)
    for name, actor_id in t.actors.items():
        got = t.get(f"/actors/{actor_id}/balances")
        assert got["actor_id"] == actor_id
        assert got["balances"] == model.balances(actor_id), name
        for row in got["balances"]:
            delivered[(row["resource_kind"], row["unit"])] += row["delivered"]
            received[(row["resource_kind"], row["unit"])] += row["received"]
    assert delivered == received  # double entry: every unit sums to zero
    assert {k for k, v in delivered.items() if v} == {
        ("time", "minute"), ("money", "eur_cent"), ("service", "minute"), ("goods", "gram"),
        ("space", "minute")}

    # Spot checks in plain numbers, so the model itself is checked too.
    maria = {r["unit"]: r for r in t.get(f"/actors/{t.actors['Maria']}/balances")["balances"]}
    assert maria["minute"] == {"resource_kind": "time", "unit": "minute", "pledged": 600,
                               "reserved": 120, "delivered": 210, "available": 270,
                               "received": 0, "requested_open": 0}
    giulia = t.get(f"/actors/{t.actors['Giulia']}/balances")["balances"]
    assert [(r["pledged"], r["reserved"], r["delivered"], r["available"]) for r in giulia] == [
        (50, 0, 50, 0)]
    rossi = {(r["resource_kind"], r["unit"]): r
             for r in t.get(f"/actors/{t.actors['Famiglia Rossi']}/balances")["balances"]}
    assert (rossi[("money", "eur_cent")]["received"],
            rossi[("money", "eur_cent")]["requested_open"]) == (100_000, 30_000)
    assert (rossi[("time", "minute")]["received"],
            rossi[("time", "minute")]["requested_open"]) == (230, 550)
    luca_items = [r for r in t.get(f"/actors/{t.actors['Luca']}/balances")["balances"]
                  if r["unit"] == "item"]
    assert [(r["pledged"], r["available"], r["received"], r["requested_open"])
            for r in luca_items] == [(10, 10, 0, 15)]


def test_history_is_ordered_and_pages_without_loss(
        scenario: tuple[Territory, dict[str, str]]) -> None:
    t, ids = scenario
    rossi = t.actors["Famiglia Rossi"]
    whole = t.get(f"/actors/{rossi}/history", limit=500)
    assert whole["next"] is None
    items = whole["items"]
    positions = [i["position"] for i in items]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert items[0]["type"] == "it.ledger.actor.registered.v1" and items[0]["roles"] == ["self"]
    assert all(i["roles"] == ["beneficiary"] for i in items[1:])
    subjects = {i["aggregate_id"] for i in items}
    assert {ids[k] for k in ids if k.startswith("r_rossi")} <= subjects
    assert not {ids[k] for k in ids if k.startswith("r_luca")} & subjects
    assert all("_sealed" not in key for i in items for key in i["data"])

    paged, after = [], None
    while True:
        page = t.get(f"/actors/{rossi}/history", limit=4,
                     **({"after": after} if after is not None else {}))
        paged += page["items"]
        assert len(page["items"]) <= 4
        after = page["next"]
        if after is None:
            break
    assert paged == items

    # The employer sees its employee's volunteering, in the role of employer.
    acme = t.get(f"/actors/{t.actors['Acme SpA']}/history", limit=500)["items"]
    pairs = {(i["aggregate_id"], role) for i in acme for role in i["roles"]}
    assert pairs >= {(ids["c_maria"], "employer"), (ids["c_acme_money"], "contributor")}


def test_audit_pages_and_verifies(http: httpx.Client, auth: TerritoryAuth, container: Container,
                                  scenario: tuple[Territory, dict[str, str]]) -> None:
    t, _ = scenario
    items, after, pages = [], None, 0
    while True:
        page = t.get("/audit", limit=7, **({"after": after} if after is not None else {}))
        items += page["items"]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert pages > 3
    assert [i["seq"] for i in items] == list(range(1, len(items) + 1))
    assert items[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(items, items[1:], strict=False))
    assert [i["position"] for i in items] == sorted(i["position"] for i in items)
    assert items[-1]["position"] == t.position
    assert len({i["event_id"] for i in items}) == len(items)
    # Who acted is the authenticated key: the admin registered the territory, the Comune's
    # operator everything else.
    admin = container.api_keys.authenticate(auth.admin_token)
    comune = container.api_keys.authenticate(auth.token_for(f"/v1/territories/{t.code}"))
    assert admin and comune
    assert items[0]["operator_id"] == str(admin.id)
    assert {i["operator_id"] for i in items[1:]} == {str(comune.id)}

    verified = t.get("/audit/verify")
    assert verified["verified"] is True
    assert (verified["count"], verified["head_hash"]) == (len(items), items[-1]["hash"])

    bad = http.get(f"/v1/territories/{t.code}/audit", params={"after": "x1"})
    assert bad.status_code == 422
