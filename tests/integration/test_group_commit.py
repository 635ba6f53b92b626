"""Concurrent commands of one process are written together (ledger/groupcommit.py) against
the real event store: each gets its own position, every event is stored once in commit
order, and each Idempotency-Key is marked with its own command's result."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

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


def test_a_write_that_conflicts_records_nothing_and_marks_no_claim(container: Container) -> None:
    """The insert and the claims are one statement in one transaction: a uniqueness conflict
    on any event leaves no event and no mark, and the connection is ready for the next write,
    which marks each claim with the id of its own command's last event."""
    recorder = container.app.recorder
    store = IdempotencyStore(container.db)
    code = territory_code()
    taken, fresh, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    keys = [f"conflict-{code}-{n}" for n in range(2)]
    for key in keys:
        assert store.claim("test", key, "fp") is None

    def event(ident: uuid.UUID, version: int) -> StoredEvent:
        return StoredEvent(ident, version, "tests:Conflict", b'{"n":1}')
    (first_id,) = recorder._insert_alone([event(taken, 1)])  # noqa: SLF001
    with pytest.raises(IntegrityError):
        recorder._insert_together(  # noqa: SLF001
            [event(fresh, 1), event(fresh, 2), event(taken, 1)],
            [("test", keys[0], fresh, 1), ("test", keys[1], taken, 2)])

    def stored(*ids: uuid.UUID) -> list[tuple[uuid.UUID, int, int]]:
        with psycopg.connect(container.database_url) as conn:
            return [tuple(r) for r in conn.execute(  # type: ignore[misc]
                f"SELECT originator_id, originator_version, notification_id FROM {EVENTS_TABLE}"  # noqa: S608
                " WHERE originator_id = ANY(%s) ORDER BY notification_id", (list(ids),))]

    def marks() -> list[tuple[object, object]]:
        with psycopg.connect(container.database_url) as conn:
            return [tuple(r) for r in conn.execute(  # type: ignore[misc]
                "SELECT committed_id, committed_position FROM idempotency WHERE key = ANY(%s) "
                "ORDER BY key", (keys,))]
    assert stored(taken, fresh) == [(taken, 1, first_id)]
    assert marks() == [(None, None), (None, None)]

    ids = recorder._insert_together(  # noqa: SLF001
        [event(fresh, 1), event(fresh, 2), event(other, 1)],
        [("test", keys[0], fresh, 1), ("test", keys[1], other, 2)])
    assert len(ids) == 3 and list(ids) == sorted(ids) and ids[0] > first_id
    assert stored(fresh, other) == [(fresh, 1, ids[0]), (fresh, 2, ids[1]), (other, 1, ids[2])]
    assert marks() == [(fresh, ids[1]), (other, ids[2])]
