from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from ledger.domain import (
    InvalidDateError,
    InvalidUrgencyError,
    ItemNotActiveError,
    NonPositiveQuantityError,
    OverFulfilmentError,
    OverMatchError,
    OverReleaseError,
    OverReversalError,
    Request,
    UnitNotAllowedForKindError,
)

TERRITORY = "018182"
MakeRequest = Callable[..., Request]


def state(r: Request) -> tuple[int, int, int, str]:
    return (r.reserved, r.received, r.taken_back, r.status)


def test_post_records_every_field() -> None:
    beneficiary = uuid4()
    request = Request.post(
        uuid4(),
        TERRITORY,
        beneficiary,
        "goods",
        "item",
        3,
        "cts.u",
        urgency="high",
        description_sealed="ct",
        needed_by="2026-02-01",
        operator_id="op",
    )
    event = request.pending_events[0]
    assert isinstance(event, Request.Posted)
    assert (event.beneficiary_id, event.resource_kind, event.unit, event.quantity, event.theme) == (
        beneficiary,
        "goods",
        "item",
        3,
        "cts.u",
    )
    assert (event.urgency, event.description_sealed, event.needed_by, event.operator_id) == (
        "high",
        "ct",
        "2026-02-01",
        "op",
    )
    assert state(request) == (0, 0, 0, "open") and request.open_quantity == 3
    assert Request.post(uuid4(), TERRITORY, beneficiary, "money", "eur_cent", 1, "cts.u").urgency == "normal"


def test_post_validates(make_request: MakeRequest) -> None:
    with pytest.raises(NonPositiveQuantityError):
        make_request(0)
    with pytest.raises(UnitNotAllowedForKindError):
        make_request(resource_kind="money", unit="item")
    with pytest.raises(InvalidUrgencyError):
        make_request(urgency="yesterday")
    with pytest.raises(InvalidDateError):
        make_request(needed_by="soon")


def test_reserve_receive_and_status(make_request: MakeRequest) -> None:
    r = make_request(600)
    m1, m2, f = uuid4(), uuid4(), uuid4()
    r.reserve(m1, 100, operator_id="op")
    event = r.pending_events[-1]
    assert isinstance(event, Request.Reserved)
    assert (event.match_id, event.quantity, event.reserved, event.status) == (m1, 100, 100, "partly_matched")
    r.reserve(m2, 500)
    assert state(r) == (600, 0, 0, "fully_matched")
    with pytest.raises(OverMatchError):
        r.reserve(uuid4(), 1)
    r.receive(f, m1, 100)
    assert isinstance(r.pending_events[-1], Request.Received)
    assert state(r) == (500, 100, 0, "fully_matched")
    r.receive(uuid4(), m2, 500)
    assert state(r) == (0, 600, 0, "met")
    r.reverse_receipt(f, m1, 100, to_reservation=True)
    assert isinstance(r.pending_events[-1], Request.ReceiptReversed)
    assert state(r) == (100, 500, 0, "fully_matched")
    r.release(m1, 100)
    assert isinstance(r.pending_events[-1], Request.Released)
    assert state(r) == (0, 500, 0, "partly_matched") and r.open_quantity == 100


def test_quantity_guards(make_request: MakeRequest) -> None:
    r = make_request(10)
    with pytest.raises(OverReleaseError):
        r.release(uuid4(), 1)
    with pytest.raises(OverFulfilmentError):
        r.receive(uuid4(), uuid4(), 1)
    with pytest.raises(OverReversalError):
        r.reverse_receipt(uuid4(), uuid4(), 1, to_reservation=False)
    assert r.version == 1


def test_withdraw_takes_back_the_open_quantity(make_request: MakeRequest) -> None:
    r = make_request(600)
    m, f = uuid4(), uuid4()
    r.reserve(m, 200)
    r.withdraw("no longer needed", operator_id="op")
    event = r.pending_events[-1]
    assert isinstance(event, Request.Withdrawn)
    assert (event.reason_sealed, event.taken_back_quantity, event.status) == ("no longer needed", 400, "withdrawn")
    with pytest.raises(ItemNotActiveError):
        r.reserve(uuid4(), 1)
    with pytest.raises(ItemNotActiveError):
        r.withdraw()
    r.receive(f, m, 50)
    r.release(m, 150)
    assert state(r) == (0, 50, 550, "withdrawn")
    r.reverse_receipt(f, m, 50, to_reservation=False)
    assert state(r) == (0, 0, 600, "withdrawn")


def test_expire(make_request: MakeRequest) -> None:
    r = make_request(600)
    r.expire()
    event = r.pending_events[-1]
    assert isinstance(event, Request.Expired)
    assert (event.taken_back_quantity, event.status) == (600, "expired")
    with pytest.raises(ItemNotActiveError):
        r.expire()
