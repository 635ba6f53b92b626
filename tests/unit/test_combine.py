"""Taking turns (ledger/combine.py): who does the work, who is woken, and when."""

from __future__ import annotations

import threading
import time

from ledger.combine import Job, Turns


class Add(Job):
    __slots__ = ("n", "total")

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.total = n, 0


class Adder(Turns[Add]):
    """Each turn adds up its jobs' numbers; the first turn waits for `hold`."""

    def __init__(self, forget: bool = False, fail: bool = False) -> None:
        super().__init__()
        self.hold = threading.Event()
        self.turns: list[tuple[str, list[int]]] = []
        self.forget, self.fail = forget, fail

    def work(self, group: list[Add]) -> None:
        if not self.turns:
            assert self.hold.wait(10)
        self.turns.append((threading.current_thread().name, [j.n for j in group]))
        if self.fail:
            raise OSError("unreachable")
        total = sum(j.n for j in group)
        for j in group[:-1] if self.forget else group:
            j.total, j.done = total, True


def _run_all(turns: Adder, numbers: list[int]) -> dict[int, Add]:
    jobs = {n: Add(n) for n in numbers}
    threads = {n: threading.Thread(target=turns.run, args=(jobs[n],), name=f"t{n}")
               for n in numbers}
    threads[numbers[0]].start()
    while not turns.busy:
        time.sleep(0.001)
    for n in numbers[1:]:
        threads[n].start()
        while len(turns.queue) < numbers.index(n):  # queued in this order
            time.sleep(0.001)
    turns.hold.set()
    for t in threads.values():
        t.join(10)
        assert not t.is_alive()
    return jobs


def test_those_who_wait_are_done_by_the_oldest_of_them_in_one_turn() -> None:
    turns = Adder()
    jobs = _run_all(turns, [1, 2, 3, 4])
    assert turns.turns == [("t1", [1]), ("t2", [2, 3, 4])]
    assert [jobs[n].total for n in (1, 2, 3, 4)] == [1, 9, 9, 9]
    assert not turns.busy and not turns.queue


def test_a_failing_turn_fails_each_of_its_jobs_and_the_next_turn_still_runs() -> None:
    turns = Adder(fail=True)
    jobs = _run_all(turns, [1, 2, 3])
    assert [type(jobs[n].error) for n in (1, 2, 3)] == [OSError] * 3
    assert all(jobs[n].done for n in (1, 2, 3))
    assert [names for _, names in turns.turns] == [[1], [2, 3]]
    assert not turns.busy


def test_a_job_a_turn_forgot_fails_instead_of_taking_a_second_turn() -> None:
    turns = Adder(forget=True)
    jobs = _run_all(turns, [1, 2, 3])
    assert isinstance(jobs[1].error, RuntimeError)  # alone in its turn, and forgotten
    assert jobs[2].total == 5 and isinstance(jobs[3].error, RuntimeError)
    assert len(turns.turns) == 2 and not turns.busy
