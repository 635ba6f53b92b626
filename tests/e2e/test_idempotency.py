"""Idempotency-Key: a repeat with the same key and body returns the original response and
records nothing, also after the API process restarts; the same key with another body is 409."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg

from consumers.audit import read_topic
from tests.support.auth import TerritoryAuth
from tests.support.stack import Roles, territory_code


def _events(database_url: str, *aggregate_ids: str) -> Counter[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT topic FROM ledger_events WHERE originator_id = ANY(%s)",
                            ([uuid.UUID(i) for i in aggregate_ids],)).fetchall()
    return Counter(topic.rsplit(":", 1)[-1] for (topic,) in rows)


def _records(roles: Roles, code: str) -> Counter[str]:
    return Counter(v["type"] for v in read_topic(roles.bootstrap, roles.settings.topic)
                   if v["source"] == f"/territories/{code}")


def _send(client: httpx.Client, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    return client.post(path, json=body, headers={"Idempotency-Key": key})


def _scenario(code: str, ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(name, path, body, other body) of each write, given the ids made so far."""
    base = f"/v1/territories/{code}"
    if "giver" not in ids:
        return [("giver", f"{base}/actors",
                 {"kind": "citizen", "display_name": "Anna Rossi",
                  "personal": {"email": "anna@example.it"}},
                 {"kind": "citizen", "display_name": "Anna Bianchi"}),
                ("taker", f"{base}/actors", {"kind": "household", "display_name": "Famiglia Neri"},
                 {"kind": "household", "display_name": "Famiglia Verdi"})]
    if "contribution" not in ids:
        return [("contribution", f"{base}/contributions",
                 {"contributor_id": ids["giver"], "resource_kind": "time", "unit": "minute",
                  "quantity": 600, "theme": "cts.a", "description": "Compiti con i ragazzi"},
                 {"contributor_id": ids["giver"], "resource_kind": "time", "unit": "minute",
                  "quantity": 601, "theme": "cts.a", "description": "Compiti con i ragazzi"}),
                ("request", f"{base}/requests",
                 {"beneficiary_id": ids["taker"], "resource_kind": "time", "unit": "minute",
                  "quantity": 300, "theme": "cts.a"},
                 {"beneficiary_id": ids["taker"], "resource_kind": "time", "unit": "minute",
                  "quantity": 300, "theme": "cts.b"})]
    if "match" not in ids:
        return [("match", f"{base}/matches",
                 {"contribution_id": ids["contribution"], "request_id": ids["request"],
                  "quantity": 200},
                 {"contribution_id": ids["contribution"], "request_id": ids["request"],
                  "quantity": 100})]
    if "fulfilment" not in ids:
        return [("fulfilment", f"{base}/matches/{ids['match']}/fulfilments",
                 {"quantity": 60, "note": "Primo pomeriggio"},
                 {"quantity": 60, "note": "Secondo pomeriggio"})]
    return []


def test_same_key_same_body_replays_and_records_nothing_even_across_a_restart(
        http: httpx.Client, roles: Roles, auth: TerritoryAuth) -> None:
    code = territory_code()
    prefix = uuid.uuid4().hex
    assert _send(http, "/v1/territories", {"code": code, "name": "Voghera"},
                 f"{prefix}-t").status_code == 201
    ids: dict[str, str] = {}
    sent: dict[str, tuple[str, dict[str, Any], httpx.Response]] = {}
    while steps := _scenario(code, ids):
        for name, path, body, other in steps:
            first = _send(http, path, body, f"{prefix}-{name}")
            assert first.status_code == 201, first.text
            again = _send(http, path, body, f"{prefix}-{name}")
            assert again.status_code == 201, again.text
            assert again.json() == first.json()
            assert again.json()["position"] == first.json()["position"]
            assert again.headers["Ledger-Position"] == first.headers["Ledger-Position"]
            reused = _send(http, path, other, f"{prefix}-{name}")
            assert reused.status_code == 409, reused.text
            assert reused.headers["content-type"].startswith("application/problem+json")
            problem = reused.json()
            assert problem["status"] == 409 and problem["type"].endswith("idempotency-key-reused")
            assert problem["title"] and problem["detail"]
            ids[name] = first.json()["id"]
            sent[name] = (path, body, first)
    # the original response carried the clear personal data the caller sent; so does a replay
    assert sent["giver"][2].json()["personal"] == {"email": "anna@example.it"}

    expected = Counter({
        "Actor.Registered": 2, "Contribution.Pledged": 1,
        "Contribution.Allocated": 1, "Contribution.Delivered": 1, "Request.Posted": 1,
        "Request.Reserved": 1, "Request.Received": 1, "Match.Reserved": 1, "Match.Fulfilled": 1,
        "Fulfilment.Recorded": 1})
    stored = _events(roles.database_url, *ids.values())
    assert +stored == +expected, stored
    last = max(r.json()["position"] for _, _, r in sent.values())
    assert http.get(f"/v1/territories/{code}/matches/{ids['match']}",
                    params={"min_position": last}).status_code == 200
    on_topic = _records(roles, code)
    assert sum(on_topic.values()) == sum(expected.values()) + 1  # + the territory
    assert all(n == 1 for t, n in on_topic.items() if not t.endswith("registered.v1"))

    roles.stop("api")
    roles.start("api")
    roles.wait_ready()
    with httpx.Client(base_url=roles.base_url, timeout=30, auth=auth) as fresh:
        for name, (path, body, first) in sent.items():
            retry = _send(fresh, path, body, f"{prefix}-{name}")
            assert retry.status_code == 201, retry.text
            assert retry.json() == first.json(), name
            assert retry.headers["Ledger-Position"] == first.headers["Ledger-Position"]
    assert _events(roles.database_url, *ids.values()) == stored
    assert _records(roles, code) == on_topic


def test_concurrent_duplicates_record_once(http: httpx.Client, roles: Roles,
                                          auth: TerritoryAuth) -> None:
    code = territory_code()
    base = f"/v1/territories/{code}"
    assert http.post("/v1/territories", json={"code": code, "name": "Crema"}).status_code == 201
    body = {"kind": "ets", "display_name": "Coop Sociale Il Seme"}
    key = uuid.uuid4().hex
    start = threading.Barrier(6)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=roles.base_url, timeout=30, auth=auth) as client:
            start.wait()
            return _send(client, f"{base}/actors", body, key)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, range(6)))
    assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
    created = [a.json() for a in answers if a.status_code == 201]
    assert created and all(c == created[0] for c in created)
    assert all(a.json()["type"].endswith("idempotency-in-progress") and a.headers["Retry-After"]
               for a in answers if a.status_code == 409)
    assert _events(roles.database_url, created[0]["id"]) == Counter({"Actor.Registered": 1})
    late = _send(http, f"{base}/actors", body, key)
    assert late.status_code == 201 and late.json() == created[0]


def test_key_is_scoped_to_the_endpoint_and_checked(http: httpx.Client) -> None:
    code = territory_code()
    base = f"/v1/territories/{code}"
    key = uuid.uuid4().hex
    assert _send(http, "/v1/territories", {"code": code, "name": "Pavia"}, key).status_code == 201
    actor = _send(http, f"{base}/actors", {"kind": "ets", "display_name": "Auser"}, key)
    assert actor.status_code == 201, actor.text
    too_long = _send(http, f"{base}/actors", {"kind": "ets", "display_name": "Auser"}, "k" * 256)
    assert too_long.status_code == 422 and too_long.json()["errors"]
