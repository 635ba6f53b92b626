"""An actor playing two roles in one fact appears once in its history, with both roles,
so paging by position never skips an entry."""

from __future__ import annotations

import httpx

from tests.support.stack import territory_code


def test_self_match_pages_without_losing_entries(http: httpx.Client) -> None:
    code = territory_code()
    http.post("/v1/territories", json={"code": code, "name": "Legnano"})
    t = f"/v1/territories/{code}"
    ets = http.post(f"{t}/actors", json={"kind": "ets", "display_name": "Emporio"}).json()
    given = http.post(f"{t}/contributions", json={
        "contributor_id": ets["id"], "resource_kind": "goods", "unit": "gram", "quantity": 5000,
        "theme": "cts.u"}).json()
    asked = http.post(f"{t}/requests", json={
        "beneficiary_id": ets["id"], "resource_kind": "goods", "unit": "gram", "quantity": 3000,
        "theme": "cts.u"}).json()
    match = http.post(f"{t}/matches", json={"contribution_id": given["id"],
                                            "request_id": asked["id"], "quantity": 2000}).json()
    done = http.post(f"{t}/matches/{match['id']}/fulfilments", json={"quantity": 500})
    assert done.status_code == 201
    position = done.json()["position"]

    whole = http.get(f"{t}/actors/{ets['id']}/history",
                     params={"min_position": position, "limit": 500}).json()["items"]
    positions = [i["position"] for i in whole]
    assert positions == sorted(set(positions))
    recorded = [i for i in whole if i["type"] == "it.ledger.fulfilment.recorded.v1"]
    assert len(recorded) == 1 and sorted(recorded[0]["roles"]) == ["beneficiary", "contributor"]

    paged, after = [], None
    while True:
        params = {"limit": 1} | ({"after": after} if after else {})
        page = http.get(f"{t}/actors/{ets['id']}/history", params=params).json()
        paged += page["items"]
        after = page["next"]
        if after is None:
            break
    assert paged == whole

    balances = http.get(f"{t}/actors/{ets['id']}/balances").json()["balances"]
    assert balances == [{"resource_kind": "goods", "unit": "gram", "pledged": 5000,
                         "reserved": 1500, "delivered": 500, "available": 3000,
                         "received": 500, "requested_open": 1000}]
