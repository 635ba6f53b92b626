"""Group commit's rules, with writers that stand in for the recorder's two write paths."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from ledger.groupcommit import GroupCommit


def _events(n: int) -> list[StoredEvent]:
    return [StoredEvent(uuid.uuid4(), v, "t", b"{}") for v in range(1, n + 1)]


class Store:
    """Numbers events in arrival order; the first joint write waits until `hold` is set, so
    the commands submitted meanwhile queue up behind it."""

    def __init__(self, refuse: set[uuid.UUID] | None = None, fail: BaseException | None = None):
        self.next_id, self.refuse, self.fail = 1, refuse or set(), fail
        self.hold = threading.Event()
        self.transactions: list[list[StoredEvent]] = []
        self.claims: list[tuple[str, str, Any, int]] = []
        self.lock = threading.Lock()

    def _number(self, events: Sequence[StoredEvent]) -> list[int]:
        if self.fail is not None:
            raise self.fail
        if any(e.originator_id in self.refuse for e in events):
            raise IntegrityError("duplicate version")
        with self.lock:
            ids = list(range(self.next_id, self.next_id + len(events)))
            self.next_id += len(events)
            self.transactions.append(list(events))
        return ids

    def many(self, events: Sequence[StoredEvent], claims: list[tuple[str, str, Any, int]]
             ) -> Sequence[int]:
        ids = self._number(events)
        self.claims.extend(claims)
        return ids

    def one(self, events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        self.hold.wait(5)
        ids = self._number(events)
        if kwargs.get("idempotency"):
            self.claims.append((*kwargs["idempotency"], -1))
        return ids


def _submit_all(group: GroupCommit, store: Store, jobs: list[tuple[list[StoredEvent], dict[str, Any]]]
                ) -> list[Any]:
    """The first job alone (held in the store), the rest while it is held."""
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        try:
            results[i] = group.submit(jobs[i][0], **jobs[i][1])
        except BaseException as err:  # noqa: BLE001
            results[i] = err
    first = threading.Thread(target=run, args=(0,))
    first.start()
    while not group.busy:
        pass
    rest = [threading.Thread(target=run, args=(i,)) for i in range(1, len(jobs))]
    for t in rest:
        t.start()
    while len(group.queue) < len(jobs) - 1:
        pass
    store.hold.set()
    for t in [first, *rest]:
        t.join(10)
    return results


def test_commands_that_wait_are_written_together_each_with_its_own_ids_and_claim() -> None:
    store = Store()
    group = GroupCommit(store.many, store.one)
    jobs = [(_events(n), {"idempotency": ("s", f"k{n}", f"r{n}")} if n % 2 else {})
            for n in (1, 2, 3, 1)]
    results = _submit_all(group, store, jobs)
    assert results[0] == [1]
    assert [len(r) for r in results[1:]] == [2, 3, 1]
    assert sorted(i for r in results for i in r) == list(range(1, 8))  # each id once
    assert len(store.transactions) == 2 and group.groups == 1  # the first, then the rest
    together = [("s", "k3", "r3", 4), ("s", "k1", "r1", 5)]  # index of each one's last event
    assert store.claims == [("s", "k1", "r1", -1), *together]


def test_a_conflict_reaches_only_the_command_that_lost_its_race() -> None:
    loser = _events(1)
    store = Store(refuse={loser[0].originator_id})
    group = GroupCommit(store.many, store.one)
    results = _submit_all(group, store, [(_events(1), {}), (_events(2), {}), (loser, {}),
                                          (_events(1), {})])
    assert isinstance(results[2], IntegrityError)
    assert [len(r) for i, r in enumerate(results) if i != 2] == [1, 2, 1]
    assert group.groups == 0  # the joint write failed; each was written on its own


def test_an_unreachable_database_reaches_every_command_of_the_group() -> None:
    store = Store(fail=OperationalError("connection refused"))
    group = GroupCommit(store.many, store.one)
    results = _submit_all(group, store, [(_events(1), {}), (_events(1), {}), (_events(1), {})])
    assert all(isinstance(r, OperationalError) for r in results)


def test_a_group_stops_at_max_events_and_the_rest_follow() -> None:
    store = Store()
    group = GroupCommit(store.many, store.one, max_events=3)
    results = _submit_all(group, store, [(_events(1), {})] + [(_events(2), {}) for _ in range(4)])
    assert sorted(i for r in results for i in r) == list(range(1, 10))
    assert all(len(t) <= 3 for t in store.transactions[1:])


@pytest.mark.parametrize("threads", [8])
def test_many_threads_every_command_answered_once(threads: int) -> None:
    store = Store()
    store.hold.set()
    group = GroupCommit(store.many, store.one)
    out: list[Sequence[int] | None] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(200):
            ids = group.submit(_events(1))
            with lock:
                out.append(ids)
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert sorted(i for ids in out for i in ids or []) == list(range(1, threads * 200 + 1))
