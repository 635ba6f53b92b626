"""Scale-out on a three-broker KRaft cluster (replication 3, min.insync.replicas 2).

A broker is SIGKILLed under write load: every stored event is still on the topic exactly
once. Two projector instances in one consumer group split the partitions and neither applies
a record of the other's; when one leaves, the other takes its partitions over from PostgreSQL
tracking without applying anything twice; the projections equal a fresh replay.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from consumers.audit import verify_values
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
)
from ledger.records import event_id
from ledger.settings import Settings
from tests.support.auth import ADMIN
from tests.support.cluster import (
    Observed,
    TopicRecord,
    cluster_stack,
    describe,
    live_schema,
    stored_events,
)
from tests.support.stack import territory_code

pytestmark = pytest.mark.integration

PARTITIONS = 3
TABLES = ("territories", "themes", "actors", "contributions", "requests", "matches",
          "fulfilments", "history", "audit", "territory_positions", "partition_positions",
          "tracking")


def codes_covering(partitions: int, per_partition: int) -> list[str]:
    """Territory codes whose records land on every partition, per_partition of each."""
    found: dict[int, list[str]] = {p: [] for p in range(partitions)}
    while any(len(c) < per_partition for c in found.values()):
        code = territory_code()
        bucket = found[partition_for(code, partitions)]
        if len(bucket) < per_partition and code not in bucket:
            bucket.append(code)
    return [code for codes in found.values() for code in codes]


def write(app: LedgerApplication, codes: list[str], rounds: int, done: Counter[str],
          errors: list[BaseException], register: bool = True,
          stop: threading.Event | None = None) -> None:
    """Pledge, ask, match, fulfil, reverse, cancel, round after round over the codes (until
    `stop`, if given)."""
    try:
        actors: dict[str, list[uuid.UUID]] = {}
        for code in codes:
            if register:
                app.handle(RegisterTerritory(code, f"Ambito {code}"), ADMIN)
            actors[code] = [app.handle(RegisterActor(code, kind, name), ADMIN).id
                            for kind, name in (("ets", "Auser"), ("company", "Acme"))]
        for i in range(rounds):
            if stop is not None and stop.is_set():
                return
            code = codes[i % len(codes)]
            giver, taker = actors[code]
            c = app.handle(Pledge(code, giver, "time", "minute", 100, "cts.a"), ADMIN).id
            r = app.handle(PostRequest(code, taker, "time", "minute", 100, "cts.a"), ADMIN).id
            m = app.handle(MakeMatch(code, c, r, 60), ADMIN).id
            f = app.handle(Fulfil(code, m, 20), ADMIN).id
            app.handle(ReverseFulfilment(code, f, "recorded twice"), ADMIN)
            app.handle(CancelMatch(code, m, "moved away"), ADMIN)
            done[threading.current_thread().name] += 1
    except BaseException as err:  # noqa: BLE001 - reported by the test thread
        errors.append(err)


def assert_exactly_once(records: list[TopicRecord], url: str) -> None:
    """Every acknowledged write (stored event) once on the topic, chains gapless and valid."""
    values = [v for _, _, v in records]
    assert Counter(v["id"] for v in values) == Counter(
        event_id(subject, version) for subject, version in stored_events(url))
    seqs: dict[str, list[int]] = {}
    for v in values:
        seqs.setdefault(v["source"].rpartition("/")[2], []).append(v["seq"])
    assert all(s == list(range(1, len(s) + 1)) for s in seqs.values()), seqs
    results = verify_values(values)
    assert all(r["verified"] for r in results.values()), results


def assert_applied_once(records: list[TopicRecord], projectors: list[Observed]) -> None:
    """Every record applied by exactly one instance, which held its partition then."""
    applied = [(p, o) for proj in projectors for p, o, _ in proj.applied]
    assert Counter(applied) == Counter((p, o) for p, o, _ in records)
    for proj in projectors:
        foreign = [(p, o) for p, o, held in proj.applied if not held]
        assert not foreign, f"{proj.thread.name} applied records of partitions it did not hold"


def schema_rows(url: str, schema: str) -> dict[str, list[tuple[str, ...]]]:
    with psycopg.connect(url) as conn:
        return {table: sorted(tuple(str(v) for v in row) for row in conn.execute(
            sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))))
            for table in TABLES}


def test_a_broker_dies_under_load_and_two_projectors_share_the_partitions(
        settings: Settings, services: Services, tmp_path: Path) -> None:
    with cluster_stack(settings, services, tmp_path, PARTITIONS) as stack:
        replicas = describe(stack.cluster.bootstrap, stack.topic)
        assert {p: len(d["replica_nodes"]) for p, d in replicas.items()} == {0: 3, 1: 3, 2: 3}
        first = stack.projector("A")
        projectors = [first]
        try:
            codes = codes_covering(PARTITIONS, 2)
            done: Counter[str] = Counter()
            errors: list[BaseException] = []
            stop = threading.Event()
            writers = [threading.Thread(target=write, daemon=True, args=(
                stack.container.app, codes[i::2], 10**6, done, errors, True, stop))
                for i in range(2)]
            for w in writers:
                w.start()

            # Under load: SIGKILL a broker leading a partition (2 of 3 replicas stay in
            # sync), then a second instance joins the group and the partitions are split.
            stack.wait("the relay published nothing", lambda: stack.relayed() > 0, 30)
            stack.hold(2)
            victim = stack.pick_victim()
            stack.cluster.kill(victim)
            stack.hold(3)
            second = stack.projector("B")
            projectors.append(second)
            stack.wait("the second instance got no partition", lambda: bool(second.owned), 30)
            stack.hold(4)
            stop.set()
            for w in writers:
                w.join(30)
            assert not errors, errors
            restarting = threading.Thread(target=stack.cluster.restart, args=(victim,),
                                          daemon=True)
            restarting.start()

            records = stack.caught_up(projectors)
            assert len(records) > 1000
            assert_exactly_once(records, stack.url)
            stack.wait("the partitions were not split", lambda: bool(
                first.owned and second.owned and not first.owned & second.owned
                and first.owned | second.owned == set(range(PARTITIONS))), 30)
            assert {p for p, _, _ in second.applied} == second.owned
            assert_applied_once(records, projectors)

            # The second instance leaves: the first takes its partitions over from tracking.
            handed = set(second.owned)
            last_of_second = {p: max(o for q, o, _ in second.applied if q == p) for p in handed}
            mark = len(first.applied)
            second.shut()
            projectors.remove(second)
            stack.wait("the partitions were not taken over",
                       lambda: first.owned == set(range(PARTITIONS)), 30)
            more = threading.Thread(target=write, daemon=True, args=(
                stack.container.app, codes, len(codes), done, errors, False))
            more.start()
            more.join(60)
            assert not errors, errors
            records = stack.caught_up([first])
            assert_exactly_once(records, stack.url)
            assert_applied_once(records, [first, second])
            for p in handed:  # resumed right after the second's tracking, nothing again
                taken = [o for q, o, _ in first.applied[mark:] if q == p]
                assert taken and min(taken) > last_of_second[p], (p, last_of_second, taken[:3])
        finally:
            for proj in projectors:
                proj.shut()

        old = live_schema(stack.url)
        fresh = rebuild(stack.url, stack.cluster.bootstrap, stack.topic)
        live, rebuilt = schema_rows(stack.url, old), schema_rows(stack.url, fresh)
        for table in TABLES:
            assert live[table] == rebuilt[table], table

        restarting.join(60)
        stack.wait("the restarted broker did not rejoin every ISR", lambda: all(
            len(d["isr_nodes"]) == 3
            for d in describe(stack.cluster.bootstrap, stack.topic).values()), 30)
