"""`ledger import FILE` (CONTRACT.md, "Import of history"): JSON lines through the same rules as
the API; a second import records nothing; a bad line exits 1 naming it, and nothing of the file
is recorded."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ledger import importplan
from ledger.container import Container
from ledger.domain import Actor, Territory
from ledger.eventstore import LedgerRecorder
from ledger.idempotency import IdempotencyStore
from ledger.importer import IMPORTER, BadLine, import_file, parse, ref_id
from ledger.privacy import unseal
from tests.support.stack import Roles, territory_code

pytestmark = pytest.mark.integration


def _history(code: str) -> list[dict[str, Any]]:
    return [
        {"command": "register_territory", "territory": code, "name": "Comune di Casalpusterlengo"},
        {"command": "register_actor", "territory": code, "ref": "auser", "kind": "ets",
         "display_name": "Auser Casale"},
        {"command": "register_actor", "territory": code, "ref": "rosa", "kind": "citizen",
         "display_name": "Rosa Neri", "personal": {"fiscal_code": "NRERSO40A41B910X"}},
        {"command": "pledge", "territory": code, "ref": "hours", "contributor_id": "auser",
         "resource_kind": "time", "unit": "minute", "quantity": 600, "theme": "cts.a"},
        {"command": "post_request", "territory": code, "ref": "visits", "beneficiary_id": "rosa",
         "resource_kind": "time", "unit": "minute", "quantity": 240, "theme": "cts.a"},
        {"command": "match", "territory": code, "ref": "m1", "contribution_id": "hours",
         "request_id": "visits", "quantity": 240},
        {"command": "fulfil", "territory": code, "ref": "f1", "match_id": "m1", "quantity": 120,
         "fulfilled_on": "2019-03-14"},
        {"command": "fulfil", "territory": code, "ref": "f2", "match_id": "m1", "quantity": 120,
         "fulfilled_on": "2019-03-21"},
    ]


def _write(path: Path, facts: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(f) + "\n" for f in facts))
    return path


def _import(roles: Roles, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ledger.cli", "import", str(path)],
                          env=roles.env(), capture_output=True, text=True, timeout=120)


def _events(database_url: str, code: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_events WHERE convert_from(state, 'UTF8')"
                           " LIKE %s", (f'%"territory":"{code}"%',)).fetchone()
    assert row is not None
    return int(row[0])


def test_import_records_once_and_keeps_dates(roles: Roles, tmp_path: Path) -> None:
    code = territory_code()
    path = _write(tmp_path / "history.jsonl", _history(code))
    first = _import(roles, path)
    assert first.returncode == 0, first.stderr
    recorded = _events(roles.database_url, code)
    # territory, 2 actors, pledge, request, match (+2 side events), 2 fulfilments (+3 each)
    assert recorded == 1 + 2 + 1 + 1 + 3 + 2 * 4
    assert f"{recorded} events recorded" in first.stdout
    again = _import(roles, path)
    assert again.returncode == 0 and "imported before" in again.stdout
    assert _events(roles.database_url, code) == recorded
    with psycopg.connect(roles.database_url) as conn:
        state = conn.execute("SELECT convert_from(state, 'UTF8') FROM ledger_events WHERE "
                             "originator_id = %s", (ref_id(code, "f1"),)).fetchone()
    assert state is not None and '"fulfilled_on":"2019-03-14"' in state[0].replace(" ", "")
    assert "NRERSO40A41B910X" not in state[0]


@pytest.mark.parametrize(("bad", "line", "why"), [
    ({"command": "match", "contribution_id": "hours", "request_id": "visits", "quantity": 9999},
     6, "OverAllocationError"),
    ({"command": "fly", "contribution_id": "hours"}, 6, "unknown command"),
    ({"command": "match", "contribution_id": "hours", "colour": "red"}, 6, "unknown fields"),
])
def test_a_bad_line_is_named_and_nothing_is_recorded(roles: Roles, tmp_path: Path,
                                                     bad: dict[str, Any], line: int,
                                                     why: str) -> None:
    code = territory_code()
    facts = _history(code)
    facts[line - 1] = bad | {"territory": code, "ref": "m1"}
    result = _import(roles, _write(tmp_path / "bad.jsonl", facts))
    assert result.returncode == 1
    assert f"line {line}" in result.stderr and why in result.stderr
    assert "nothing of" in result.stderr
    assert _events(roles.database_url, code) == 0


def _story(code: str, cycles: int, seed: int = 7) -> list[dict[str, Any]]:
    """A territory's history with every kind of fact: people and organisations, offers, needs,
    matches, deliveries (some in two parts), feedback, reversals, cancellations, withdrawals,
    management costs, a theme and a programme of its own."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    facts: list[dict[str, Any]] = [
        {"command": "register_territory", "name": f"Comune {code}"},
        {"command": "define_theme", "code": "orti", "label": "Orti sociali"},
        {"command": "register_actor", "ref": "acme", "kind": "company", "display_name": "Acme",
         "vat_number": "IT01234567890"},
        {"command": "register_actor", "ref": "auser", "kind": "ets", "display_name": "Auser",
         "runts_id": "R0001234"},
        {"command": "define_programme", "code": "famiglie", "name": "Famiglie e minori",
         "partners": ["auser"]},
    ]
    people = [f"p{i}" for i in range(12)]
    facts += [{"command": "register_actor", "ref": p, "kind": "citizen",
               "display_name": f"Persona {i}", "personal": {"email": f"{p}@example.it"},
               "employer_id": "acme" if i % 3 == 0 else None} for i, p in enumerate(people)]
    givers = ["acme", "auser", *people[:4]]
    for n in range(cycles):
        offer, need, match = f"c{n}", f"r{n}", f"m{n}"
        kind, unit = rng.choice([("time", "minute"), ("money", "eur_cent"), ("goods", "item")])
        theme = rng.choice(["cts.a", "orti"])
        facts += [
            {"command": "pledge", "ref": offer, "contributor_id": rng.choice(givers),
             "resource_kind": kind, "unit": unit, "quantity": 600, "theme": theme,
             "description": "aiuto", "programme": "famiglie" if n % 4 == 0 else None},
            {"command": "post_request", "ref": need, "beneficiary_id": rng.choice(people),
             "resource_kind": kind, "unit": unit, "quantity": 400, "theme": theme,
             "description": "bisogno"},
            {"command": "match", "ref": match, "contribution_id": offer, "request_id": need,
             "quantity": 300},
        ]
        if n % 7 == 3:
            facts.append({"command": "cancel_match", "match_id": match, "reason": "rinuncia"})
            facts.append({"command": "withdraw_request", "request_id": need})
            continue
        facts.append({"command": "fulfil", "ref": f"f{n}", "match_id": match, "quantity": 200,
                      "fulfilled_on": f"2021-0{1 + n % 9}-1{n % 10}"})
        facts.append({"command": "fulfil", "ref": f"g{n}", "match_id": match, "quantity": 100})
        if n % 3 == 0:
            facts.append({"command": "record_feedback", "fulfilment_id": f"f{n}",
                          "satisfaction": 1 + n % 5, "change": "improve", "comment": "grazie"})
        if n % 5 == 1:
            facts.append({"command": "reverse_fulfilment", "fulfilment_id": f"g{n}",
                          "reason": "errore"})
        if n % 6 == 2:
            facts.append({"command": "withdraw_contribution", "contribution_id": offer})
        if n % 10 == 5:
            facts.append({"command": "record_management_cost", "ref": f"k{n}",
                          "company_id": "acme", "incurred_on": "2021-06-30", "eur_cent": 9000})
    return [{"command": f.pop("command"), "territory": code, **f} for f in facts]


def _last_position(database_url: str, code: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT max(notification_id) FROM ledger_events WHERE "
                           "convert_from(state, 'UTF8') LIKE %s",
                           (f'%"territory":"{code}"%',)).fetchone()
    assert row is not None and row[0] is not None
    return int(row[0])


def _relayed(container: Container, database_url: str, code: str) -> list[str]:
    """The territory's records as the relay published and the projector applied them, with
    what differs between two territories told the same story made neutral: ids (by ref),
    the territory, times and positions, ciphertexts, the chain's hashes."""
    last = _last_position(database_url, code)
    deadline = time.monotonic() + 60
    while container.reads.applied_position(code) < last:
        assert time.monotonic() < deadline, "the import was not relayed and projected"
        time.sleep(0.1)
    assert container.reads.verify(code)["verified"]
    names = {str(ref_id(code, f"{p}{n}")): f"{p}{n}" for p in "crmfgk" for n in range(100)}
    names |= {str(ref_id(code, r)): r for r in ["acme", "auser", *[f"p{i}" for i in range(12)]]}
    names[str(Territory.id_for(code))] = "territory"
    out = []
    for record in container.reads.audit_records(code):
        value = json.loads(record)
        for volatile in ("id", "source", "time", "position", "hash", "prevhash"):
            value.pop(volatile)
        text = re.sub(r"v1\.[A-Za-z0-9_=-]+", "<sealed>", json.dumps(value, sort_keys=True))
        text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                      lambda m: names.get(m.group(0), "<unknown id>"), text)
        out.append(text.replace(code, "<t>"))
    return out


def test_an_import_is_relayed_and_projected_as_the_write_service_records_it(
        roles: Roles, container: Container, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same story three times: command by command through the write service (as the API
    runs it), imported in one process, and imported in two (forked) processes: the relay
    publishes, and the projector applies, the same records in the same order. The rows go
    in small chunks: the forked part's, merged with this process's, many times over."""
    monkeypatch.setattr(importplan, "MIN_SPLIT", 1)
    monkeypatch.setattr(importplan, "CHUNK", 256)
    forked: list[int] = []
    switching: list[float] = []
    fork = importplan._forked  # noqa: SLF001

    def counted(*args: Any) -> int:
        forked.append(len(args[2]))
        switching.append(sys.getswitchinterval())
        return fork(*args)
    monkeypatch.setattr(importplan, "_forked", counted)
    made, alone, split = territory_code(), territory_code(), territory_code()
    for number, fact in enumerate(_story(made, 40), start=1):
        command, new_id = parse(number, json.dumps(fact))
        container.app.handle(command, IMPORTER, new_id)
    store = IdempotencyStore(container.db)
    for code, parts in ((alone, 1), (split, 2)):
        path = _write(tmp_path / f"{code}.jsonl", _story(code, 40))
        assert import_file(container.app, store, path, parts=parts)
    assert forked == [2]
    assert sys.getswitchinterval() == switching[0]  # as before, once the parts ran
    expected = _relayed(container, roles.database_url, made)
    assert "<unknown id>" not in "".join(expected)
    assert _relayed(container, roles.database_url, alone) == expected
    assert _relayed(container, roles.database_url, split) == expected


def test_over_allocation_across_lines_is_refused_at_its_line(
        roles: Roles, container: Container, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two matches that together take more than the offer holds: the second is refused with
    its line, whichever process ran it, and the earliest bad line of the file is the one
    named."""
    monkeypatch.setattr(importplan, "MIN_SPLIT", 1)
    store = IdempotencyStore(container.db)
    for parts in (1, 2):
        code = territory_code()
        facts = _story(code, 30)
        over = next(i for i, f in enumerate(facts) if f.get("ref") == "m20")
        facts.insert(over + 1, {"command": "match", "territory": code, "ref": "extra",
                                "contribution_id": "c20", "request_id": "r20", "quantity": 301})
        path = _write(tmp_path / f"over{parts}.jsonl", facts)
        with pytest.raises(BadLine, match="OverAllocationError") as refused:
            import_file(container.app, store, path, parts=parts)
        assert refused.value.number == over + 2
        later = next(i for i, f in enumerate(facts) if f.get("ref") == "m25")
        facts[later] |= {"quantity": 10_000}
        with pytest.raises(BadLine, match="OverAllocationError") as first:
            import_file(container.app, store, _write(tmp_path / f"two{parts}.jsonl", facts),
                        parts=parts)
        assert first.value.number == over + 2
        assert _events(roles.database_url, code) == 0


def test_what_exists_already_is_refused_at_the_line_that_creates_it(
        roles: Roles, container: Container, tmp_path: Path) -> None:
    code = territory_code()
    store = IdempotencyStore(container.db)
    facts = _history(code)
    twice = [*facts[:4], facts[2], *facts[4:]]
    with pytest.raises(BadLine, match="AlreadyExists") as refused:
        import_file(container.app, store, _write(tmp_path / "twice.jsonl", twice))
    assert refused.value.number == 5
    assert _events(roles.database_url, code) == 0
    assert import_file(container.app, store, _write(tmp_path / "once.jsonl", facts))
    more = [facts[0] | {"name": "again"}, *facts[1:]]
    with pytest.raises(BadLine, match="AlreadyExists") as again:
        import_file(container.app, store, _write(tmp_path / "more.jsonl", more))
    assert again.value.number == 1


@pytest.mark.parametrize("parts", [1, 2])
def test_the_earlier_of_a_line_creating_what_exists_and_a_refused_line_is_named(
        parts: int, roles: Roles, container: Container, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Which line creates what exists already is asked only once the COPY (which meets it)
    fails or a line is refused: the line named is the first bad one either way, whichever
    process ran it, the COPY still streaming or not; nothing of the file is recorded."""
    monkeypatch.setattr(importplan, "MIN_SPLIT", 1)
    monkeypatch.setattr(importplan, "CHUNK", 256)
    store = IdempotencyStore(container.db)
    before = territory_code()
    assert import_file(container.app, store, _write(tmp_path / f"{before}.jsonl",
                                                    _story(before, 4)), parts=parts)
    code = territory_code()
    facts = _story(code, 30)
    # A person recorded already (with the territory before): the id is given as it is.
    again = {"command": "register_actor", "territory": code,
             "ref": str(ref_id(before, "p1")), "kind": "citizen", "display_name": "again"}
    over = next(i for i, f in enumerate(facts) if f.get("ref") == "m20") + 1
    refused = {"command": "match", "territory": code, "ref": "extra", "contribution_id": "c20",
               "request_id": "r20", "quantity": 301}
    cases = {"only": ([(8, again)], 9, "AlreadyExists"),
             "first": ([(over, refused), (8, again)], 9, "AlreadyExists"),
             "after": ([(over, again), (over, refused)], over + 1, "OverAllocationError")}
    for name, (insertions, number, reason) in cases.items():
        lines = list(facts)
        for at, fact in insertions:
            lines.insert(at, fact)
        with pytest.raises(BadLine, match=reason) as bad:
            import_file(container.app, store, _write(tmp_path / f"{name}.jsonl", lines),
                        parts=parts)
        assert bad.value.number == number, name
    assert _events(roles.database_url, code) == 0


def test_personal_data_is_sealed_with_keys_written_with_the_events(
        roles: Roles, container: Container, tmp_path: Path) -> None:
    """The keys of the people a file registers are kept only if the file is recorded, and
    they open what was sealed for them."""
    code = territory_code()
    store = IdempotencyStore(container.db)
    facts = _history(code)
    rosa = ref_id(code, "rosa")
    bad = [*facts[:5], facts[5] | {"quantity": 9999}, *facts[6:]]
    with pytest.raises(BadLine):
        import_file(container.app, store, _write(tmp_path / "bad.jsonl", bad))
    assert container.keys.get(rosa) is None
    assert import_file(container.app, store, _write(tmp_path / "good.jsonl", facts))
    actor = container.app.load(Actor, rosa, code)
    assert actor.personal_sealed is not None and "NRERSO40A41B910X" not in actor.personal_sealed
    assert unseal(container.keys.get(rosa), rosa, actor.personal_sealed) == {
        "fiscal_code": "NRERSO40A41B910X"}
    assert unseal(container.keys.get(rosa), rosa, actor.display_name_sealed) == "Rosa Neri"


def _careless_plan(monkeypatch: pytest.MonkeyPatch,
                   deal: Callable[[list[int], list[int]], list[list[int]]]) -> list[int]:
    """Replace the plan by `deal(shared lines, flow lines)`, which deals lines out without
    regard to what links them; the number of lines of each part run in this process."""
    def careless(parsed: list[importplan.Line], parts: int) -> list[list[int]]:
        shared = [i for i, line in enumerate(parsed) if line.kind in importplan.SHARED]
        flow = [i for i in range(len(parsed)) if i not in set(shared)]
        return deal(shared, flow)
    monkeypatch.setattr(importplan, "plan", careless)
    ran: list[int] = []
    run_part = importplan.run_part

    def counted(*args: Any, **kwargs: Any) -> importplan.Rows:
        rows = run_part(*args, **kwargs)
        ran.append(len(args[2]))
        return rows
    monkeypatch.setattr(importplan, "run_part", counted)
    return ran


def test_a_part_that_would_read_the_store_sends_the_file_to_one_part(
        roles: Roles, container: Container, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net under the plan: parts that do not hold what their lines name (here, a
    plan that deals lines out without regard to what links them) never read the store nor
    refuse a line for it; the file runs again in one part, with the same outcome."""
    ran_alone = _careless_plan(monkeypatch, lambda shared, flow: [
        sorted(shared + flow[k::2]) for k in range(2)])
    code = territory_code()
    facts = _story(code, 20)
    recorded = import_file(container.app, IdempotencyStore(container.db),
                           _write(tmp_path / "careless.jsonl", facts), parts=2)
    assert ran_alone == [len(facts)]
    assert recorded == _events(roles.database_url, code) > len(facts)


def _over_allocated_story() -> tuple[str, list[dict[str, Any]], int]:
    """A story of 40 with a match that over-allocates right after match m35 (at `over` + 1)."""
    code = territory_code()
    facts = _story(code, 40)
    over = next(i for i, f in enumerate(facts) if f.get("ref") == "m35")
    facts.insert(over + 1, {"command": "match", "territory": code, "ref": "extra",
                            "contribution_id": "c35", "request_id": "r35", "quantity": 1000})
    return code, facts, over


def _counting_copies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the chunks written to the import's COPY, as they are written."""
    copied: list[int] = []
    copy_events = LedgerRecorder.copy_events

    def counting(self: LedgerRecorder, rows: Any, **kwargs: Any) -> int:
        def counted() -> Any:
            for chunk in rows:
                copied.append(len(chunk))
                yield chunk
        return copy_events(self, counted(), **kwargs)
    monkeypatch.setattr(LedgerRecorder, "copy_events", counting)
    return copied


def test_a_refusal_in_a_forked_part_while_the_rows_are_written_records_nothing(
        roles: Roles, container: Container, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first part (this process) gets almost nothing and rows go in small chunks, so the
    COPY is under way, with rows of both parts written, when the other part refuses a line:
    the transaction is abandoned, keys included, and the line is named."""
    monkeypatch.setattr(importplan, "MIN_SPLIT", 1)
    monkeypatch.setattr(importplan, "FIRST_SHARE", 0.01)
    monkeypatch.setattr(importplan, "CHUNK", 256)
    copied = _counting_copies(monkeypatch)
    code, facts, over = _over_allocated_story()
    switching = sys.getswitchinterval()
    with pytest.raises(BadLine, match="OverAllocationError") as refused:
        import_file(container.app, IdempotencyStore(container.db),
                    _write(tmp_path / "late.jsonl", facts), parts=2)
    assert refused.value.number == over + 2
    assert sys.getswitchinterval() == switching
    assert len(copied) > 10  # the rows were being written
    assert _events(roles.database_url, code) == 0
    assert container.keys.get(ref_id(code, "p0")) is None
    del facts[over + 1]
    recorded = import_file(container.app, IdempotencyStore(container.db),
                           _write(tmp_path / "fine.jsonl", facts), parts=2)
    assert recorded == _events(roles.database_url, code) > len(facts)


def test_a_refusal_in_this_process_s_part_while_its_rows_are_written_records_nothing(
        roles: Roles, container: Container, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's part hands on its rows as it goes: the COPY is under way, with rows of
    both parts written, when this part refuses a line: the transaction is abandoned, keys
    included, and the line is named."""
    monkeypatch.setattr(importplan, "MIN_SPLIT", 1)
    monkeypatch.setattr(importplan, "CHUNK", 256)
    copied = _counting_copies(monkeypatch)
    code, facts, over = _over_allocated_story()
    planned = importplan.plan
    mine: list[bool] = []

    def refused_here(parsed: list[importplan.Line], parts: int) -> list[list[int]] | None:
        chosen = planned(parsed, parts)
        assert chosen is not None and len(chosen) == 2
        if over + 1 not in chosen[0]:  # every part has the first line: any may be the first
            chosen = [chosen[1], chosen[0]]
        mine.append(over + 1 in chosen[0])
        return chosen
    monkeypatch.setattr(importplan, "plan", refused_here)
    with pytest.raises(BadLine, match="OverAllocationError") as refused:
        import_file(container.app, IdempotencyStore(container.db),
                    _write(tmp_path / "here.jsonl", facts), parts=2)
    assert mine == [True]
    assert refused.value.number == over + 2
    assert len(copied) > 10  # the rows were being written
    assert _events(roles.database_url, code) == 0
    assert container.keys.get(ref_id(code, "p0")) is None


def test_a_forked_part_that_would_read_the_store_while_the_rows_are_written(
        roles: Roles, container: Container, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first part holds only the shared lines and succeeds, so the COPY starts; the other
    part lacks what its lines name: the COPY is abandoned and the file runs in one part."""
    monkeypatch.setattr(importplan, "CHUNK", 256)

    ran_here = _careless_plan(monkeypatch, lambda shared, flow: [
        shared, sorted(shared + flow[1::2])])
    code = territory_code()
    facts = _story(code, 20)
    shared = sum(1 for f in facts if f["command"] in {
        "register_territory", "define_theme", "define_programme", "register_actor",
        "record_management_cost", "set_approval_policy"})
    recorded = import_file(container.app, IdempotencyStore(container.db),
                           _write(tmp_path / "careless2.jsonl", facts), parts=2)
    assert ran_here == [shared, len(facts)]
    assert recorded == _events(roles.database_url, code) > len(facts)


@pytest.mark.parametrize(("bad", "why"), [
    ("{not json", "not JSON"),
    ('{"command": "match", "territory": "T", "contribution_id": "c3", "colour": "red"}',
     "unknown fields for match: colour"),
    ('{"command": "fulfil", "territory": "T", "ref": "fx"}',
     "fulfil: Fulfil.__init__() missing"),
    ('["fulfil"]', "a fact is a JSON object"),
])
def test_a_malformed_line_of_a_split_file_is_named_before_any_part_runs(
        roles: Roles, container: Container, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, bad: str, why: str) -> None:
    """Lines are read (scanned) whole before the parts run and make their commands: of two
    malformed lines, the first is named, with its number, wherever the plan would have sent
    it; no part ran, nothing is recorded, not even the keys of the people of the file."""
    monkeypatch.setattr(importplan, "MIN_SPLIT", 1)
    ran: list[int] = []
    run_part = importplan.run_part

    def counted(*args: Any, **kwargs: Any) -> importplan.Rows:
        ran.append(1)
        return run_part(*args, **kwargs)
    monkeypatch.setattr(importplan, "run_part", counted)
    code = territory_code()
    lines = [json.dumps(f) for f in _story(code, 30)]
    first, second = len(lines) // 2, len(lines) - 3
    lines[first] = bad.replace('"T"', json.dumps(code))
    lines[second] = "{also not json"
    path = tmp_path / "malformed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    store = IdempotencyStore(container.db)
    with pytest.raises(BadLine) as refused:
        import_file(container.app, store, path, parts=2)
    assert refused.value.number == first + 1
    assert f"line {first + 1}: " in str(refused.value)
    assert why in str(refused.value)
    assert ran == []
    assert _events(roles.database_url, code) == 0
    assert container.keys.get(ref_id(code, "p1")) is None
