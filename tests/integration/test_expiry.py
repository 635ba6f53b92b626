"""Offers past valid_until and needs past needed_by expire: the open part is taken back,
matches already made stay and can still be fulfilled."""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta

from ledger.commands import Fulfil, MakeMatch, Pledge, PostRequest, RegisterActor, RegisterTerritory
from ledger.container import Container
from ledger.domain import Contribution, Request
from ledger.expiry import expire_due
from tests.support.auth import ADMIN
from tests.support.stack import territory_code


def _wait_projected(container: Container, territory: str, position: int) -> None:
    deadline = time.monotonic() + 30
    while container.reads.applied_position(territory) < position:
        assert time.monotonic() < deadline, "projections did not catch up"
        time.sleep(0.05)


def test_due_items_expire_and_matches_survive(container: Container, roles: object) -> None:
    """Items are created valid until tomorrow (a past date is refused at creation), then
    expiry runs as if it were two days later."""
    app, code = container.app, territory_code()
    tomorrow, next_week = (date.today() + timedelta(days=1)), (date.today() + timedelta(days=7))
    later = date.today() + timedelta(days=2)
    app.handle(RegisterTerritory(code, "Rovigo"), ADMIN)
    giver = app.handle(RegisterActor(code, "ets", "Emporio Solidale"), ADMIN, uuid.uuid4()).id
    taker = app.handle(RegisterActor(code, "household", "Famiglia R."), ADMIN, uuid.uuid4()).id
    old = app.handle(Pledge(code, giver, "goods", "item", 10, "cts.u",
                            valid_until=tomorrow.isoformat()), ADMIN).id
    fresh = app.handle(Pledge(code, giver, "goods", "item", 5, "cts.u",
                              valid_until=next_week.isoformat()), ADMIN).id
    need = app.handle(PostRequest(code, taker, "goods", "item", 8, "cts.u",
                                  needed_by=tomorrow.isoformat()), ADMIN).id
    match = app.handle(MakeMatch(code, old, need, 3), ADMIN).id
    last = app.handle(Fulfil(code, match, 1), ADMIN)
    _wait_projected(container, code, last.position)

    assert not {old, need} & {row["id"] for row in container.reads.due_items(
        date.today().isoformat())}
    due = {row["id"] for row in container.reads.due_items(later.isoformat())}
    assert {old, need} <= due and fresh not in due
    assert expire_due(container.app, container.reads, later) >= 2

    offer = app.load(Contribution, old, code)
    assert (offer.status, offer.pledged, offer.reserved, offer.delivered) == ("expired", 3, 2, 1)
    request = app.load(Request, need, code)
    assert (request.status, request.requested, request.reserved, request.received) == \
        ("expired", 3, 2, 1)
    assert app.load(Contribution, fresh, code).status == "pledged"
    # The match made before expiry can still be honoured.
    app.handle(Fulfil(code, match, 2), ADMIN)
    assert app.load(Contribution, old, code).delivered == 3

