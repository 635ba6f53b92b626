"""SIGKILL the relay and the projector at random moments under load: nothing is lost or
duplicated on the topic, and the live projections equal a fresh rebuild from the topic."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from typing import Any

import psycopg
from kafka import KafkaProducer
from psycopg import sql

from consumers.audit import read_topic, verify_values
from consumers.replay import rebuild
from consumers.topic import partition_for
from infra.stack import Services
from ledger.application import LedgerApplication
from ledger.commands import (
    CancelMatch,
    Fulfil,
    MakeMatch,
    Pledge,
    PostRequest,
    RegisterActor,
    RegisterTerritory,
    ReverseFulfilment,
    WithdrawRequest,
)
from ledger.domain.errors import DomainError
from ledger.records import event_id
from ledger.settings import Settings
from tests.support.auth import ADMIN
from tests.support.isolated import Isolated, isolated_stack
from tests.support.stack import territory_code

TABLES = ("territories", "themes", "actors", "contributions", "requests", "matches",
          "fulfilments", "history", "audit", "territory_positions", "partition_positions",
          "tracking")


def load(app: LedgerApplication, codes: list[str], rounds: int, errors: list[BaseException]
         ) -> None:
    """Pledge, ask, match, fulfil twice, reverse, cancel, withdraw: 21 events a round."""
    try:
        actors = {}
        for code in codes:
            app.handle(RegisterTerritory(code, f"Ambito {code}"), ADMIN)
            actors[code] = [app.handle(RegisterActor(code, kind, name), ADMIN, uuid.uuid4()).id
                            for kind, name in (("ets", "Auser"), ("company", "Acme"))]
        for i in range(rounds):
            code = codes[i % len(codes)]
            giver, taker = actors[code]
            c = app.handle(Pledge(code, giver, "time", "minute", 100, "cts.a"), ADMIN).id
            r = app.handle(PostRequest(code, taker, "time", "minute", 100, "cts.a"), ADMIN).id
            m = app.handle(MakeMatch(code, c, r, 60), ADMIN).id
            f1 = app.handle(Fulfil(code, m, 20), ADMIN).id
            app.handle(Fulfil(code, m, 10), ADMIN)
            app.handle(ReverseFulfilment(code, f1, "recorded twice"), ADMIN)
            app.handle(CancelMatch(code, m, "moved away"), ADMIN)
            try:
                app.handle(WithdrawRequest(code, r), ADMIN)
            except DomainError as err:  # never expected: the test fails on it below
                errors.append(err)
    except BaseException as err:  # noqa: BLE001 - reported by the test thread
        errors.append(err)


def schema_rows(database_url: str, schema: str) -> dict[str, list[tuple[str, ...]]]:
    with psycopg.connect(database_url) as conn:
        return {table: sorted(tuple(str(v) for v in row) for row in conn.execute(
            sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))))
            for table in TABLES}


def live_schema(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT schema_name FROM projection_generation").fetchone()
    assert row is not None
    return str(row[0])


def wait_caught_up(iso: Isolated, timeout: float) -> list[dict[str, Any]]:
    """Topic complete and every projection's tracking at the topic's last record."""
    deadline = time.monotonic() + timeout
    stored = iso.stored_events()
    while True:
        values = read_topic(iso.bootstrap, iso.settings.topic)
        last: dict[int, int] = {}
        for v in values:
            p = partition_for(v["source"].rpartition("/")[2], iso.settings.topic_partitions)
            last[p] = max(last.get(p, 0), v["position"])
        if len(values) >= len(stored):
            with psycopg.connect(iso.database_url) as conn:
                applied = dict(conn.execute(sql.SQL(
                    "SELECT partition, position FROM {}.partition_positions").format(
                    sql.Identifier(live_schema(iso.database_url)))).fetchall())
            if applied == last:
                return values
        assert time.monotonic() < deadline, (
            f"not caught up: {len(values)} of {len(stored)} records\n"
            f"relay: {iso.roles.log_tail('relay')}\nproject: {iso.roles.log_tail('project')}")
        time.sleep(0.3)


def test_killing_relay_and_projector_loses_and_duplicates_nothing(
        settings: Settings, services: Services) -> None:
    started = time.monotonic()
    rng = random.Random()  # noqa: S311 - chaos timing, not secrets
    with isolated_stack(settings, services, "crash") as iso:
        roles = iso.roles
        roles.start("relay")
        roles.start("project")
        errors: list[BaseException] = []
        codes = [territory_code() for _ in range(4)]
        writers = [threading.Thread(target=load, args=(iso.container.app, codes[i::2], 75, errors),
                                    daemon=True) for i in range(2)]
        for w in writers:
            w.start()
        kills: Counter[str] = Counter()
        while any(w.is_alive() for w in writers) or min(kills["relay"], kills["project"]) < 3:
            time.sleep(rng.uniform(0.6, 2.0))
            role = rng.choice(["relay", "project"])
            assert roles.procs[role].poll() is None, roles.log_tail(role)
            roles.stop(role, kill=True)
            kills[role] += 1
            roles.start(role)
            assert time.monotonic() - started < 70, "the load took too long"
        for w in writers:
            w.join()
        assert not errors, errors

        values = wait_caught_up(iso, timeout=45)
        stored = iso.stored_events()
        assert len(stored) > 3000
        assert len(values) == len(stored)
        assert len({v["id"] for v in values}) == len(values)
        assert Counter(v["id"] for v in values) == Counter(
            event_id(subject, version) for subject, version, _ in stored)
        results = verify_values(values)
        assert set(results) == set(codes)
        assert all(r["verified"] for r in results.values()), results
        assert sum(r["count"] for r in results.values()) == len(stored)

        roles.stop("relay")
        roles.stop("project")
        # A relay killed mid-transaction leaves aborted records at a partition's tail.
        zombie = KafkaProducer(bootstrap_servers=iso.bootstrap,
                               transactional_id=f"zombie-{iso.settings.topic}")
        zombie.init_transactions()
        zombie.begin_transaction()
        for p in range(iso.settings.topic_partitions):
            zombie.send(iso.settings.topic, value=b"{}", partition=p)
        zombie.flush()
        zombie.abort_transaction()
        zombie.close()

        old = live_schema(iso.database_url)
        rebuilt: list[str] = []
        replay = threading.Thread(target=lambda: rebuilt.append(rebuild(
            iso.database_url, iso.bootstrap, iso.settings.topic)), daemon=True)
        replay.start()
        replay.join(30)
        assert rebuilt, "replay did not finish"
        assert live_schema(iso.database_url) == rebuilt[0] != old
        live, fresh = schema_rows(iso.database_url, old), schema_rows(iso.database_url,
                                                                      rebuilt[0])
        for table in TABLES:
            assert live[table] == fresh[table], table
        assert len(live["audit"]) == len(stored)
