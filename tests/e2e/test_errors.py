"""Bad input is never a 500: every refusal is application/problem+json with type, title,
status and detail (and errors [{loc, msg}] for validation), with the status the contract
names: malformed 422, unknown ids 404, rule violations and conflicts 409."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.stack import territory_code

MISSING = "6b0c1a5e-8f7e-4c1e-9a55-0d7f3b1f2a10"


def _ok(http: httpx.Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = http.post(path, json=body if body is not None else {})
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


@pytest.fixture(scope="module")
def world(http: httpx.Client) -> dict[str, str]:
    """One territory with an item in every state the error cases need."""
    code = territory_code()
    b = f"/v1/territories/{code}"
    _ok(http, "/v1/territories", {"code": code, "name": "Voghera"})
    other = territory_code()
    _ok(http, "/v1/territories", {"code": other, "name": "Crema"})
    ets = _ok(http, f"{b}/actors", {"kind": "ets", "display_name": "Auser"})["id"]
    citizen = _ok(http, f"{b}/actors", {"kind": "citizen", "display_name": "Anna"})["id"]
    foreign = _ok(http, f"/v1/territories/{other}/actors",
                  {"kind": "ets", "display_name": "Altrove"})["id"]

    def pledge(quantity: int, kind: str = "time", unit: str = "minute") -> str:
        return _ok(http, f"{b}/contributions", {
            "contributor_id": ets, "resource_kind": kind, "unit": unit, "quantity": quantity,
            "theme": "cts.a"})["id"]

    def ask(quantity: int, kind: str = "time", unit: str = "minute") -> str:
        return _ok(http, f"{b}/requests", {
            "beneficiary_id": citizen, "resource_kind": kind, "unit": unit,
            "quantity": quantity, "theme": "cts.a"})["id"]

    small, big, goods = pledge(50), pledge(1000), pledge(5, "goods", "item")
    request, small_request = ask(1000), ask(10)
    match = _ok(http, f"{b}/matches", {"contribution_id": small, "request_id": request,
                                       "quantity": 40})["id"]
    fulfilment = _ok(http, f"{b}/matches/{match}/fulfilments", {"quantity": 10})["id"]
    reversed_ = _ok(http, f"{b}/matches/{match}/fulfilments", {"quantity": 5})["id"]
    _ok(http, f"{b}/fulfilments/{reversed_}/reverse", {"reason": "recorded twice"})
    cancelled = _ok(http, f"{b}/matches", {"contribution_id": big, "request_id": request,
                                           "quantity": 10})["id"]
    _ok(http, f"{b}/matches/{cancelled}/cancel")
    withdrawn = pledge(30)
    _ok(http, f"{b}/contributions/{withdrawn}/withdraw", {"reason": "moved away"})
    withdrawn_request = ask(30)
    last = _ok(http, f"{b}/requests/{withdrawn_request}/withdraw")["position"]
    # the reads below need the projections to have caught up
    assert http.get(b, params={"min_position": last}).status_code == 200
    return {"t": code, "b": b, "ets": ets, "citizen": citizen, "foreign": foreign,
            "small": small, "big": big, "goods": goods, "request": request,
            "small_request": small_request, "match": match, "fulfilment": fulfilment,
            "reversed": reversed_, "cancelled": cancelled, "withdrawn": withdrawn,
            "withdrawn_request": withdrawn_request, "fresh": territory_code(),
            "spare": territory_code()}


def contribution(w: dict[str, str], **change: Any) -> dict[str, Any]:
    body = {"contributor_id": w["ets"], "resource_kind": "time", "unit": "minute",
            "quantity": 60, "theme": "cts.a"}
    return {k: v for k, v in (body | change).items() if v is not ...}


def request(w: dict[str, str], **change: Any) -> dict[str, Any]:
    body = {"beneficiary_id": w["citizen"], "resource_kind": "time", "unit": "minute",
            "quantity": 60, "theme": "cts.a"}
    return {k: v for k, v in (body | change).items() if v is not ...}


def match(w: dict[str, str], **change: Any) -> dict[str, Any]:
    return {"contribution_id": w["big"], "request_id": w["request"], "quantity": 1} | change


# (id, method, path template, body (callable of world, or raw bytes), status, type suffix)
Case = tuple[str, str, str, Any, int, str]
C, R, M = "{b}/contributions", "{b}/requests", "{b}/matches"
CASES: list[Case] = [
    # malformed 422
    ("malformed-json", "POST", "/v1/territories", b'{"code": "123456", "name": ', 422,
     "validation"),
    ("json-not-object", "POST", "/v1/territories", b"[1, 2]", 422, "validation"),
    ("empty-body", "POST", C, b"", 422, "validation"),
    ("missing-field", "POST", C, lambda w: contribution(w, theme=...), 422, "validation"),
    ("quantity-float", "POST", C, lambda w: contribution(w, quantity=1.5), 422, "validation"),
    ("quantity-string", "POST", C, lambda w: contribution(w, quantity="10"), 422, "validation"),
    ("quantity-bool", "POST", C, lambda w: contribution(w, quantity=True), 422, "validation"),
    ("quantity-negative", "POST", C, lambda w: contribution(w, quantity=-5), 422, "validation"),
    ("quantity-zero", "POST", R, lambda w: request(w, quantity=0), 422, "validation"),
    ("quantity-huge", "POST", C, lambda w: contribution(w, quantity=10**30), 422, "validation"),
    ("match-quantity-zero", "POST", M, lambda w: match(w, quantity=0), 422, "validation"),
    ("fulfil-quantity-float", "POST", "{b}/matches/{match}/fulfilments",
     lambda w: {"quantity": 2.0}, 422, "validation"),
    ("unknown-field", "POST", C, lambda w: contribution(w, colour="red"), 422, "validation"),
    ("unknown-field-territory", "POST", "/v1/territories",
     lambda w: {"code": w["spare"], "name": "X", "mayor": "Y"}, 422, "validation"),
    ("unknown-kind", "POST", C, lambda w: contribution(w, resource_kind="blood"), 422,
     "validation"),
    ("unknown-unit", "POST", C, lambda w: contribution(w, unit="hour"), 422, "validation"),
    ("unit-not-of-kind", "POST", R, lambda w: request(w, resource_kind="money"), 422,
     "unit-not-allowed-for-kind"),
    ("bad-date", "POST", C, lambda w: contribution(w, valid_until="2025-02-30"), 422,
     "invalid-date"),
    ("bad-date-shape", "POST", R, lambda w: request(w, needed_by="tomorrow"), 422,
     "validation"),
    ("bad-urgency", "POST", R, lambda w: request(w, urgency="asap"), 422, "validation"),
    ("bad-motivation", "POST", C, lambda w: contribution(w, motivation="tax"), 422,
     "validation"),
    ("bad-actor-kind", "POST", "{b}/actors", lambda w: {"kind": "alien", "display_name": "X"},
     422, "validation"),
    ("offer-born-expired", "POST", C, lambda w: contribution(w, valid_until="2020-01-31"), 422,
     "date-in-past"),
    ("need-born-expired", "POST", R, lambda w: request(w, needed_by="2020-01-31"), 422,
     "date-in-past"),
    ("delivered-tomorrow", "POST", "{b}/matches/{match}/fulfilments",
     lambda w: {"quantity": 1, "fulfilled_on": "2999-12-31"}, 422, "date-in-future"),
    ("runts-for-citizen", "POST", "{b}/actors",
     lambda w: {"kind": "citizen", "display_name": "X", "runts_id": "1"}, 422, "invalid-actor"),
    ("employer-not-company", "POST", "{b}/actors",
     lambda w: {"kind": "citizen", "display_name": "X", "employer_id": w["ets"]}, 422,
     "invalid-actor"),
    ("bad-email", "POST", "{b}/actors",
     lambda w: {"kind": "citizen", "display_name": "X", "personal": {"email": "nope"}}, 422,
     "validation"),
    ("blank-name", "POST", "{b}/actors", lambda w: {"kind": "ets", "display_name": "   "},
     422, "validation"),
    ("nul-in-text", "POST", "/v1/territories",
     lambda w: {"code": w["spare"], "name": "Vog\u0000hera"}, 422, "validation"),
    ("nul-in-personal", "POST", "{b}/actors",
     lambda w: {"kind": "citizen", "display_name": "X\u0000"}, 422, "validation"),
    ("nul-in-description", "POST", R, lambda w: request(w, description="a\u0000b"), 422,
     "validation"),
    ("lone-surrogate-in-text", "POST", "/v1/territories",
     b'{"code": "000000", "name": "Vog\\ud800hera"}', 422, "validation"),
    ("lone-surrogate-in-personal", "POST", "{b}/actors",
     b'{"kind": "citizen", "display_name": "X", "personal": {"full_name": "\\udfff"}}', 422,
     "validation"),
    ("non-ascii-digits-code", "POST", "/v1/territories",
     lambda w: {"code": "\u0661\u0662\u0663\u0664\u0665\u0666", "name": "X"}, 422,
     "validation"),
    ("bad-territory-code", "POST", "/v1/territories", lambda w: {"code": "12AB", "name": "X"},
     422, "validation"),
    ("territory-code-too-long", "POST", "/v1/territories",
     lambda w: {"code": "0181820", "name": "X"}, 422, "validation"),
    ("malformed-uuid-path", "GET", "{b}/actors/not-a-uuid", None, 422, "validation"),
    ("malformed-uuid-body", "POST", C, lambda w: contribution(w, contributor_id="123"), 422,
     "validation"),
    ("malformed-uuid-action", "POST", "{b}/matches/xyz/cancel", None, 422, "validation"),
    ("negative-min-position", "GET", "{b}/actors/{ets}?min_position=-1", None, 422,
     "validation"),
    ("bad-cursor", "GET", "{b}/audit?after=abc", None, 422, "validation"),
    ("bad-limit", "GET", "{b}/audit?limit=0", None, 422, "validation"),
    ("reverse-without-reason", "POST", "{b}/fulfilments/{fulfilment}/reverse",
     lambda w: {}, 422, "validation"),
    # unknown 404
    ("unknown-territory-write", "POST", "/v1/territories/{fresh}/actors",
     lambda w: {"kind": "ets", "display_name": "X"}, 404, "not-found"),
    ("unknown-territory-read", "GET", "/v1/territories/{fresh}", None, 404, "not-found"),
    ("unknown-territory-themes", "GET", "/v1/territories/{fresh}/themes", None, 404,
     "not-found"),
    ("bad-territory-in-path", "GET", "/v1/territories/abc/actors/{ets}", None, 404,
     "not-found"),
    ("nul-territory-in-path", "GET", "/v1/territories/%00", None, 404, "not-found"),
    ("nul-territory-write", "POST", "/v1/territories/%00/actors",
     lambda w: {"kind": "ets", "display_name": "X"}, 404, "not-found"),
    ("unknown-actor", "GET", "{b}/actors/" + MISSING, None, 404, "not-found"),
    ("unknown-balances", "GET", "{b}/actors/" + MISSING + "/balances", None, 404, "not-found"),
    ("unknown-contribution", "GET", "{b}/contributions/" + MISSING, None, 404, "not-found"),
    ("unknown-match", "GET", "{b}/matches/" + MISSING, None, 404, "not-found"),
    ("unknown-contributor", "POST", C, lambda w: contribution(w, contributor_id=MISSING), 404,
     "not-found"),
    ("foreign-contributor", "POST", C, lambda w: contribution(w, contributor_id=w["foreign"]),
     404, "not-found"),
    ("contributor-is-a-contribution", "POST", C,
     lambda w: contribution(w, contributor_id=w["big"]), 404, "not-found"),
    ("unknown-beneficiary", "POST", R, lambda w: request(w, beneficiary_id=MISSING), 404,
     "not-found"),
    ("unknown-contribution-in-match", "POST", M, lambda w: match(w, contribution_id=MISSING),
     404, "not-found"),
    ("request-given-as-contribution", "POST", M,
     lambda w: match(w, contribution_id=w["request"]), 404, "not-found"),
    ("unknown-request-in-match", "POST", M, lambda w: match(w, request_id=MISSING), 404,
     "not-found"),
    ("fulfil-unknown-match", "POST", "{b}/matches/" + MISSING + "/fulfilments",
     lambda w: {"quantity": 1}, 404, "not-found"),
    ("cancel-unknown-match", "POST", "{b}/matches/" + MISSING + "/cancel", None, 404,
     "not-found"),
    ("reverse-unknown", "POST", "{b}/fulfilments/" + MISSING + "/reverse",
     lambda w: {"reason": "x"}, 404, "not-found"),
    ("withdraw-unknown", "POST", "{b}/requests/" + MISSING + "/withdraw", None, 404,
     "not-found"),
    ("erase-unknown", "POST", "{b}/actors/" + MISSING + "/erase", None, 404, "not-found"),
    ("erase-a-contribution", "POST", "{b}/actors/{big}/erase", None, 404, "not-found"),
    ("unknown-route", "GET", "/v1/nothing-here", None, 404, ""),
    # rules 409
    ("over-allocation", "POST", M, lambda w: match(w, contribution_id=w["small"], quantity=11),
     409, "over-allocation"),
    ("over-match", "POST", M, lambda w: match(w, request_id=w["small_request"], quantity=11),
     409, "over-match"),
    ("over-fulfilment", "POST", "{b}/matches/{match}/fulfilments",
     lambda w: {"quantity": 31}, 409, "over-fulfilment"),
    ("fulfil-cancelled-match", "POST", "{b}/matches/{cancelled}/fulfilments",
     lambda w: {"quantity": 1}, 409, "item-not-active"),
    ("match-withdrawn-contribution", "POST", M,
     lambda w: match(w, contribution_id=w["withdrawn"]), 409, "item-not-active"),
    ("match-withdrawn-request", "POST", M, lambda w: match(w, request_id=w["withdrawn_request"]),
     409, "item-not-active"),
    ("withdraw-twice", "POST", "{b}/contributions/{withdrawn}/withdraw", None, 409,
     "item-not-active"),
    ("cancel-twice", "POST", "{b}/matches/{cancelled}/cancel", None, 409, "item-not-active"),
    ("reverse-twice", "POST", "{b}/fulfilments/{reversed}/reverse",
     lambda w: {"reason": "again"}, 409, "already-reversed"),
    ("territory-twice", "POST", "/v1/territories", lambda w: {"code": w["t"], "name": "X"}, 409,
     "already-exists"),
    ("unit-mismatch", "POST", M, lambda w: match(w, contribution_id=w["goods"]), 409,
     "unit-mismatch"),
    ("unknown-theme", "POST", C, lambda w: contribution(w, theme="cts.zz"), 409,
     "unknown-theme"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "kind"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_problem_never_a_500(http: httpx.Client, world: dict[str, str],
                                            method: str, path: str, body: Any, status: int,
                                            kind: str) -> None:
    url = path.format(**world)
    if body is None:
        answer = http.request(method, url)
    elif isinstance(body, bytes):
        answer = http.request(method, url, content=body,
                              headers={"Content-Type": "application/json"})
    else:
        answer = http.request(method, url, json=body(world))
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    problem = answer.json()
    assert {"type", "title", "status", "detail"} <= set(problem)
    assert problem["status"] == status
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    assert problem["type"].endswith(kind)
    if status == 422:
        assert problem["errors"], problem
        assert all(set(e) == {"loc", "msg"} and isinstance(e["loc"], list) and e["msg"]
                   for e in problem["errors"])


def test_refused_writes_record_nothing(http: httpx.Client, world: dict[str, str]) -> None:
    """The world's quantities are exactly what the successful writes made of them."""
    b = world["b"]
    small = http.get(f"{b}/contributions/{world['small']}").json()
    assert (small["reserved"], small["delivered"], small["available"]) == (30, 10, 10)
    assert http.get(f"{b}/matches/{world['match']}").json()["fulfilled"] == 10
    assert http.get(f"{b}/contributions/{world['withdrawn']}").json()["status"] == "withdrawn"
    bad = http.post(f"{b}/contributions", json=contribution(world, quantity=-1))
    assert bad.status_code == 422
    assert http.get(f"/v1/territories/{world['fresh']}").status_code == 404
