"""How ledger.importplan cuts a history into parts that may run in parallel."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from ledger import commands as cmd
from ledger import importplan
from ledger.importer import scan
from ledger.importplan import Line, plan

T = "018182"


def _parsed(facts: list[dict[str, Any]]) -> list[Line]:
    return [scan(n, json.dumps({"territory": T} | f)) for n, f in enumerate(facts, 1)]


def _cycle(n: int, giver: str = "ets", taker: str = "rosa") -> list[dict[str, Any]]:
    goods = {"resource_kind": "goods", "unit": "item", "quantity": 5, "theme": "cts.a"}
    return [{"command": "pledge", "ref": f"c{n}", "contributor_id": giver} | goods,
            {"command": "post_request", "ref": f"r{n}", "beneficiary_id": taker} | goods,
            {"command": "match", "ref": f"m{n}", "contribution_id": f"c{n}",
             "request_id": f"r{n}", "quantity": 2},
            {"command": "fulfil", "ref": f"f{n}", "match_id": f"m{n}", "quantity": 2}]


START = [{"command": "register_territory", "name": "Voghera"},
         {"command": "register_actor", "ref": "ets", "kind": "ets", "display_name": "Auser"},
         {"command": "register_actor", "ref": "rosa", "kind": "citizen", "display_name": "R"}]


@pytest.fixture(autouse=True)
def _small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importplan, "MIN_SPLIT", 1)


def test_independent_stories_are_spread_and_the_shared_lines_run_in_every_part() -> None:
    facts = START + [f for n in range(10) for f in _cycle(n)]
    facts.insert(19, {"command": "register_actor", "ref": "late", "kind": "citizen",
                      "display_name": "L"})
    parsed = _parsed(facts)
    parts = plan(parsed, 3)
    assert parts is not None and len(parts) == 3
    shared = {i for i, line in enumerate(parsed) if line.kind in importplan.SHARED}
    assert shared == {0, 1, 2, 19}
    for part in parts:
        assert shared <= set(part) and part == sorted(part)
    flows = [set(part) - shared for part in parts]
    assert sorted(i for f in flows for i in f) == sorted(set(range(len(parsed))) - shared)
    stories = {}
    for n, line in enumerate(parsed):
        if line.kind is cmd.Pledge:
            stories[n] = [n, n + 1, n + 2, n + 3]
    for story in stories.values():  # a story's four lines stay together
        assert sum(1 for part in flows if set(story) <= part) == 1
    # The first part (run by the importing process, which then writes the rows) gets about
    # FIRST_SHARE of the stories of each other part; these are of four lines each.
    assert abs(len(flows[1]) - len(flows[2])) <= 4
    assert abs(len(flows[0]) - importplan.FIRST_SHARE * len(flows[1])) <= 4


def test_what_the_file_links_runs_in_one_part() -> None:
    """A second match on an offer ties two stories together."""
    facts = START + _cycle(1) + _cycle(2) + [
        {"command": "match", "ref": "x", "contribution_id": "c1", "request_id": "r2",
         "quantity": 1}]
    parsed = _parsed(facts)
    assert plan(parsed, 2) is None


@pytest.mark.parametrize("fact", [
    {"command": "pledge", "ref": "c", "contributor_id": str(uuid.uuid4()),
     "resource_kind": "time", "unit": "minute", "quantity": 5, "theme": "cts.a"},
    {"command": "fulfil", "match_id": "elsewhere", "quantity": 1},
    {"command": "match", "contribution_id": "c1", "request_id": "r9", "quantity": 1},
])
def test_a_file_that_names_what_it_does_not_create_before_runs_in_one_part(
        fact: dict[str, Any]) -> None:
    facts = START + _cycle(1) + _cycle(2) + [fact] + _cycle(3)
    assert plan(_parsed(facts), 2) is None


def test_a_file_for_a_territory_it_does_not_register_runs_in_one_part() -> None:
    assert plan(_parsed(START[1:] + _cycle(1) + _cycle(2)), 2) is None


def test_one_cpu_or_a_small_file_runs_in_one_part(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _parsed(START + _cycle(1) + _cycle(2))
    assert plan(parsed, 1) is None
    monkeypatch.setattr(importplan, "MIN_SPLIT", 1000)
    assert plan(parsed, 2) is None


def test_every_command_of_the_file_format_is_either_shared_or_flow() -> None:
    from ledger.importer import COMMANDS

    assert set(COMMANDS.values()) == importplan.SHARED | importplan.FLOW
    assert importplan.REFERENCES[cmd.RegisterActor] == {"employer_id", "case_owner_id"}
