"""bench/machine.py: the shares of the machine's CPU time between two readings of /proc/stat."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.machine import between, parse, read, watched

STAT = """cpu  100 10 50 800 20 0 5 15 0 0
cpu0 50 5 25 400 10 0 3 7 0 0
cpu1 50 5 25 400 10 0 2 8 0 0
intr 12345 0 0
ctxt 999
"""


def test_parse_reads_the_machine_line_not_a_cpu_of_it() -> None:
    assert parse(STAT) == {"user": 100, "nice": 10, "system": 50, "idle": 800, "iowait": 20,
                           "irq": 0, "softirq": 5, "steal": 15}


@pytest.mark.parametrize("text", ["", "intr 1 2 3\n", "\nintr 1 2 3\n", "cpu 1 2 3\n",
                                  "cpu 1 2 x 4 5 6 7 8\n"])
def test_parse_refuses_what_is_not_a_machine_line(text: str) -> None:
    assert parse(text) is None


def test_shares_of_each_column_between_two_readings() -> None:
    before = parse(STAT)
    after = parse("cpu  160 10 70 900 20 0 5 55 0 0\n")
    shares = between(before, after)  # 60 user, 20 system, 100 idle, 40 steal: 220 ticks
    assert shares.of["user"] == pytest.approx(60 / 220)
    assert shares.busy == pytest.approx(80 / 220)
    assert shares.steal == pytest.approx(40 / 220)
    assert sum(shares.of.values()) == pytest.approx(1.0)
    assert "stolen by the host 18%" in shares.line()


def test_no_reading_or_no_time_gives_no_shares() -> None:
    reading = parse(STAT)
    assert between(None, reading).of == {}
    assert between(reading, reading).of == {}
    assert between(reading, reading).steal == 0.0
    assert between(reading, None).line() == "machine: no /proc/stat here"


def test_watched_fills_the_shares_when_the_block_ends(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text(STAT, encoding="ascii")
    with watched(stat) as shares:
        assert shares.of == {}
        stat.write_text("cpu  100 10 50 830 20 0 5 25 0 0\n", encoding="ascii")
    assert shares.steal == pytest.approx(10 / 40)
    assert shares.of["idle"] == pytest.approx(30 / 40)


def test_a_missing_file_reads_as_nothing(tmp_path: Path) -> None:
    assert read(tmp_path / "absent") is None
    with watched(tmp_path / "absent") as shares:
        pass
    assert shares.of == {}


def test_this_machine_is_read_where_there_is_a_proc() -> None:
    if not Path("/proc/stat").exists():
        assert read() is None
        return
    reading = read()
    assert reading is not None and reading["idle"] > 0
