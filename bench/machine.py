"""What the machine's CPUs did while a part of the benchmark ran, from Linux's /proc/stat.

A ratio of two rates measured a few seconds apart means little if the virtual machine lost
part of its CPU time to its host meanwhile: `steal` is the share of the CPUs' time the
hypervisor gave to someone else (seen here: 0% on a quiet evening, 14–25% for whole seconds
of a write path's open loop on a busy one). `make bench` prints these shares for each part
and puts the steal share of each in its JSON line, so that a reader can tell a slow run from
a slow machine. Where /proc/stat cannot be read (not Linux), nothing is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

STAT = Path("/proc/stat")
# The columns of the "cpu" line (proc(5)); guest time is counted in user time already.
COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def parse(text: str) -> dict[str, int] | None:
    """The machine's CPU time by column, in ticks, from the text of /proc/stat."""
    for line in text.splitlines():
        name, *values = line.split() or [""]
        if name == "cpu":
            if len(values) < len(COLUMNS) or not all(v.isdigit() for v in values):
                return None
            return dict(zip(COLUMNS, map(int, values), strict=False))
    return None


def read(stat: Path = STAT) -> dict[str, int] | None:
    try:
        return parse(stat.read_text(encoding="ascii"))
    except OSError:
        return None


@dataclass
class Shares:
    """The share of the CPUs' time each column took between two readings (0.0 to 1.0)."""

    of: dict[str, float] = field(default_factory=dict)

    @property
    def busy(self) -> float:
        return sum(self.of.get(k, 0.0) for k in ("user", "nice", "system", "irq", "softirq"))

    @property
    def steal(self) -> float:
        return self.of.get("steal", 0.0)

    def line(self) -> str:
        if not self.of:
            return "machine: no /proc/stat here"
        return (f"machine: busy {self.busy:.0%}, idle {self.of['idle']:.0%}, iowait "
                f"{self.of['iowait']:.0%}, stolen by the host {self.steal:.0%}")


def between(before: dict[str, int] | None, after: dict[str, int] | None) -> Shares:
    if before is None or after is None:
        return Shares()
    spent = {k: after[k] - before[k] for k in COLUMNS}
    total = sum(spent.values())
    if total <= 0:
        return Shares()
    return Shares({k: v / total for k, v in spent.items()})


@contextmanager
def watched(stat: Path = STAT) -> Iterator[Shares]:
    """`with watched() as shares:` — `shares` is filled in when the block ends."""
    shares = Shares()
    before = read(stat)
    try:
        yield shares
    finally:
        shares.of = between(before, read(stat)).of
