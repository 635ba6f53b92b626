"""The write routes' fast path (api/fastpath.py) answers exactly as FastAPI does.

Two applications on the same container, one with the fast path and one without, get the same
requests: the answers must agree (status, content type, problem bodies in full, created
items but for their ids, positions and times), the fast path must have answered the cases it
is for (so the comparison is not of FastAPI with itself), and left the others to FastAPI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.fastpath import FastWrites
from ledger.access import Role
from ledger.container import Container
from tests.support.auth import TerritoryAuth, bearer
from tests.support.stack import territory_code

pytestmark = pytest.mark.e2e


def _fast_path(app: FastAPI) -> FastWrites:
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, FastWrites):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, FastWrites), "the fast path is not in the middleware stack"
    return layer


class Pair:
    def __init__(self, fast: TestClient, slow: TestClient, fast_app: FastAPI) -> None:
        self.fast, self.slow, self.fast_app = fast, slow, fast_app

    @property
    def answered(self) -> int:
        return _fast_path(self.fast_app).answered

    def both(self, path: str, token: str, body: Any = None, *, content: bytes | None = None,
             headers: dict[str, str] | None = None, fast_headers: dict[str, str] | None = None,
             ) -> tuple[httpx.Response, httpx.Response]:
        sent = bearer(token) | (headers or {})
        kwargs: dict[str, Any] = {"content": content} if content is not None else {"json": body}
        fast = self.fast.post(path, headers=sent | (fast_headers or {}), **kwargs)
        slow = self.slow.post(path, headers=sent, **kwargs)
        return fast, slow


VOLATILE = {"id", "position"}


def _same(fast: httpx.Response, slow: httpx.Response) -> dict[str, Any]:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert fast.headers["content-type"] == slow.headers["content-type"]
    assert ("ledger-position" in fast.headers) == ("ledger-position" in slow.headers)
    a, b = fast.json(), slow.json()
    if fast.status_code >= 400:
        assert a == b
    else:
        assert set(a) == set(b)
        stable = {k for k in a if k not in VOLATILE and not k.endswith("_at")}
        assert {k: a[k] for k in stable} == {k: b[k] for k in stable}
        assert fast.headers["ledger-position"] == str(a["position"])
    body: dict[str, Any] = a
    return body


@pytest.fixture(scope="module")
def pair(container: Container) -> Iterator[Pair]:
    fast_app = create_app(container, refresh_metrics=False)
    slow_app = create_app(container, refresh_metrics=False, fast_writes=False)
    with TestClient(fast_app) as fast, TestClient(slow_app) as slow:
        cache = container.api_keys.cache
        assert cache is not None and cache.wait_listening(10)
        yield Pair(fast, slow, fast_app)


@pytest.fixture(scope="module")
def world(pair: Pair, auth: TerritoryAuth, admin_token: str,
          container: Container) -> dict[str, str]:
    code = territory_code()
    made = pair.fast.post("/v1/territories", json={"code": code, "name": "Lodi"},
                          headers=bearer(admin_token))
    assert made.status_code == 201, made.text
    comune = auth.token_for(f"/v1/territories/{code}")
    _, auditor = container.api_keys.create("fast path auditor", Role.AUDITOR, [code], None, "test")
    people = []
    for name in ("Anna", "Bruno"):
        actor = pair.slow.post(f"/v1/territories/{code}/actors", headers=bearer(comune),
                               json={"kind": "citizen", "display_name": name,
                                     "personal": {"email": f"{name.lower()}@example.it"}})
        assert actor.status_code == 201, actor.text
        people.append(actor.json()["id"])
    for token in (comune, auditor):  # the first call of a key looks it up and keeps it
        assert pair.fast.get("/v1/me", headers=bearer(token)).status_code == 200
    return {"code": code, "comune": comune, "auditor": auditor, "anna": people[0],
            "bruno": people[1]}


def _pledge(world: dict[str, str], **changes: Any) -> dict[str, Any]:
    return {"contributor_id": world["anna"], "resource_kind": "time", "unit": "minute",
            "quantity": 120, "theme": "cts.a", "description": "accompagnamento"} | changes


def test_commands_and_their_refusals_by_the_rules_are_answered_alike(pair: Pair,
                                                                   world: dict[str, str]) -> None:
    base = f"/v1/territories/{world['code']}"
    comune, auditor = world["comune"], world["auditor"]
    before = pair.answered
    offer = _same(*pair.both(f"{base}/contributions", comune, _pledge(world)))
    assert offer["quantity"] == 120 and offer["description"] == "accompagnamento"
    need_body = {"beneficiary_id": world["bruno"], "resource_kind": "time", "unit": "minute",
                 "quantity": 60, "theme": "cts.a", "description": "spesa settimanale"}
    _same(*pair.both(f"{base}/requests", comune, need_body))
    # Refused by the write service and the domain, inside the endpoint:
    _same(*pair.both(f"{base}/contributions", comune,
                     _pledge(world, contributor_id=str(uuid.uuid4()))))  # nobody
    _same(*pair.both(f"{base}/contributions", auditor, _pledge(world)))  # 403: reads only
    _same(*pair.both(f"{base}/contributions", comune, _pledge(world, theme="cts.zz")))
    assert pair.answered == before + 5 * 1  # each pair: the fast app answered its own

    # A match and its fulfilment (a UUID in the path), made in each app on its own items.
    mark = pair.answered
    fast_items, slow_items = [], []
    for client, items in ((pair.fast, fast_items), (pair.slow, slow_items)):
        for path, body in ((f"{base}/contributions", _pledge(world)), (f"{base}/requests", need_body)):
            made = client.post(path, json=body, headers=bearer(comune))
            assert made.status_code == 201, made.text
            items.append(made.json()["id"])
    matches = []
    for client, items in ((pair.fast, fast_items), (pair.slow, slow_items)):
        made = client.post(f"{base}/matches", headers=bearer(comune),
                           json={"contribution_id": items[0], "request_id": items[1],
                                 "quantity": 45})
        assert made.status_code == 201, made.text
        matches.append(made.json())
    assert {k: v for k, v in matches[0].items() if k not in VOLATILE | {"contribution_id", "request_id"}
            and not k.endswith("_at")} == \
        {k: v for k, v in matches[1].items() if k not in VOLATILE | {"contribution_id", "request_id"}
         and not k.endswith("_at")}
    done = [client.post(f"{base}/matches/{m['id']}/fulfilments", headers=bearer(comune),
                        json={"quantity": 45, "note": "fatto"})
            for client, m in ((pair.fast, matches[0]), (pair.slow, matches[1]))]
    assert done[0].status_code == done[1].status_code == 201, (done[0].text, done[1].text)
    fulfilled = [r.json() for r in done]
    assert fulfilled[0]["quantity"] == fulfilled[1]["quantity"] == 45
    assert fulfilled[0]["note"] == fulfilled[1]["note"] == "fatto"
    # Fulfilling more than reserved: refused alike.
    over_fast = pair.fast.post(f"{base}/matches/{matches[0]['id']}/fulfilments",
                               headers=bearer(comune), json={"quantity": 1})
    over_slow = pair.slow.post(f"{base}/matches/{matches[1]['id']}/fulfilments",
                               headers=bearer(comune), json={"quantity": 1})
    assert over_fast.status_code == over_slow.status_code == 409
    assert pair.answered == mark + 5  # offer, need, match, fulfilment, refused fulfilment
    assert over_fast.json() | {"detail": None} == over_slow.json() | {"detail": None}
    assert over_fast.json()["detail"].replace(matches[0]["id"], "M") == \
        over_slow.json()["detail"].replace(matches[1]["id"], "M")


def test_what_the_fast_path_does_not_take_is_fastapis_answer(pair: Pair,
                                                             world: dict[str, str]) -> None:
    base = f"/v1/territories/{world['code']}"
    comune = world["comune"]
    before = pair.answered
    cases = [
        pair.both(f"{base}/contributions", comune, {"resource_kind": "time"}),  # fields missing
        pair.both(f"{base}/contributions", comune, _pledge(world, quantity=-5)),
        pair.both(f"{base}/contributions", comune, _pledge(world, unit="litre")),
        pair.both(f"{base}/contributions", comune, content=b'{"contributor_id": ',
                  headers={"Content-Type": "application/json"}),  # not JSON
        pair.both(f"{base}/contributions", comune, content=b"[1, 2]",
                  headers={"Content-Type": "application/json"}),
        pair.both(f"{base}/contributions", comune, content=b"quantity=5",
                  headers={"Content-Type": "text/plain"}),
        pair.both(f"{base}/contributions", "lk_" + "x" * 43, _pledge(world)),  # unknown key
        pair.both(f"{base}/contributions", "not-a-key", _pledge(world)),
        pair.both(f"/v1/territories/{territory_code()}/contributions", comune,
                  _pledge(world)),  # a territory the key does not see
        pair.both("/v1/territories/12ab/contributions", comune, _pledge(world)),
        pair.both(f"{base}/matches/{uuid.uuid4().hex}/fulfilments", comune,
                  {"quantity": 1}),  # a UUID spelt without hyphens
        pair.both(f"{base}/matches/not-a-uuid/fulfilments", comune, {"quantity": 1}),
    ]
    for fast, slow in cases:
        assert fast.status_code >= 400, fast.text
        _same(fast, slow)
    assert pair.answered == before  # FastAPI answered every one of them


def test_idempotency_keys_replay_alike(pair: Pair, world: dict[str, str]) -> None:
    base = f"/v1/territories/{world['code']}"
    comune = world["comune"]
    key = uuid.uuid4().hex
    before = pair.answered
    first = pair.both(f"{base}/contributions", comune, _pledge(world),
                      headers={"Idempotency-Key": key}, fast_headers={"Idempotency-Key": key + "f"})
    again = pair.both(f"{base}/contributions", comune, _pledge(world),
                      headers={"Idempotency-Key": key}, fast_headers={"Idempotency-Key": key + "f"})
    for one, two in zip(first, again, strict=True):
        assert one.status_code == two.status_code == 201
        assert one.json() == two.json()  # the same item, replayed
    _same(*first)
    changed = pair.both(f"{base}/contributions", comune, _pledge(world, quantity=5),
                        headers={"Idempotency-Key": key}, fast_headers={"Idempotency-Key": key + "f"})
    _same(*changed)
    assert changed[0].status_code == 409
    assert pair.answered == before + 3
