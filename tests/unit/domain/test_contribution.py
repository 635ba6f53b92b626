from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from ledger.domain import (
    Contribution,
    InvalidDateError,
    InvalidMotivationError,
    ItemNotActiveError,
    NonPositiveQuantityError,
    OverAllocationError,
    OverFulfilmentError,
    OverReleaseError,
    OverReversalError,
    UnitNotAllowedForKindError,
    UnknownResourceKindError,
)

TERRITORY = "018182"
MakeContribution = Callable[..., Contribution]


def state(c: Contribution) -> tuple[int, int, int, str]:
    return (c.reserved, c.delivered, c.taken_back, c.status)


def test_pledge_records_every_field() -> None:
    contributor, employer = uuid4(), uuid4()
    contribution = Contribution.pledge(
        uuid4(),
        TERRITORY,
        contributor,
        "time",
        "minute",
        240,
        "cts.a",
        description_sealed="ct",
        motivation="community_investment",
        paid_time=True,
        employer_id=employer,
        valid_until="2026-12-31",
        project_ref="WILL-2025",
        operator_id="op",
    )
    event = contribution.pending_events[0]
    assert isinstance(event, Contribution.Pledged)
    assert event.contributor_id == contributor and event.employer_id == employer
    assert (event.resource_kind, event.unit, event.quantity, event.theme) == ("time", "minute", 240, "cts.a")
    assert (event.motivation, event.paid_time, event.valid_until, event.project_ref) == (
        "community_investment",
        True,
        "2026-12-31",
        "WILL-2025",
    )
    assert (event.description_sealed, event.territory, event.operator_id) == ("ct", TERRITORY, "op")
    assert state(contribution) == (0, 0, 0, "pledged")
    assert (contribution.pledged, contribution.available) == (240, 240)


@pytest.mark.parametrize("quantity", [0, -5, True])
def test_pledge_needs_positive_quantity(make_contribution: MakeContribution, quantity: int) -> None:
    with pytest.raises(NonPositiveQuantityError):
        make_contribution(quantity)


def test_pledge_validates_unit_motivation_and_date(make_contribution: MakeContribution) -> None:
    with pytest.raises(UnitNotAllowedForKindError):
        make_contribution(resource_kind="time", unit="eur_cent")
    with pytest.raises(UnknownResourceKindError):
        make_contribution(resource_kind="favours")
    with pytest.raises(InvalidMotivationError):
        make_contribution(motivation="tax_saving")
    with pytest.raises(InvalidDateError):
        make_contribution(valid_until="31/12/2026")


def test_allocate_and_status_progression(make_contribution: MakeContribution) -> None:
    c = make_contribution(600)
    m1, m2 = uuid4(), uuid4()
    c.allocate(m1, 200, operator_id="op")
    event = c.pending_events[-1]
    assert isinstance(event, Contribution.Allocated)
    assert (event.match_id, event.quantity, event.reserved, event.status, event.operator_id) == (
        m1,
        200,
        200,
        "partly_allocated",
        "op",
    )
    c.allocate(m2, 400)
    assert state(c) == (600, 0, 0, "fully_allocated") and c.available == 0
    with pytest.raises(OverAllocationError):
        c.allocate(uuid4(), 1)
    f = uuid4()
    c.deliver(f, m1, 200)
    assert state(c) == (400, 200, 0, "fully_allocated")
    c.deliver(uuid4(), m2, 400)
    assert state(c) == (0, 600, 0, "fulfilled")
    c.reverse_delivery(f, m1, 200, to_reservation=False)
    assert state(c) == (0, 400, 0, "partly_allocated") and c.available == 200


def test_release_makes_quantity_available_again(make_contribution: MakeContribution) -> None:
    c = make_contribution(600)
    m = uuid4()
    c.allocate(m, 600)
    c.release(m, 600)
    event = c.pending_events[-1]
    assert isinstance(event, Contribution.Released) and event.quantity == 600
    assert state(c) == (0, 0, 0, "pledged")
    with pytest.raises(OverReleaseError):
        c.release(m, 1)


def test_deliver_needs_reservation(make_contribution: MakeContribution) -> None:
    c = make_contribution(600)
    with pytest.raises(OverFulfilmentError):
        c.deliver(uuid4(), uuid4(), 1)


def test_reverse_delivery_to_reservation(make_contribution: MakeContribution) -> None:
    c = make_contribution(600)
    m, f = uuid4(), uuid4()
    c.allocate(m, 300)
    c.deliver(f, m, 100)
    c.reverse_delivery(f, m, 100, to_reservation=True)
    event = c.pending_events[-1]
    assert isinstance(event, Contribution.DeliveryReversed)
    assert (event.fulfilment_id, event.match_id, event.quantity, event.to_reservation) == (f, m, 100, True)
    assert state(c) == (300, 0, 0, "partly_allocated")
    with pytest.raises(OverReversalError):
        c.reverse_delivery(f, m, 1, to_reservation=True)


def test_withdraw_takes_back_what_is_available(make_contribution: MakeContribution) -> None:
    c = make_contribution(600)
    m = uuid4()
    c.allocate(m, 200)
    c.withdraw("moved away", operator_id="op")
    event = c.pending_events[-1]
    assert isinstance(event, Contribution.Withdrawn)
    assert (event.reason_sealed, event.taken_back_quantity, event.taken_back, event.status) == (
        "moved away",
        400,
        400,
        "withdrawn",
    )
    assert c.pledged == 200 and c.available == 0
    with pytest.raises(ItemNotActiveError):
        c.allocate(uuid4(), 1)
    with pytest.raises(ItemNotActiveError):
        c.withdraw()
    with pytest.raises(ItemNotActiveError):
        c.expire()
    # Matches made before the withdrawal may still be honoured...
    f = uuid4()
    c.deliver(f, m, 50)
    assert state(c) == (150, 50, 400, "withdrawn")
    # ...but what comes back can never be offered again.
    c.release(m, 150)
    assert state(c) == (0, 50, 550, "withdrawn")
    c.reverse_delivery(f, m, 50, to_reservation=False)
    assert state(c) == (0, 0, 600, "withdrawn") and c.pledged == 0


def test_expire(make_contribution: MakeContribution) -> None:
    c = make_contribution(600)
    c.expire(operator_id="scheduler")
    event = c.pending_events[-1]
    assert isinstance(event, Contribution.Expired)
    assert (event.taken_back_quantity, event.status, event.operator_id) == (600, "expired", "scheduler")
    with pytest.raises(ItemNotActiveError):
        c.withdraw()


def test_refused_commands_record_nothing(make_contribution: MakeContribution) -> None:
    c = make_contribution(100)
    before = (c.version, state(c))
    for command in (
        lambda: c.allocate(uuid4(), 101),
        lambda: c.allocate(uuid4(), 0),
        lambda: c.release(uuid4(), 1),
        lambda: c.deliver(uuid4(), uuid4(), 1),
        lambda: c.reverse_delivery(uuid4(), uuid4(), 1, to_reservation=False),
    ):
        with pytest.raises(Exception):  # noqa: B017,PT011
            command()
    assert (c.version, state(c)) == before
