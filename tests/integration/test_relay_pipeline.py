"""The pipelined relay (records built in a process of its own, ahead of the batch being sent):
the same bytes as the relay that builds them itself; an aborted transaction or a fenced relay
drops what the builder had built ahead, and nothing is lost or published twice."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest
from kafka.errors import KafkaError

from bench.workload import Generator
from consumers.audit import verify_values
from consumers.relay import Relay
from consumers.topic import committed_messages
from infra.kafka import ensure_topic
from infra.stack import Services
from ledger import merkle
from ledger.settings import Settings
from ledger.tlog import TransparencyLog
from tests.support.isolated import Isolated, isolated_stack

pytestmark = pytest.mark.integration


def relay(iso: Isolated, topic: str, tid: str, *, pipeline: bool = True) -> Relay:
    app = iso.container.app
    return Relay(recorder=app.recorder, decode=app.mapper.transcoder.decode, db=iso.container.db,
                 bootstrap=iso.bootstrap, topic=topic, transactional_id=tid, batch_size=300,
                 pipeline=pipeline)


def records(bootstrap: str, topic: str) -> dict[str, list[bytes]]:
    """Each territory's committed values, in chain order."""
    out: dict[str, list[bytes]] = defaultdict(list)
    for _, m in committed_messages(bootstrap, topic, 5000):
        assert ("content-type", b"application/cloudevents+json") in list(m.headers or [])
        out[m.key.decode()].append(m.value)
    for values in out.values():
        values.sort(key=lambda v: orjson.loads(v)["seq"])
    return dict(out)


def check_exactly_once(iso: Isolated, topic: str) -> dict[str, list[bytes]]:
    """Every stored event once on the topic, every chain intact, every stored tree the
    topic's."""
    found = records(iso.bootstrap, topic)
    values: list[dict[str, Any]] = [orjson.loads(v) for vs in found.values() for v in vs]
    assert Counter(v["position"] for v in values) == Counter(p for _, _, p in iso.stored_events())
    assert all(result["verified"] for result in verify_values(values).values())
    tlog = TransparencyLog(iso.container.db)
    for territory, chain in found.items():
        leaves = [merkle.leaf_hash(v) for v in chain]
        assert tlog.root(territory, len(chain)) == merkle.root_of(leaves), territory
    return found


def test_an_aborted_transaction_drops_what_was_built_ahead(settings: Settings,
                                                           services: Services) -> None:
    with isolated_stack(settings, services, "pipeline") as iso:
        Generator(iso.container.app, iso.container.keys, 2000, 300, 3).run()
        head = iso.stored_events()[-1][2]
        topic = iso.settings.topic
        worker = relay(iso, topic, f"p-{topic}")
        try:
            assert worker.builder is not None, "the relay builds in a process of its own"
            commit, commits = worker._commit, [0]
            seen: dict[str, int] = {}

            def failing_commit(sent: list[Any]) -> None:
                commits[0] += 1
                if commits[0] == 3:
                    builder = worker.builder
                    assert builder is not None
                    # The next batch was built from this one's chain, before it commits.
                    deadline = time.monotonic() + 30
                    while builder.received < 4:
                        assert time.monotonic() < deadline, "the builder built nothing ahead"
                        time.sleep(0.01)
                    seen["position"] = worker.chain.position
                    worker.producer.flush()
                    worker.producer.abort_transaction()
                    raise RuntimeError("the broker aborted the transaction")
                commit(sent)

            worker._commit = failing_commit  # type: ignore[method-assign]
            with pytest.raises(RuntimeError, match="aborted"):
                worker.run(idle_wait=0.02, until=lambda: worker.published >= head)
            # Two batches committed and saved; the third aborted, and those built after it
            # were never sent.
            assert worker.chain.position == seen["position"] == worker.published
            assert 0 < worker.published < head
            on_topic = [orjson.loads(v) for vs in records(iso.bootstrap, topic).values()
                        for v in vs]
            assert len(on_topic) == 600
            assert max(v["position"] for v in on_topic) == worker.published

            worker._commit = commit  # type: ignore[method-assign]
            worker.run(idle_wait=0.02, until=lambda: worker.published >= head)
        finally:
            worker.close()
        pipelined = check_exactly_once(iso, topic)

        # The relay that builds its records itself writes the same bytes.
        alone = topic.replace("events", "events.alone", 1)
        ensure_topic(iso.bootstrap, alone, iso.settings.topic_partitions)
        with iso.container.db.transaction() as conn:  # re-derived from nothing for that topic
            conn.execute("DELETE FROM relay_chain")
            conn.execute("DELETE FROM relay_checkpoint")
            conn.execute("DELETE FROM log_tiles")
        other = relay(iso, alone, f"q-{topic}", pipeline=False)
        try:
            assert other.builder is None
            other.run(idle_wait=0.02, until=lambda: other.published >= head)
        finally:
            other.close()
        assert check_exactly_once(iso, alone) == pipelined, "bit for bit"


def test_a_fenced_pipelined_relay_loses_and_repeats_nothing(settings: Settings,
                                                             services: Services) -> None:
    with isolated_stack(settings, services, "pipefence") as iso:
        Generator(iso.container.app, iso.container.keys, 1500, 300, 3).run()
        head = iso.stored_events()[-1][2]
        topic = iso.settings.topic
        first = relay(iso, topic, f"f-{topic}")
        try:
            second: list[Relay] = []
            commit = first._commit

            def fenced_after_two(sent: list[Any]) -> None:
                commit(sent)
                if first.sent >= 600 and not second:
                    # A second relay with the same id: the first is a zombie from now on.
                    second.append(relay(iso, topic, f"f-{topic}"))

            first._commit = fenced_after_two  # type: ignore[method-assign]
            with pytest.raises(KafkaError):
                first.run(idle_wait=0.02, until=lambda: first.published >= head)
        finally:
            first.close()
        assert second, "the second relay started"
        try:
            second[0].run(idle_wait=0.02, until=lambda: second[0].published >= head)
        finally:
            second[0].close()
        check_exactly_once(iso, topic)
