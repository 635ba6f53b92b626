"""Concurrent operators matching one contribution never over-allocate: one wins, the others
get a conflict; nothing is lost, nothing is counted twice. Real PostgreSQL, real threads."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from ledger.access import Principal, Role
from ledger.application import ConcurrencyConflict
from ledger.commands import MakeMatch, Pledge, PostRequest, RegisterActor, RegisterTerritory
from ledger.container import Container
from ledger.domain import Contribution, Match, OverAllocationError, Request
from tests.support.auth import ADMIN, bearer, make_key
from tests.support.stack import Roles, territory_code

THREADS = 8
ATTEMPTS = 4
PLEDGE = 100
EACH = 7  # 8 x 4 x 7 = 224 asked for, at most 14 x 7 = 98 fit


def _setup(container: Container, requests: int) -> tuple[str, uuid.UUID, list[uuid.UUID]]:
    app = container.app
    code = territory_code()
    app.handle(RegisterTerritory(code, "Voghera"), ADMIN)
    giver, taker = uuid.uuid4(), uuid.uuid4()
    app.handle(RegisterActor(code, "ets", "Auser Voghera"), ADMIN, giver)
    app.handle(RegisterActor(code, "ets", "Caritas Voghera"), ADMIN, taker)
    contribution = uuid.uuid4()
    app.handle(Pledge(code, giver, "time", "minute", PLEDGE, "cts.a"), ADMIN, contribution)
    request_ids = [uuid.uuid4() for _ in range(requests)]
    for request_id in request_ids:
        app.handle(PostRequest(code, taker, "time", "minute", 10_000, "cts.a"), ADMIN, request_id)
    return code, contribution, request_ids


def _allocated_events(database_url: str, contribution: uuid.UUID) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_events WHERE originator_id = %s "
                           "AND topic LIKE %s", (contribution, "%Contribution.Allocated")
                           ).fetchone()
    assert row is not None
    return int(row[0])


def _check_ledger(container: Container, code: str, contribution_id: uuid.UUID,
                  request_ids: list[uuid.UUID], won: dict[uuid.UUID, int]) -> None:
    app = container.app
    contribution = app.load(Contribution, contribution_id, code)
    total = sum(won.values())
    assert contribution.reserved == total <= PLEDGE
    assert PLEDGE - total < EACH, "a loser was refused although its quantity still fitted"
    assert sum(app.load(Request, r, code).reserved for r in request_ids) == total
    for match_id, quantity in won.items():
        match = app.load(Match, match_id, code)
        assert (match.contribution_id, match.quantity) == (contribution_id, quantity)
    assert _allocated_events(container.database_url, contribution_id) == len(won)


def test_concurrent_matches_through_the_write_service(container: Container) -> None:
    code, contribution, request_ids = _setup(container, requests=2)
    start = threading.Barrier(THREADS)

    def operator(n: int) -> list[tuple[uuid.UUID, str]]:
        start.wait()
        results = []
        for attempt in range(ATTEMPTS):
            match_id = uuid.uuid4()
            try:
                container.app.handle(MakeMatch(code, contribution,
                                               request_ids[(n + attempt) % len(request_ids)], EACH),
                                     Principal(f"op-{n}", f"operator {n}", Role.MUNICIPALITY,
                                               frozenset({code})), match_id)
                results.append((match_id, "won"))
            except OverAllocationError:
                results.append((match_id, "over-allocation"))
            except ConcurrencyConflict:
                results.append((match_id, "conflict"))
        return results

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = [r for rs in pool.map(operator, range(THREADS)) for r in rs]

    kinds = Counter(kind for _, kind in outcomes)
    assert sum(kinds.values()) == THREADS * ATTEMPTS  # every call ended in a known outcome
    won = {match_id: EACH for match_id, kind in outcomes if kind == "won"}
    assert len(won) == PLEDGE // EACH, kinds
    assert kinds["over-allocation"] + kinds["conflict"] == THREADS * ATTEMPTS - len(won)
    _check_ledger(container, code, contribution, request_ids, won)


def test_concurrent_matches_over_http(container: Container, roles: Roles) -> None:
    code, contribution, request_ids = _setup(container, requests=1)
    start = threading.Barrier(THREADS)

    tokens = [make_key(container.api_keys, Role.MUNICIPALITY, [code]) for _ in range(THREADS)]

    def operator(n: int) -> list[httpx.Response]:
        answers = []
        with httpx.Client(base_url=roles.base_url, timeout=30, headers=bearer(tokens[n])) as client:
            start.wait()
            for _ in range(ATTEMPTS):
                answers.append(client.post(f"/v1/territories/{code}/matches", json={
                    "contribution_id": str(contribution), "request_id": str(request_ids[0]),
                    "quantity": EACH}))
        return answers

    with ThreadPoolExecutor(THREADS) as pool:
        answers = [a for rs in pool.map(operator, range(THREADS)) for a in rs]

    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, [a.text for a in answers if a.status_code not in (201, 409)]
    losers: list[dict[str, Any]] = [a.json() for a in answers if a.status_code == 409]
    assert all(a.headers["content-type"].startswith("application/problem+json")
               for a in answers if a.status_code == 409)
    assert {p["type"].rsplit("/", 1)[-1] for p in losers} <= {"over-allocation", "conflict"}
    won = {uuid.UUID(a.json()["id"]): a.json()["quantity"] for a in answers
           if a.status_code == 201}
    assert len(won) == PLEDGE // EACH, statuses
    positions = [a.json()["position"] for a in answers if a.status_code == 201]
    assert len(set(positions)) == len(positions)
    _check_ledger(container, code, contribution, request_ids, won)


def test_a_conflict_that_outlasts_the_retries_is_a_conflict(container: Container,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """Not a 404 for the match that was never made (nor a 500): the caller may try again."""
    code, contribution, request_ids = _setup(container, requests=1)
    attempts = []

    def always_beaten(*_: object, **__: object) -> None:
        attempts.append(1)
        raise IntegrityError("another operator saved first")

    monkeypatch.setattr(container.app.recorder, "insert_events", always_beaten)
    with pytest.raises(ConcurrencyConflict):
        container.app.handle(MakeMatch(code, contribution, request_ids[0], EACH), ADMIN)
    assert len(attempts) > 1  # it did reload and retry before giving up
    monkeypatch.undo()
    assert container.app.load(Contribution, contribution, code).reserved == 0
    assert _allocated_events(container.database_url, contribution) == 0
