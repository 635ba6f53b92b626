"""Concurrent commands of one process are written together (ledger/groupcommit.py) against
the real event store: each gets its own position, every event is stored once in commit
order, and each Idempotency-Key is marked with its own command's result."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

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
    on any event leaves no event and no mark, and the recorder is ready for the next write,
    which marks each claim with the id of its own command's last event."""
    app, recorder = container.app, container.app.recorder
    store = IdempotencyStore(container.db)
    code = territory_code()
    app.handle(cmd.RegisterTerritory(territory=code, name="Comune di Prova"), ADMIN)
    made = [uuid.uuid4() for _ in range(3)]
    decided = app.decide_each([(cmd.RegisterActor(territory=code, kind="ets",
                                                  display_name=f"ETS {n}"), made[n])
                               for n in range(3)], ADMIN)
    first, second, third = [app.mapper.to_stored_event(e) for events in decided for e in events]
    keys = [f"conflict-{code}-{n}" for n in range(2)]
    for key in keys:
        assert store.claim("test", key, "fp") is None

    def stored(*ids: uuid.UUID) -> list[tuple[uuid.UUID, int]]:
        with psycopg.connect(container.database_url) as conn:
            return [(r[0], r[1]) for r in conn.execute(
                f"SELECT originator_id, notification_id FROM {EVENTS_TABLE} "  # noqa: S608
                "WHERE originator_id = ANY(%s) ORDER BY notification_id", (list(ids),))]

    def marks() -> list[tuple[object, object]]:
        with psycopg.connect(container.database_url) as conn:
            return [(r[0], r[1]) for r in conn.execute(
                "SELECT committed_id, committed_position FROM idempotency WHERE key = ANY(%s) "
                "ORDER BY key", (keys,))]
    (first_id,) = recorder._insert_alone([first])  # type: ignore[attr-defined]  # noqa: SLF001
    with pytest.raises(IntegrityError):
        recorder._write(  # type: ignore[attr-defined]  # noqa: SLF001
            [second, third, first], [("test", keys[0], made[1], 0), ("test", keys[1], made[2], 1)])
    assert stored(*made) == [(made[0], first_id)]
    assert marks() == [(None, None), (None, None)]

    ids = recorder._write(  # type: ignore[attr-defined]  # noqa: SLF001
        [second, third], [("test", keys[0], made[1], 0), ("test", keys[1], made[2], 1)])
    assert len(ids) == 2 and ids[0] > first_id and ids[1] > ids[0]
    assert stored(*made) == [(made[0], first_id), (made[1], ids[0]), (made[2], ids[1])]
    assert marks() == [(made[1], ids[0]), (made[2], ids[1])]
