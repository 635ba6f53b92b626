"""The topic holds every stored event exactly once among committed records, each territory's
records form a gapless, verifiable hash chain, and a second relay fences the first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import psycopg
import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaError

from consumers.audit import read_topic, verify_values
from consumers.relay import Relay
from infra.kafka import ensure_topic
from infra.stack import Services
from ledger.commands import RegisterActor, RegisterTerritory
from ledger.records import build_record, event_id, territory_of
from ledger.settings import Settings
from tests.support.auth import ADMIN
from tests.support.isolated import isolated_stack
from tests.support.scenario import Territory, build_scenario
from tests.support.stack import Roles, territory_code

Stored = list[tuple[str, int, int]]


def stored_events(database_url: str) -> Stored:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT originator_id, originator_version, notification_id "
                            "FROM ledger_events ORDER BY notification_id").fetchall()
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def wait_for_topic(bootstrap: str, topic: str, head: int, timeout: float = 30.0
                   ) -> list[dict[str, Any]]:
    """The topic's committed values once they reach the event store's head position."""
    deadline = time.monotonic() + timeout
    while True:
        values = read_topic(bootstrap, topic)
        if max((v["position"] for v in values), default=0) >= head:
            return values
        assert time.monotonic() < deadline, f"topic did not reach position {head}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def published(http: httpx.Client, roles: Roles) -> tuple[Territory, list[dict[str, Any]], Stored]:
    territory, _ = build_scenario(http)
    stored = stored_events(roles.database_url)
    values = wait_for_topic(roles.bootstrap, roles.settings.topic, stored[-1][2])
    return territory, values, stored


def test_every_stored_event_is_on_the_topic_exactly_once(
        published: tuple[Territory, list[dict[str, Any]], Stored]) -> None:
    territory, values, stored = published
    assert len(values) == len(stored)
    assert len({v["id"] for v in values}) == len(values)
    assert sorted((v["subject"], v["data"]["version"]) for v in values) == sorted(
        (subject, version) for subject, version, _ in stored)
    assert sorted((v["id"], v["position"]) for v in values) == sorted(
        (event_id(subject, version), position) for subject, version, position in stored)

    by_territory: dict[str, list[dict[str, Any]]] = {}
    for v in values:
        by_territory.setdefault(territory_of(v), []).append(v)
    for chain in by_territory.values():
        assert [v["seq"] for v in chain] == list(range(1, len(chain) + 1))
        assert [v["position"] for v in chain] == sorted(v["position"] for v in chain)
    results = verify_values(values)
    assert all(r["verified"] for r in results.values()), results
    ours = results[territory.code]
    assert ours["count"] == len(by_territory[territory.code]) > 50

    sample = by_territory[territory.code][1]
    assert sample["specversion"] == "1.0" and sample["datacontenttype"] == "application/json"
    assert sample["source"] == f"/territories/{territory.code}"
    assert sample["type"].startswith("it.ledger.") and sample["type"].endswith(".v1")


def test_a_flipped_byte_breaks_the_chain_at_that_seq(
        published: tuple[Territory, list[dict[str, Any]], Stored]) -> None:
    territory, values, _ = published
    chain = [v for v in values if territory_of(v) == territory.code]
    assert verify_values(chain)[territory.code]["verified"]
    target = len(chain) // 2
    raw = bytearray(json.dumps(chain[target], separators=(",", ":")).encode())
    at = raw.index(b'"subject":"') + len(b'"subject":"') + 3
    raw[at] ^= 0x01
    tampered = [*chain[:target], json.loads(raw), *chain[target + 1:]]
    result = verify_values(tampered)[territory.code]
    assert result["verified"] is False
    assert result["broken_at_seq"] == chain[target]["seq"] == target + 1
    assert "hash" in result["reason"]
    assert verify_values(chain)[territory.code]["verified"], "the original stays intact"


def test_audit_verify_cli_exits_zero_on_the_log(roles: Roles,
                                                published: tuple[Any, ...]) -> None:
    done = subprocess.run([sys.executable, "-m", "ledger.cli", "audit", "verify"],
                          env=_cli_env(roles.database_url, roles.bootstrap, roles.settings.topic),
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads(done.stdout)
    assert report["verified"] is True
    assert report["territories"][published[0].code]["verified"] is True


def test_audit_verify_cli_exits_non_zero_on_a_tampered_log(settings: Settings,
                                                           services: Services) -> None:
    topic = f"ledger.events.tampered{uuid.uuid4().hex[:8]}"
    ensure_topic(services.kafka_bootstrap, topic, 1)
    code = territory_code()
    first = build_record(topic="ledger.domain.territory:Territory.Registered",
                         state={"territory": code, "timestamp": "2025-01-01T00:00:00+00:00",
                                "code": code, "name": "Voghera"},
                         originator_id=uuid.uuid4(), version=1, position=1, prev=None)
    forged = dict(first, seq=2, prevhash=first["hash"], position=2, id=str(uuid.uuid4()))
    producer = KafkaProducer(bootstrap_servers=services.kafka_bootstrap)
    for value in (first, forged):  # the forger could not compute the right hash
        producer.send(topic, key=code.encode(), value=json.dumps(value).encode())
    producer.flush()
    producer.close()
    done = subprocess.run([sys.executable, "-m", "ledger.cli", "audit", "verify", code],
                          env=_cli_env(services.database_url, services.kafka_bootstrap, topic),
                          capture_output=True, timeout=120)
    assert done.returncode == 1, done.stdout.decode() + done.stderr.decode()[-2000:]
    report = json.loads(done.stdout)["territories"][code]
    assert (report["verified"], report["broken_at_seq"]) == (False, 2)


def test_a_second_relay_with_the_same_transactional_id_fences_the_first(
        settings: Settings, services: Services) -> None:
    with isolated_stack(settings, services, "fence") as iso:
        app = iso.container.app
        code = territory_code()
        app.handle(RegisterTerritory(code, "Crema"), ADMIN)

        def relay() -> Relay:
            return Relay(recorder=app.recorder, decode=app.mapper.transcoder.decode,
                         db=iso.container.db, bootstrap=iso.bootstrap, topic=iso.settings.topic,
                         transactional_id=f"fence-{iso.settings.topic}")

        first = relay()
        try:
            assert first.publish_once() == 1
            second = relay()  # init_transactions bumps the epoch: the first is a zombie now
            try:
                app.handle(RegisterActor(code, "ets", "Caritas Crema"), ADMIN, uuid.uuid4())
                with pytest.raises(KafkaError):
                    first.publish_once()
                assert first.chain.position == 1, "a failed batch leaves the chain as it was"
                assert second.publish_once() == 1
                assert second.publish_once() == 0
            finally:
                second.close()
        finally:
            first.close()
        values = read_topic(iso.bootstrap, iso.settings.topic)
        assert Counter(v["position"] for v in values) == Counter(
            p for _, _, p in iso.stored_events())
        assert [v["seq"] for v in values] == [1, 2]
        assert verify_values(values)[code]["verified"]


def _cli_env(database_url: str, bootstrap: str, topic: str) -> dict[str, str]:
    return os.environ | {"LEDGER_DATABASE_URL": database_url,
                         "LEDGER_KAFKA_BOOTSTRAP": bootstrap, "LEDGER_TOPIC": topic}
