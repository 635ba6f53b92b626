"""The pairing of part of a contribution with part of a request: it reserves both."""

from __future__ import annotations

from uuid import UUID

from ledger.domain.base import LedgerAggregate
from ledger.domain.checks import check_positive
from ledger.domain.contribution import Contribution
from ledger.domain.errors import (
    AggregateMismatchError,
    ItemNotActiveError,
    OverFulfilmentError,
    OverReversalError,
    TerritoryMismatchError,
    UnitMismatchError,
)
from ledger.domain.request import Request

OPEN = frozenset({"reserved", "partly_fulfilled", "fulfilled"})


class Match(LedgerAggregate):
    """Invariant: 0 <= fulfilled <= quantity. While open it holds ``remaining`` on both sides."""

    class Event(LedgerAggregate.Event):
        pass

    class Reserved(Event, LedgerAggregate.Created):
        contribution_id: UUID
        request_id: UUID
        contributor_id: UUID
        beneficiary_id: UUID
        resource_kind: str
        unit: str
        theme: str
        quantity: int

    class QuantitiesChanged(Event):
        """Never triggered itself: every later event carries the resulting state."""

        fulfilled: int
        status: str

        def apply(self, aggregate: Match) -> None:
            aggregate.fulfilled = self.fulfilled
            aggregate.status = self.status

    class Fulfilled(QuantitiesChanged):
        fulfilment_id: UUID
        quantity: int

    class FulfilmentReversed(QuantitiesChanged):
        fulfilment_id: UUID
        quantity: int
        to_reservation: bool

    class Cancelled(QuantitiesChanged):
        reason_sealed: str | None
        released_quantity: int

    def __init__(
        self,
        territory: str,
        contribution_id: UUID,
        request_id: UUID,
        contributor_id: UUID,
        beneficiary_id: UUID,
        resource_kind: str,
        unit: str,
        theme: str,
        quantity: int,
    ) -> None:
        super().__init__(territory)
        self.contribution_id = contribution_id
        self.request_id = request_id
        self.contributor_id = contributor_id
        self.beneficiary_id = beneficiary_id
        self.resource_kind = resource_kind
        self.unit = unit
        self.theme = theme
        self.quantity = quantity
        self.fulfilled = 0
        self.status = "reserved"

    @classmethod
    def reserve(
        cls,
        id: UUID,  # noqa: A002
        contribution: Contribution,
        request: Request,
        quantity: int,
        operator_id: str | None = None,
    ) -> Match:
        """Reserves on both sides; the caller saves all three aggregates together."""
        if contribution.territory != request.territory:
            raise TerritoryMismatchError(
                f"contribution is in {contribution.territory}, request in {request.territory}"
            )
        if (contribution.resource_kind, contribution.unit) != (request.resource_kind, request.unit):
            raise UnitMismatchError(
                f"contribution offers {contribution.resource_kind}/{contribution.unit}, "
                f"request needs {request.resource_kind}/{request.unit}"
            )
        # Both sides are checked before either is touched, so a refusal changes nothing.
        contribution.check_can_allocate(quantity)
        request.check_can_reserve(quantity)
        match = cls._create(
            cls.Reserved,
            id=id,
            territory=contribution.territory,
            operator_id=operator_id,
            contribution_id=contribution.id,
            request_id=request.id,
            contributor_id=contribution.contributor_id,
            beneficiary_id=request.beneficiary_id,
            resource_kind=contribution.resource_kind,
            unit=contribution.unit,
            theme=request.theme,
            quantity=quantity,
        )
        contribution.allocate(id, quantity, operator_id)
        request.reserve(id, quantity, operator_id)
        return match

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def remaining(self) -> int:
        """What is still reserved on both sides: nothing once the match is closed."""
        return self.quantity - self.fulfilled if self.is_open else 0

    def check_references(self, contribution: Contribution, request: Request) -> None:
        if contribution.id != self.contribution_id or request.id != self.request_id:
            raise AggregateMismatchError(f"match {self.id} pairs other aggregates")

    def check_can_fulfil(self, quantity: int) -> None:
        if not self.is_open:
            raise ItemNotActiveError(f"match {self.id} is {self.status}")
        check_positive(quantity)
        if quantity > self.remaining:
            raise OverFulfilmentError(
                f"cannot fulfil {quantity} {self.unit}: only {self.remaining} still reserved on match {self.id}"
            )

    def fulfil(self, fulfilment_id: UUID, quantity: int, operator_id: str | None = None) -> None:
        """Called by ``Fulfilment.record``, which also moves both sides."""
        self.check_can_fulfil(quantity)
        fulfilled = self.fulfilled + quantity
        self.trigger_event(
            self.Fulfilled,
            operator_id=operator_id,
            fulfilled=fulfilled,
            status=_open_status(self.quantity, fulfilled),
            fulfilment_id=fulfilment_id,
            quantity=quantity,
        )

    def check_can_reverse_fulfilment(self, quantity: int) -> None:
        check_positive(quantity)
        if quantity > self.fulfilled:
            raise OverReversalError(f"cannot reverse {quantity}: only {self.fulfilled} fulfilled on match {self.id}")

    def reverse_fulfilment(self, fulfilment_id: UUID, quantity: int, operator_id: str | None = None) -> None:
        """Called by ``Fulfilment.reverse``. While open, the quantity is reserved again."""
        self.check_can_reverse_fulfilment(quantity)
        fulfilled = self.fulfilled - quantity
        to_reservation = self.is_open
        self.trigger_event(
            self.FulfilmentReversed,
            operator_id=operator_id,
            fulfilled=fulfilled,
            status=_open_status(self.quantity, fulfilled) if to_reservation else self.status,
            fulfilment_id=fulfilment_id,
            quantity=quantity,
            to_reservation=to_reservation,
        )

    def cancel(
        self,
        reason_sealed: str | None,
        contribution: Contribution,
        request: Request,
        operator_id: str | None = None,
    ) -> None:
        """Releases what was not fulfilled back to both sides."""
        self.check_references(contribution, request)
        if not self.is_open:
            raise ItemNotActiveError(f"match {self.id} is already {self.status}")
        released = self.remaining
        self.trigger_event(
            self.Cancelled,
            operator_id=operator_id,
            fulfilled=self.fulfilled,
            status="cancelled" if released > 0 else "closed",
            reason_sealed=reason_sealed,
            released_quantity=released,
        )
        if released > 0:
            contribution.release(self.id, released, operator_id)
            request.release(self.id, released, operator_id)


def _open_status(quantity: int, fulfilled: int) -> str:
    if fulfilled == 0:
        return "reserved"
    if fulfilled == quantity:
        return "fulfilled"
    return "partly_fulfilled"
