"""Taking turns at shared work: the threads that arrive while one thread does the work for
those before them wait, and the next turn does it for all of them at once (the write service
reads the aggregates of concurrent commands in one query, ledger/loader.py, and writes their
events in one transaction, ledger/groupcommit.py).

Each waiting thread sleeps on a lock of its own. A turn wakes exactly the threads whose work
it did, then hands the next turn to the oldest thread still waiting: a thread is woken once,
when it has its answer or its turn. (With one condition variable and `notify_all`, every
waiting thread was woken after every turn, only to find most of the time that it had to wait
again: a tenth of the API's CPU under load went to those wake-ups.)
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar


class Job:
    """One thread's share of the work: `done` once a turn did it, with `error` if it failed."""

    __slots__ = ("done", "error", "wake")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None
        self.wake = threading.Lock()
        self.wake.acquire()  # released by the turn that did this job, or that hands over

    def fail(self, error: BaseException) -> None:
        self.error, self.done = error, True


J = TypeVar("J", bound=Job)


class Turns(Generic[J]):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: list[J] = []  # waiting, oldest first
        self.busy = False  # a turn is under way

    def take(self) -> list[J]:
        """The jobs of the next turn, taken from the queue (called holding the lock): all of
        them, unless a subclass says otherwise (at least one)."""
        group, self.queue = self.queue, []
        return group

    def work(self, group: list[J]) -> None:
        """Do the jobs of a turn: each ends done, with its answer or its error."""
        raise NotImplementedError

    def run(self, job: J) -> None:
        """Return once `job` is done: by a turn of another thread, or by this one's turns."""
        with self.lock:
            self.queue.append(job)
            mine = not self.busy
            self.busy = True
            group = self.take() if mine else []
        if not mine:
            job.wake.acquire()  # woken done, or with the turn handed over
            if job.done:
                return
            with self.lock:
                group = self.take()
        while True:
            try:
                self.work(group)
            except BaseException as err:  # noqa: BLE001 - each job of the turn hears of it
                for other in group:
                    if not other.done:
                        other.fail(err)
            for other in group:
                if not other.done:  # a work() that forgot one: it must not think it has the turn
                    other.fail(RuntimeError("the turn ended without doing this job"))
                if other is not job:
                    other.wake.release()
            with self.lock:
                if job.done:  # hand the next turn to the oldest waiting, if any
                    following = self.queue[0] if self.queue else None
                    self.busy = following is not None
                    break
                group = self.take()  # this job did not fit in the turn: another
        if following is not None:
            following.wake.release()
