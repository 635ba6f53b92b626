from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from ledger.domain import (
    AggregateMismatchError,
    AlreadyReversedError,
    Contribution,
    Fulfilment,
    InvalidDateError,
    ItemNotActiveError,
    Match,
    NonPositiveQuantityError,
    OverFulfilmentError,
    Request,
)

MakeContribution = Callable[..., Contribution]
MakeMatch = Callable[..., tuple[Match, Contribution, Request]]


def test_record_moves_match_and_both_sides(
    make_contribution: MakeContribution, make_request: Callable[..., Request]
) -> None:
    employer = uuid4()
    contribution = make_contribution(600, employer_id=employer, paid_time=True)
    request = make_request(600)
    match = Match.reserve(uuid4(), contribution, request, 300)
    fulfilment_id = uuid4()
    fulfilment = Fulfilment.record(
        fulfilment_id,
        match,
        contribution,
        request,
        120,
        fulfilled_on="2026-01-15",
        note_sealed="ct",
        operator_id="op",
    )
    event = fulfilment.pending_events[0]
    assert isinstance(event, Fulfilment.Recorded)
    assert (event.match_id, event.contribution_id, event.request_id) == (
        match.id,
        contribution.id,
        request.id,
    )
    assert (event.contributor_id, event.beneficiary_id, event.employer_id) == (
        contribution.contributor_id,
        request.beneficiary_id,
        employer,
    )
    assert (event.resource_kind, event.unit, event.theme, event.quantity) == (
        "time",
        "minute",
        request.theme,
        120,
    )
    assert (event.fulfilled_on, event.note_sealed, event.territory, event.operator_id) == (
        "2026-01-15",
        "ct",
        "018182",
        "op",
    )
    assert not fulfilment.reversed
    fulfilled = match.pending_events[-1]
    assert isinstance(fulfilled, Match.Fulfilled)
    assert (fulfilled.fulfilment_id, fulfilled.quantity, fulfilled.fulfilled, fulfilled.status) == (
        fulfilment_id,
        120,
        120,
        "partly_fulfilled",
    )
    delivered = contribution.pending_events[-1]
    assert isinstance(delivered, Contribution.Delivered)
    assert (delivered.fulfilment_id, delivered.match_id, delivered.quantity) == (
        fulfilment_id,
        match.id,
        120,
    )
    assert isinstance(request.pending_events[-1], Request.Received)
    assert (match.remaining, contribution.reserved, contribution.delivered) == (180, 180, 120)
    assert (request.reserved, request.received) == (180, 120)
    Fulfilment.record(uuid4(), match, contribution, request, 180)
    assert (match.status, contribution.status, request.status) == (
        "fulfilled",
        "partly_allocated",
        "partly_matched",
    )


@pytest.mark.parametrize(
    ("quantity", "error"), [(0, NonPositiveQuantityError), (301, OverFulfilmentError)]
)
def test_record_refusals_change_nothing(
    make_match: MakeMatch, quantity: int, error: type[Exception]
) -> None:
    match, contribution, request = make_match(300)
    before = [vars(a).copy() for a in (match, contribution, request)]
    with pytest.raises(error):
        Fulfilment.record(uuid4(), match, contribution, request, quantity)
    assert [vars(a) for a in (match, contribution, request)] == before


def test_record_refuses_bad_date_and_closed_match(make_match: MakeMatch) -> None:
    match, contribution, request = make_match(300)
    with pytest.raises(InvalidDateError):
        Fulfilment.record(uuid4(), match, contribution, request, 1, fulfilled_on="ieri")
    assert match.version == 1
    match.cancel(None, contribution, request)
    with pytest.raises(ItemNotActiveError):
        Fulfilment.record(uuid4(), match, contribution, request, 1)


def test_record_refuses_foreign_aggregates(make_match: MakeMatch) -> None:
    match, contribution, _ = make_match()
    _, _, other_request = make_match()
    with pytest.raises(AggregateMismatchError):
        Fulfilment.record(uuid4(), match, contribution, other_request, 1)


def test_withdrawn_contribution_still_honours_its_matches(make_match: MakeMatch) -> None:
    match, contribution, request = make_match(300)
    contribution.withdraw()
    Fulfilment.record(uuid4(), match, contribution, request, 300)
    assert (contribution.delivered, contribution.status, match.status) == (
        300,
        "withdrawn",
        "fulfilled",
    )


def test_reverse_while_open_goes_back_to_the_reservation(make_match: MakeMatch) -> None:
    match, contribution, request = make_match(300)
    fulfilment = Fulfilment.record(uuid4(), match, contribution, request, 100)
    fulfilment.reverse("recorded twice", match, contribution, request, operator_id="auditor")
    event = fulfilment.pending_events[-1]
    assert isinstance(event, Fulfilment.Reversed)
    assert (event.reason_sealed, event.to_reservation, event.quantity, event.operator_id) == (
        "recorded twice",
        True,
        100,
        "auditor",
    )
    assert fulfilment.reversed
    reversed_on_match = match.pending_events[-1]
    assert isinstance(reversed_on_match, Match.FulfilmentReversed)
    assert (
        reversed_on_match.fulfilment_id,
        reversed_on_match.quantity,
        reversed_on_match.to_reservation,
    ) == (
        fulfilment.id,
        100,
        True,
    )
    assert (match.fulfilled, match.status, match.remaining) == (0, "reserved", 300)
    assert isinstance(contribution.pending_events[-1], Contribution.DeliveryReversed)
    assert isinstance(request.pending_events[-1], Request.ReceiptReversed)
    assert (contribution.reserved, contribution.delivered, request.reserved, request.received) == (
        300,
        0,
        300,
        0,
    )
    with pytest.raises(AlreadyReversedError):
        fulfilment.reverse("again", match, contribution, request)


def test_reverse_after_close_goes_back_to_both_sides(make_match: MakeMatch) -> None:
    match, contribution, request = make_match(300)
    fulfilment = Fulfilment.record(uuid4(), match, contribution, request, 300)
    match.cancel(None, contribution, request)
    assert match.status == "closed"
    fulfilment.reverse("never happened", match, contribution, request)
    assert (match.fulfilled, match.status, match.remaining) == (0, "closed", 0)
    assert (
        contribution.reserved,
        contribution.delivered,
        contribution.available,
        contribution.status,
    ) == (
        0,
        0,
        600,
        "pledged",
    )
    assert (request.reserved, request.received, request.open_quantity, request.status) == (
        0,
        0,
        600,
        "open",
    )


def test_reverse_after_withdrawal_is_taken_back(make_match: MakeMatch) -> None:
    match, contribution, request = make_match(300)
    fulfilment = Fulfilment.record(uuid4(), match, contribution, request, 300)
    match.cancel(None, contribution, request)
    contribution.withdraw()
    request.withdraw()
    fulfilment.reverse("never happened", match, contribution, request)
    assert (contribution.delivered, contribution.taken_back, contribution.pledged) == (0, 600, 0)
    assert (request.received, request.taken_back, request.requested) == (0, 600, 0)


def test_reverse_checks_it_was_given_its_own_aggregates(make_match: MakeMatch) -> None:
    match, contribution, request = make_match(300)
    other_match, _, _ = make_match(300)
    fulfilment = Fulfilment.record(uuid4(), match, contribution, request, 100)
    with pytest.raises(AggregateMismatchError):
        fulfilment.reverse("x", other_match, contribution, request)
    assert not fulfilment.reversed and match.fulfilled == 100
