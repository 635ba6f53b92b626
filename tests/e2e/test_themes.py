"""The theme catalogue: CTS art. 5 letters and programme areas, plus the territory's own."""

from __future__ import annotations

import httpx

from tests.support.stack import territory_code


def test_catalogue_has_cts_letters_and_territory_codes(http: httpx.Client) -> None:
    code = territory_code()
    assert http.post("/v1/territories", json={"code": code, "name": "Crema"}).status_code == 201
    own = http.post(f"/v1/territories/{code}/themes",
                    json={"code": "crema.housing_first", "label": "Housing first"})
    assert own.status_code == 201, own.text
    answer = http.get(f"/v1/territories/{code}/themes",
                      params={"min_position": own.json()["position"]})
    assert answer.status_code == 200
    codes = {item["code"]: item for item in answer.json()["items"]}
    assert {f"cts.{chr(c)}" for c in range(ord("a"), ord("z") + 1)} <= set(codes)
    assert codes["crema.housing_first"]["source"] == "territory"
    assert codes["cts.a"]["source"] == "cts"
    again = http.post(f"/v1/territories/{code}/themes",
                      json={"code": "crema.housing_first", "label": "Again"})
    assert again.status_code == 409
    builtin = http.post(f"/v1/territories/{code}/themes", json={"code": "cts.a", "label": "x"})
    assert builtin.status_code in (409, 422)


def test_pledge_with_territory_theme_is_accepted(http: httpx.Client) -> None:
    code = territory_code()
    http.post("/v1/territories", json={"code": code, "name": "Como"})
    http.post(f"/v1/territories/{code}/themes", json={"code": "como.lake", "label": "Lago"})
    actor = http.post(f"/v1/territories/{code}/actors",
                      json={"kind": "company", "display_name": "Lario SpA"}).json()
    ok = http.post(f"/v1/territories/{code}/contributions",
                   json={"contributor_id": actor["id"], "resource_kind": "money",
                         "unit": "eur_cent", "quantity": 1000, "theme": "como.lake"})
    assert ok.status_code == 201, ok.text
    unknown = http.post(f"/v1/territories/{code}/contributions",
                        json={"contributor_id": actor["id"], "resource_kind": "money",
                              "unit": "eur_cent", "quantity": 1000, "theme": "como.nothing"})
    assert unknown.status_code == 409
    assert unknown.json()["type"].endswith("unknown-theme")
