"""A territory and an actor created over HTTP reach the event store, the topic and the
projection, and come back over HTTP with read-your-writes."""

from __future__ import annotations

import json

import httpx
import psycopg

from consumers.audit import read_topic
from ledger.container import Container
from tests.support.stack import Roles, territory_code


def test_territory_and_actor_flow_through_every_layer(http: httpx.Client, roles: Roles,
                                                      container: Container) -> None:
    code = territory_code()
    created = http.post("/v1/territories", json={"code": code, "name": "Voghera"})
    assert created.status_code == 201, created.text
    actor = http.post(f"/v1/territories/{code}/actors",
                      json={"kind": "ets", "display_name": "Auser Voghera", "runts_id": "12345"})
    assert actor.status_code == 201, actor.text
    body = actor.json()
    position = body["position"]
    assert actor.headers["Ledger-Position"] == str(position)
    assert position > created.json()["position"]

    with psycopg.connect(roles.database_url) as conn:
        rows = conn.execute("SELECT topic FROM ledger_events WHERE originator_id = %s",
                            (body["id"],)).fetchall()
    assert [r[0] for r in rows] == ["ledger.domain.actor:Actor.Registered"]

    read = http.get(f"/v1/territories/{code}/actors/{body['id']}",
                    params={"min_position": position})
    assert read.status_code == 200, read.text
    assert read.json()["display_name"] == "Auser Voghera"
    assert read.json()["runts_id"] == "12345"

    values = [v for v in read_topic(roles.bootstrap, roles.settings.topic)
              if v["source"] == f"/territories/{code}"]
    assert [v["type"] for v in values] == ["it.ledger.territory.registered.v1",
                                           "it.ledger.actor.registered.v1"]
    assert [v["seq"] for v in values] == [1, 2]
    assert values[1]["subject"] == body["id"] and values[1]["position"] == position
    assert values[1]["prevhash"] == values[0]["hash"]
    assert json.dumps(values[1]).count("Auser Voghera") == 1


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").status_code == 200
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "projections": "ok", "kafka": "ok"}


def test_unknown_actor_is_404_problem(http: httpx.Client) -> None:
    code = territory_code()
    assert http.post("/v1/territories", json={"code": code, "name": "Crema"}).status_code == 201
    missing = http.get(f"/v1/territories/{code}/actors/6b0c1a5e-8f7e-4c1e-9a55-0d7f3b1f2a10")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["status"] == 404
