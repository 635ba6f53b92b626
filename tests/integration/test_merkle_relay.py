"""The relay keeps each territory's Merkle tree in step with its chain, across a crash between
the Kafka commit and the relay's bookkeeping, and a rebuilt topic yields the same records and
the same roots; checkpoints are signed at most once a second per territory, published on the
checkpoint topic, never inconsistent; `ledger audit watch` reports two that disagree."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.workload import Generator
from consumers.relay import Relay
from consumers.topic import committed_messages
from infra.stack import Services
from ledger import merkle, notes
from ledger.checkpoints import CheckpointSigner
from ledger.domain import Actor
from ledger.masterkey import MasterKeyring
from ledger.settings import Settings
from ledger.tlog import TransparencyLog
from tests.support.isolated import Isolated, isolated_stack

pytestmark = pytest.mark.integration


def read_raw(bootstrap: str, topic: str) -> list[tuple[bytes, list[tuple[str, bytes]], bytes]]:
    """(key, headers, value) of every committed record, partition by partition."""
    return [(m.key, list(m.headers or []), m.value)
            for _, m in committed_messages(bootstrap, topic, 5000)]


def by_territory(raw: list[tuple[bytes, list[tuple[str, bytes]], bytes]]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = defaultdict(list)
    for key, _, value in raw:
        out[key.decode()].append(value)
    for values in out.values():
        values.sort(key=lambda v: json.loads(v)["seq"])
    return dict(out)


def relay(iso: Isolated, topic: str, signer: CheckpointSigner, tid: str) -> Relay:
    app = iso.container.app
    return Relay(recorder=app.recorder, decode=app.mapper.transcoder.decode, db=iso.container.db,
                 bootstrap=iso.bootstrap, topic=topic, transactional_id=tid, batch_size=400,
                 signer=signer, checkpoint_topic=topic.replace("events", "checkpoints", 1))


def run_until(worker: Relay, head: int) -> None:
    worker.run(idle_wait=0.02, until=lambda: worker.published >= head)


def wait_signed(worker: Relay, tlog: TransparencyLog, sizes: dict[str, int]) -> None:
    deadline = time.monotonic() + 10
    while any((tlog.checkpoint(t) or _none()).size < n for t, n in sizes.items()):
        assert time.monotonic() < deadline, "checkpoints were not signed"
        worker.sign_pending()
        time.sleep(0.1)


def _none() -> Any:
    return type("Nothing", (), {"size": 0})()


def head(iso: Isolated) -> int:
    return iso.stored_events()[-1][2]


def more(iso: Isolated, codes: list[str], per_territory: int) -> None:
    """More records in territories that exist: organisations joining, saved in one go."""
    iso.container.app.save(*[Actor.register(uuid.uuid4(), code, "ets", display_name=f"ETS {i}",
                                            operator_id="tests")
                             for code in codes for i in range(per_territory)])


def check_trees(iso: Isolated, topic: str, tlog: TransparencyLog) -> dict[str, bytes]:
    """Stored roots = roots of the topic's records; every record marked as a CloudEvent."""
    raw = read_raw(iso.bootstrap, topic)
    assert raw and all(("content-type", b"application/cloudevents+json") in h for _, h, _ in raw)
    roots = {}
    for territory, values in by_territory(raw).items():
        root = merkle.root_of([merkle.leaf_hash(v) for v in values])
        assert tlog.root(territory, len(values)) == root, territory
        roots[territory] = root
    return roots


def test_tree_survives_a_crash_and_a_rebuild(settings: Settings, services: Services,
                                             tmp_path: Path) -> None:
    with isolated_stack(settings, services, "tree") as iso:
        Generator(iso.container.app, iso.container.keys, 2500, 300, 3).run()
        signer = CheckpointSigner(MasterKeyring.open(tmp_path / "log.key"), "test.local")
        tlog = TransparencyLog(iso.container.db)
        topic = iso.settings.topic

        first = relay(iso, topic, signer, f"a-{topic}")
        assert first.publish_once() == 400
        # A crash after the Kafka commit, before the relay's own bookkeeping of the batch.
        batch = first.recorder.select_notifications(first.chain.position + 1, 400)
        first._send(first._records(batch, first.chain))
        first.producer.commit_transaction()
        first.close()

        second = relay(iso, topic, signer, f"a-{topic}")
        assert second.chain.position == batch[-1].id, "re-derived from the event store"
        run_until(second, head(iso))
        raw = by_territory(read_raw(iso.bootstrap, topic))
        sizes = {t: len(v) for t, v in raw.items()}
        wait_signed(second, tlog, sizes)
        roots = check_trees(iso, topic, tlog)
        for territory, size in sizes.items():
            found = tlog.checkpoint(territory)
            assert found is not None and found.size == size
            vkey = tlog.verifier_key(territory)
            assert vkey is not None and vkey.startswith(f"test.local/territories/{territory}+")
            signed = notes.open_checkpoint(found.note, notes.Verifier.parse(vkey),
                                           f"test.local/territories/{territory}")
            assert signed.root == roots[territory]
        second.close()

        # A rebuilt topic: the relay's bookkeeping and the trees are re-derived from nothing.
        rebuilt = topic.replace("events", "events.rebuilt")
        from infra.kafka import ensure_topic

        ensure_topic(iso.bootstrap, rebuilt, iso.settings.topic_partitions)
        third = relay(iso, rebuilt, signer, f"b-{topic}")
        run_until(third, head(iso))
        assert by_territory(read_raw(iso.bootstrap, rebuilt)) == raw, "bit for bit"
        assert check_trees(iso, rebuilt, tlog) == roots

        # New records after the rebuild: the next checkpoints extend the old ones.
        more(iso, sorted(sizes), 40)
        run_until(third, head(iso))
        grown = {t: len(v) for t, v in by_territory(read_raw(iso.bootstrap, rebuilt)).items()}
        wait_signed(third, tlog, grown)
        for territory, size in sizes.items():
            old, new = tlog.checkpoint(territory, size), tlog.checkpoint(territory)
            assert old is not None and new is not None and new.size == grown[territory] > size
            merkle.verify_consistency(size, new.size, old.root, new.root,
                                      tlog.consistency(territory, size, new.size))
        third.close()
        check_signing_cadence_and_publication(iso, [topic, rebuilt], tlog)


def check_signing_cadence_and_publication(iso: Isolated, topics: list[str],
                                          tlog: TransparencyLog) -> None:
    with psycopg.connect(iso.database_url) as conn:
        rows = conn.execute("SELECT territory, signed_at, published FROM log_checkpoints"
                            " ORDER BY territory, size").fetchall()
    assert rows and all(published for _, _, published in rows)
    times: dict[str, list[Any]] = defaultdict(list)
    for territory, signed_at, _ in rows:
        times[territory].append(signed_at)
    for stamps in times.values():
        assert all((b - a).total_seconds() >= 0.99 for a, b in zip(stamps, stamps[1:], strict=False))
    published = [m for topic in topics
                 for m in read_raw(iso.bootstrap, topic.replace("events", "checkpoints", 1))]
    assert {(k.decode(), v.decode()) for k, _, v in published} >= {
        (t, c.note) for t in times for c in tlog.checkpoints(t)}


def test_signer_refuses_a_tree_that_contradicts_its_last_checkpoint(
        settings: Settings, services: Services, tmp_path: Path) -> None:
    with isolated_stack(settings, services, "fork") as iso:
        Generator(iso.container.app, iso.container.keys, 600, 300, 3).run()
        signer = CheckpointSigner(MasterKeyring.open(tmp_path / "log.key"), "test.local")
        tlog = TransparencyLog(iso.container.db)
        worker = relay(iso, iso.settings.topic, signer, f"f-{iso.settings.topic}")
        try:
            run_until(worker, head(iso))
            sizes = {t: link.seq for t, link in worker.chain.links.items()}
            wait_signed(worker, tlog, sizes)
            territory = sorted(sizes)[0]
            with psycopg.connect(iso.database_url) as conn:  # someone rewrites history
                conn.execute("UPDATE log_tiles SET hashes = overlay(hashes placing %s from 1)"
                             " WHERE territory = %s AND level = 0 AND idx = 0",
                             (b"\xff" * 32, territory))
            worker.chain.tree.forget()  # ... and the relay restarts on the rewritten tree
            more(iso, sorted(sizes), 20)
            run_until(worker, head(iso))
            time.sleep(1.1)
            worker.sign_pending()
            assert tlog.checkpoint(territory).size == sizes[territory]  # type: ignore[union-attr]
            others = [t for t in sizes if t != territory]
            assert all(tlog.checkpoint(t).size == sizes[t] + 20 for t in others)  # type: ignore[union-attr]
        finally:
            worker.close()


def test_audit_watch_reports_two_checkpoints_that_disagree(
        settings: Settings, services: Services, tmp_path: Path) -> None:
    with isolated_stack(settings, services, "watch") as iso:
        Generator(iso.container.app, iso.container.keys, 600, 300, 3).run()
        signer = CheckpointSigner(MasterKeyring.open(tmp_path / "log.key"), "test.local")
        tlog = TransparencyLog(iso.container.db)
        topic = iso.settings.topic
        worker = relay(iso, topic, signer, f"w-{topic}")
        try:
            run_until(worker, head(iso))
            wait_signed(worker, tlog, {t: link.seq for t, link in worker.chain.links.items()})
            more(iso, sorted(worker.chain.links), 30)
            run_until(worker, head(iso))
            wait_signed(worker, tlog, {t: link.seq for t, link in worker.chain.links.items()})
        finally:
            worker.close()
        env = os.environ | {"LEDGER_DATABASE_URL": iso.database_url,
                            "LEDGER_KAFKA_BOOTSTRAP": iso.bootstrap, "LEDGER_TOPIC": topic}
        state = tmp_path / "watch.json"
        watch = [sys.executable, "-m", "ledger.cli", "audit", "watch", "--once", "--state", str(state)]
        done = subprocess.run(watch, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr[-2000:]
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        assert summary["problems"] == 0 and summary["checked"] >= 2 * summary["territories"] > 0

        # The log's own key signs a checkpoint of another history, and publishes it.
        territory = sorted(json.loads(state.read_text()))[0]
        latest = tlog.checkpoint(territory)
        assert latest is not None
        with iso.container.db.transaction() as conn:
            key = signer.key(conn, territory)
        forged = notes.sign(notes.Checkpoint(key.name, latest.size + 5, b"\x01" * 32).text(),
                            key.name, key.private)
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=iso.bootstrap)
        producer.send(topic.replace("events", "checkpoints", 1), key=territory.encode(),
                      value=forged.encode())
        producer.flush()
        producer.close()
        done = subprocess.run(watch, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stdout + done.stderr[-2000:]
        problem = json.loads(done.stdout.strip().splitlines()[0])
        assert problem["territory"] == territory and "disagree" in problem["problem"]
        assert problem["evidence"] == [latest.note, forged]
        assert base64.b64encode(latest.root).decode() in problem["evidence"][0]

        # `ledger audit verify` checks each latest checkpoint against the records themselves.
        verify = [sys.executable, "-m", "ledger.cli", "audit", "verify"]
        done = subprocess.run(verify, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        report = json.loads(done.stdout)["territories"][territory]
        assert report["checkpoint"] == {"size": latest.size, "verified": True, "reason": None}
        wrong = notes.sign(notes.Checkpoint(key.name, latest.size, b"\x02" * 32).text(),
                           key.name, key.private)
        with psycopg.connect(iso.database_url) as conn:  # the platform swaps its latest checkpoint
            conn.execute("UPDATE log_checkpoints SET note = %s WHERE territory = %s AND size = %s",
                         (wrong, territory, latest.size))
        done = subprocess.run(verify, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stdout[-2000:]
        report = json.loads(done.stdout)["territories"][territory]
        assert report["verified"] is False and "root" in report["checkpoint"]["reason"]


def test_a_lost_log_keyring_stops_signing_never_publishing(
        settings: Settings, services: Services, tmp_path: Path) -> None:
    with isolated_stack(settings, services, "lost") as iso:
        Generator(iso.container.app, iso.container.keys, 300, 300, 3).run()
        tlog = TransparencyLog(iso.container.db)
        topic = iso.settings.topic
        signer = CheckpointSigner(MasterKeyring.open(tmp_path / "log.key"), "test.local")
        worker = relay(iso, topic, signer, f"l-{topic}")
        try:
            run_until(worker, head(iso))
            sizes = {t: link.seq for t, link in worker.chain.links.items()}
            wait_signed(worker, tlog, sizes)
        finally:
            worker.close()
        # The keyring file is lost: a new one holds none of the keys that wrapped the old ones.
        lost = CheckpointSigner(MasterKeyring.open(tmp_path / "new.key"), "test.local")
        more(iso, sorted(sizes), 10)
        worker = relay(iso, topic, lost, f"l-{topic}")
        try:
            run_until(worker, head(iso))
            time.sleep(1.1)
            worker.sign_pending()
            assert {t: link.seq for t, link in worker.chain.links.items()} == {
                t: n + 10 for t, n in sizes.items()}
        finally:
            worker.close()
        assert all(tlog.checkpoint(t).size == n for t, n in sizes.items())  # type: ignore[union-attr]
        assert sum(len(v) for v in by_territory(read_raw(iso.bootstrap, topic)).values()) == \
            sum(sizes.values()) + 10 * len(sizes)
