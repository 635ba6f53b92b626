"""Concurrent commands of one process are written together (ledger/groupcommit.py) against
the real event store: each gets its own position, every event is stored once in commit
order, and each Idempotency-Key is marked with its own command's result."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from ledger import commands as cmd
from ledger.application import Claim, Written
from ledger.container import Container
from ledger.eventstore import EVENTS_TABLE
from ledger.idempotency import IdempotencyStore
from tests.support.auth import ADMIN
from tests.support.stack import territory_code

pytestmark = pytest.mark.integration


def test_concurrent_pledges_share_transactions_and_keep_their_own_results(
        container: Container) -> None:
    app = container.app
    code = territory_code()
    app.handle(cmd.RegisterTerritory(territory=code, name="Comune di Prova"), ADMIN)
    people = [app.handle(cmd.RegisterActor(territory=code, kind="citizen",
                                           display_name=f"P{i}"), ADMIN).id for i in range(8)]
    store = IdempotencyStore(container.db)
    groups_before = app.recorder.group_commit.groups  # type: ignore[attr-defined]
    written: list[tuple[str, Written]] = []
    lock = threading.Lock()

    def pledge(worker: int) -> None:
        for n in range(25):
            key = f"gc-{code}-{worker}-{n}"
            claim = Claim(f"{ADMIN.id} test", key)
            assert store.claim(claim.scope, key, "fp") is None
            done = app.handle(cmd.Pledge(territory=code, contributor_id=people[worker],
                                         resource_kind="time", unit="minute", quantity=n + 1,
                                         theme="cts.a"), ADMIN, uuid.uuid4(), claim)
            with lock:
                written.append((key, done))
    threads = [threading.Thread(target=pledge, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(written) == 200
    assert app.recorder.group_commit.groups > groups_before  # type: ignore[attr-defined]
    with psycopg.connect(container.database_url) as conn:
        stored = dict(conn.execute(
            f"SELECT originator_id, notification_id FROM {EVENTS_TABLE} WHERE originator_id = "  # noqa: S608
            "ANY(%s)", ([w.id for _, w in written],)).fetchall())
        marks = dict(((k, (i, p)) for k, i, p in conn.execute(
            "SELECT key, committed_id, committed_position FROM idempotency WHERE key = ANY(%s)",
            ([k for k, _ in written],)).fetchall()))
    assert len(stored) == 200  # each pledge stored once
    for key, done in written:
        assert stored[done.id] == done.position  # its own position, not its group's
        assert marks[key] == (done.id, done.position)
