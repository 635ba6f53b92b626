"""Operators list what can still be matched: offers and needs filtered by status, theme and
resource, in creation order, page by page."""

from __future__ import annotations

import httpx

from tests.support.stack import territory_code


def test_open_needs_and_available_offers(http: httpx.Client) -> None:
    code = territory_code()
    t = f"/v1/territories/{code}"
    http.post("/v1/territories", json={"code": code, "name": "Bergamo"})
    ets = http.post(f"{t}/actors", json={"kind": "ets", "display_name": "Banco Alimentare"}).json()
    family = http.post(f"{t}/actors", json={"kind": "household", "display_name": "Fam. B.",
                                            "personal": {"full_name": "Luca B."}}).json()

    def need(quantity: int, theme: str, description: str) -> dict:
        return http.post(f"{t}/requests", json={
            "beneficiary_id": family["id"], "resource_kind": "goods", "unit": "gram",
            "quantity": quantity, "theme": theme, "description": description}).json()

    needs = [need(1000, "cts.u", "pasta"), need(2000, "cts.u", "latte"),
             need(500, "area.families_minors", "pannolini"), need(700, "cts.u", "olio")]
    offer = http.post(f"{t}/contributions", json={
        "contributor_id": ets["id"], "resource_kind": "goods", "unit": "gram",
        "quantity": 3000, "theme": "cts.u"}).json()
    http.post(f"{t}/matches", json={"contribution_id": offer["id"],
                                    "request_id": needs[0]["id"], "quantity": 1000})
    last = http.post(f"{t}/matches", json={"contribution_id": offer["id"],
                                           "request_id": needs[1]["id"], "quantity": 500})
    position = last.json()["position"]

    waiting = http.get(f"{t}/requests", params={
        "status": ["open", "partly_matched"], "theme": "cts.u",
        "min_position": position}).json()
    assert [r["id"] for r in waiting["items"]] == [needs[1]["id"], needs[3]["id"]]
    assert [r["open"] for r in waiting["items"]] == [1500, 700]
    assert waiting["items"][0]["description"] == "latte"
    assert waiting["next"] is None

    pages, after = [], None
    while True:
        page = http.get(f"{t}/requests",
                        params={"limit": 1} | ({"after": after} if after else {})).json()
        pages += [r["id"] for r in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert pages == [n["id"] for n in needs]

    offers = http.get(f"{t}/contributions", params={"status": "partly_allocated"}).json()
    assert [(o["id"], o["available"]) for o in offers["items"]] == [(offer["id"], 1500)]
    matches = http.get(f"{t}/matches", params={"contribution_id": offer["id"]}).json()
    assert [m["quantity"] for m in matches["items"]] == [1000, 500]
    assert http.get(f"{t}/requests", params={"status": "x\u0000"}).status_code == 422
    assert http.get("/v1/territories/999999/requests").status_code == 404
