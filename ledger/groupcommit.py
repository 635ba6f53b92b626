"""Group commit: the events of commands that arrive while another command's events are being
written are written together, in one transaction, by one of the waiting threads
(ledger/combine.py: taking turns).

Each command still gets its own notification ids and its own idempotency mark, in the same
transaction as its events. One transaction for many commands takes the event store's table
lock once and waits for one WAL flush instead of one each. If the joint transaction fails
on a uniqueness conflict (a command decided on a version that another command, perhaps of
the same group, has taken), each command of the group is written again on its own, so only
the command that lost its race gets the conflict, and retries as it would have alone. Any
other error (PostgreSQL unreachable) reaches every command of the group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger.combine import Job, Turns

# write(events, claims): the notification ids of all the events, in order; claims: for each
# command that carries an idempotency mark, (scope, key, resource id, index of its last event).
WriteMany = Callable[[Sequence[StoredEvent], list[tuple[str, str, Any, int]]], Sequence[int]]
WriteOne = Callable[..., Sequence[int] | None]


class _Write(Job):
    __slots__ = ("events", "ids", "kwargs")

    def __init__(self, events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.events, self.kwargs = events, kwargs
        self.ids: Sequence[int] | None = None


class GroupCommit(Turns[_Write]):
    def __init__(self, write_many: WriteMany, write_one: WriteOne, max_events: int = 2000) -> None:
        super().__init__()
        self.write_many, self.write_one, self.max_events = write_many, write_one, max_events
        self.groups = 0  # transactions that carried more than one command (for tests, metrics)

    def submit(self, events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        job = _Write(events, kwargs)
        self.run(job)
        if job.error is not None:
            raise job.error
        return job.ids

    def take(self) -> list[_Write]:
        """The oldest waiting commands, up to max_events events (at least one command)."""
        size, count = 0, 0
        for job in self.queue:
            if count and size + len(job.events) > self.max_events:
                break
            size += len(job.events)
            count += 1
        group, self.queue = self.queue[:count], self.queue[count:]
        return group

    def work(self, group: list[_Write]) -> None:
        if len(group) > 1:
            try:
                self._write_together(group)
                return
            except IntegrityError:
                pass  # someone lost a race: each on its own, so only that one hears of it
            except BaseException as err:  # noqa: BLE001 - handed to every waiting command
                for job in group:
                    job.fail(err)
                return
        for job in group:
            try:
                job.ids = self.write_one(job.events, **job.kwargs)
                job.done = True
            except BaseException as err:  # noqa: BLE001 - re-raised in the command's thread
                job.fail(err)

    def _write_together(self, group: list[_Write]) -> None:
        events: list[StoredEvent] = []
        claims: list[tuple[str, str, Any, int]] = []
        bounds = []
        for job in group:
            start = len(events)
            events.extend(job.events)
            bounds.append((start, len(events)))
            claim = job.kwargs.get("idempotency")
            if claim and job.events:
                scope, key, resource = claim
                claims.append((scope, key, resource, len(events) - 1))
        ids = self.write_many(events, claims)
        self.groups += 1
        for job, (start, end) in zip(group, bounds, strict=True):
            job.ids = list(ids[start:end]) if ids is not None else None
            job.done = True
