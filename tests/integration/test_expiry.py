"""Offers past valid_until and needs past needed_by expire: the open part is taken back,
matches already made stay and can still be fulfilled."""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta

from ledger.container import Container
from ledger.domain import Contribution, Request
from ledger.expiry import expire_due
from tests.support.stack import territory_code


def _wait_projected(container: Container, territory: str, position: int) -> None:
    deadline = time.monotonic() + 30
    while container.reads.applied_position(territory) < position:
        assert time.monotonic() < deadline, "projections did not catch up"
        time.sleep(0.05)


def test_due_items_expire_and_matches_survive(container: Container, roles: object) -> None:
    app, code = container.app, territory_code()
    yesterday, next_week = (date.today() - timedelta(days=1)), (date.today() + timedelta(days=7))
    app.register_territory(code, "Rovigo")
    giver = app.register_actor(uuid.uuid4(), code, "ets", "Emporio Solidale", None).id
    taker = app.register_actor(uuid.uuid4(), code, "household", "Famiglia R.", None).id
    old = app.pledge(uuid.uuid4(), code, giver, "goods", "item", 10, "cts.u",
                     valid_until=yesterday.isoformat()).id
    fresh = app.pledge(uuid.uuid4(), code, giver, "goods", "item", 5, "cts.u",
                       valid_until=next_week.isoformat()).id
    need = app.post_request(uuid.uuid4(), code, taker, "goods", "item", 8, "cts.u",
                            needed_by=yesterday.isoformat()).id
    match = app.match(uuid.uuid4(), code, old, need, 3).id
    last = app.fulfil(uuid.uuid4(), code, match, 1)
    _wait_projected(container, code, last.position)

    due = {row["id"] for row in container.reads.due_items(date.today().isoformat())}
    assert {old, need} <= due and fresh not in due
    assert expire_due(container.app, container.reads) >= 2

    offer = app.load(Contribution, old, code)
    assert (offer.status, offer.pledged, offer.reserved, offer.delivered) == ("expired", 3, 2, 1)
    request = app.load(Request, need, code)
    assert (request.status, request.requested, request.reserved, request.received) == \
        ("expired", 3, 2, 1)
    assert app.load(Contribution, fresh, code).status == "pledged"
    # The match made before expiry can still be honoured.
    app.fulfil(uuid.uuid4(), code, match, 2)
    assert app.load(Contribution, old, code).delivered == 3

