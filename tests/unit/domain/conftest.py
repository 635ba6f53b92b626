from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest

from ledger.domain import Contribution, Match, Request

TERRITORY = "018182"

MakeContribution = Callable[..., Contribution]
MakeRequest = Callable[..., Request]
MakeMatch = Callable[..., tuple[Match, Contribution, Request]]


@pytest.fixture
def make_contribution() -> MakeContribution:
    def make(quantity: int = 600, **overrides: Any) -> Contribution:
        fields: dict[str, Any] = {
            "id": uuid4(),
            "territory": TERRITORY,
            "contributor_id": uuid4(),
            "resource_kind": "time",
            "unit": "minute",
            "quantity": quantity,
            "theme": "cts.a",
            **overrides,
        }
        return Contribution.pledge(**fields)

    return make


@pytest.fixture
def make_request() -> MakeRequest:
    def make(quantity: int = 600, **overrides: Any) -> Request:
        fields: dict[str, Any] = {
            "id": uuid4(),
            "territory": TERRITORY,
            "beneficiary_id": uuid4(),
            "resource_kind": "time",
            "unit": "minute",
            "quantity": quantity,
            "theme": "area.poverty_frailty",
            **overrides,
        }
        return Request.post(**fields)

    return make


@pytest.fixture
def make_match(make_contribution: MakeContribution, make_request: MakeRequest) -> MakeMatch:
    def make(quantity: int = 300, offered: int = 600, needed: int = 600) -> tuple[Match, Contribution, Request]:
        contribution = make_contribution(offered)
        request = make_request(needed)
        match = Match.reserve(uuid4(), contribution, request, quantity, operator_id="op-match")
        return match, contribution, request

    return make

