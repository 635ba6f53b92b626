from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from ledger.domain import (
    AggregateMismatchError,
    Contribution,
    ItemNotActiveError,
    Match,
    NonPositiveQuantityError,
    OverAllocationError,
    OverMatchError,
    Request,
    TerritoryMismatchError,
    UnitMismatchError,
)

MakeContribution = Callable[..., Contribution]
MakeRequest = Callable[..., Request]
MakeMatch = Callable[..., tuple[Match, Contribution, Request]]


def test_reserve_pairs_and_reserves_both_sides(make_contribution: MakeContribution, make_request: MakeRequest) -> None:
    contribution, request = make_contribution(600), make_request(400)
    match_id = uuid4()
    match = Match.reserve(match_id, contribution, request, 300, operator_id="op")
    event = match.pending_events[0]
    assert isinstance(event, Match.Reserved)
    assert (event.contribution_id, event.request_id) == (contribution.id, request.id)
    assert (event.contributor_id, event.beneficiary_id) == (contribution.contributor_id, request.beneficiary_id)
    assert (event.resource_kind, event.unit, event.quantity) == ("time", "minute", 300)
    assert event.theme == request.theme == "area.poverty_frailty"
    assert (event.territory, event.operator_id) == ("018182", "op")
    assert (match.id, match.fulfilled, match.status, match.remaining, match.is_open) == (
        match_id,
        0,
        "reserved",
        300,
        True,
    )
    allocated = contribution.pending_events[-1]
    assert isinstance(allocated, Contribution.Allocated) and allocated.match_id == match_id
    assert isinstance(request.pending_events[-1], Request.Reserved)
    assert (contribution.reserved, contribution.available) == (300, 300)
    assert (request.reserved, request.open_quantity) == (300, 100)


def test_territories_must_agree(make_contribution: MakeContribution, make_request: MakeRequest) -> None:
    with pytest.raises(TerritoryMismatchError):
        Match.reserve(uuid4(), make_contribution(), make_request(territory="019035"), 1)


@pytest.mark.parametrize(
    ("kind", "unit"), [("service", "minute"), ("money", "eur_cent"), ("goods", "item")]
)
def test_units_and_kinds_must_agree(
    make_contribution: MakeContribution, make_request: MakeRequest, kind: str, unit: str
) -> None:
    with pytest.raises(UnitMismatchError):
        Match.reserve(uuid4(), make_contribution(), make_request(resource_kind=kind, unit=unit), 1)


def test_goods_units_must_agree(make_contribution: MakeContribution, make_request: MakeRequest) -> None:
    contribution = make_contribution(resource_kind="goods", unit="gram")
    with pytest.raises(UnitMismatchError):
        Match.reserve(uuid4(), contribution, make_request(resource_kind="goods", unit="item"), 1)


@pytest.mark.parametrize(
    ("quantity", "offered", "needed", "error"),
    [
        (0, 10, 10, NonPositiveQuantityError),
        (11, 10, 20, OverAllocationError),
        (11, 20, 10, OverMatchError),
    ],
)
def test_a_refused_match_changes_neither_side(
    make_contribution: MakeContribution,
    make_request: MakeRequest,
    quantity: int,
    offered: int,
    needed: int,
    error: type[Exception],
) -> None:
    contribution, request = make_contribution(offered), make_request(needed)
    before = (vars(contribution).copy(), vars(request).copy())
    with pytest.raises(error):
        Match.reserve(uuid4(), contribution, request, quantity)
    assert (vars(contribution), vars(request)) == before
    assert len(contribution.pending_events) == len(request.pending_events) == 1


def test_inactive_sides_refuse_a_match(make_contribution: MakeContribution, make_request: MakeRequest) -> None:
    withdrawn = make_contribution()
    withdrawn.withdraw()
    with pytest.raises(ItemNotActiveError):
        Match.reserve(uuid4(), withdrawn, make_request(), 1)
    contribution, expired = make_contribution(), make_request()
    expired.expire()
    with pytest.raises(ItemNotActiveError):
        Match.reserve(uuid4(), contribution, expired, 1)
    assert contribution.version == 1


def test_cancel_releases_the_unfulfilled_part(make_match: MakeMatch) -> None:
    match, contribution, request = make_match(300)
    match.cancel("changed plans", contribution, request, operator_id="op")
    event = match.pending_events[-1]
    assert isinstance(event, Match.Cancelled)
    assert (event.reason_sealed, event.released_quantity, event.fulfilled, event.status) == (
        "changed plans",
        300,
        0,
        "cancelled",
    )
    assert not match.is_open and match.remaining == 0
    assert isinstance(contribution.pending_events[-1], Contribution.Released)
    assert isinstance(request.pending_events[-1], Request.Released)
    assert (contribution.reserved, contribution.status, request.reserved, request.status) == (0, "pledged", 0, "open")
    with pytest.raises(ItemNotActiveError):
        match.cancel(None, contribution, request)


def test_cancel_of_a_fulfilled_match_closes_it(make_match: MakeMatch) -> None:
    match, contribution, request = make_match(300)
    match.fulfil(uuid4(), 300)
    # Only the match moves here: Fulfilment.record moves both sides in real use.
    versions = (contribution.version, request.version)
    match.cancel(None, contribution, request)
    assert match.status == "closed"
    assert (contribution.version, request.version) == versions


def test_cancel_checks_it_was_given_its_own_sides(make_match: MakeMatch, make_contribution: MakeContribution) -> None:
    match, _, request = make_match()
    with pytest.raises(AggregateMismatchError):
        match.cancel(None, make_contribution(), request)
    assert match.is_open
