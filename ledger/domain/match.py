"""The pairing of part of a contribution with part of a request: it reserves both."""

from __future__ import annotations

from uuid import UUID

from ledger.domain.base import LedgerAggregate
from ledger.domain.checks import check_positive
from ledger.domain.contribution import Contribution
from ledger.domain.errors import (
    AggregateMismatchError,
    AlreadyApprovedError,
    ItemNotActiveError,
    MatchNotApprovedError,
    NotProposedError,
    OverFulfilmentError,
    OverReversalError,
    SelfApprovalError,
    TerritoryMismatchError,
    UnitMismatchError,
)
from ledger.domain.request import Request

OPEN = frozenset({"proposed", "reserved", "partly_fulfilled", "fulfilled"})


class Match(LedgerAggregate):
    """Invariant: 0 <= fulfilled <= quantity. While open it holds ``remaining`` on both sides.

    Under an approval policy a match starts ``proposed``: it already reserves both sides, but
    nothing is delivered on it until ``approvals_required`` distinct approvers (never the
    proposer) approve it; a rejection releases it like a cancellation.
    """

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
        programme: str | None = None

    class Proposed(Reserved):
        """A match that waits for approval; the proposer is the event's operator."""

        approvals_required: int = 1
        status: str = "proposed"

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

    class Approved(QuantitiesChanged):
        """One approval; ``approvals`` lists every approver so far (operator ids)."""

        approvals: list[str]

        def apply(self, aggregate: Match) -> None:
            super().apply(aggregate)
            aggregate.approvals = list(self.approvals)

    class Rejected(Cancelled):
        pass

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
        approvals_required: int = 0,
        status: str = "reserved",
        operator_id: str | None = None,
        programme: str | None = None,
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
        self.status = status
        self.approvals_required = approvals_required
        self.approvals: list[str] = []
        self.proposed_by = operator_id if approvals_required else None
        self.programme = programme

    @classmethod
    def reserve(
        cls,
        id: UUID,  # noqa: A002
        contribution: Contribution,
        request: Request,
        quantity: int,
        operator_id: str | None = None,
        approvals_required: int = 0,
        programme: str | None = None,
    ) -> Match:
        """Reserves on both sides; the caller saves all three aggregates together.

        With ``approvals_required`` > 0 the match is proposed and waits for that many approvals.
        """
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
        extra: dict[str, object] = {}
        if approvals_required > 0:
            extra = {"approvals_required": approvals_required, "status": "proposed"}
        match = cls._create_from(cls.Proposed if extra else cls.Reserved, id, {
            "territory": contribution.territory,
            "operator_id": operator_id,
            "contribution_id": contribution.id,
            "request_id": request.id,
            "contributor_id": contribution.contributor_id,
            "beneficiary_id": request.beneficiary_id,
            "resource_kind": contribution.resource_kind,
            "unit": contribution.unit,
            "theme": request.theme,
            "quantity": quantity,
            "programme": programme or request.programme or contribution.programme,
            **extra,
        })
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
        if self.status == "proposed":
            raise MatchNotApprovedError(
                f"match {self.id} is proposed: it needs {self.approvals_required - len(self.approvals)} "
                "more approval(s) before anything is delivered on it"
            )
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
        self._trigger(self.Fulfilled, {
            "operator_id": operator_id,
            "fulfilled": fulfilled,
            "status": _open_status(self.quantity, fulfilled),
            "fulfilment_id": fulfilment_id,
            "quantity": quantity,
        })

    def check_can_reverse_fulfilment(self, quantity: int) -> None:
        check_positive(quantity)
        if quantity > self.fulfilled:
            raise OverReversalError(f"cannot reverse {quantity}: only {self.fulfilled} fulfilled on match {self.id}")

    def reverse_fulfilment(self, fulfilment_id: UUID, quantity: int, operator_id: str | None = None) -> None:
        """Called by ``Fulfilment.reverse``. While open, the quantity is reserved again."""
        self.check_can_reverse_fulfilment(quantity)
        fulfilled = self.fulfilled - quantity
        to_reservation = self.is_open
        self._trigger(self.FulfilmentReversed, {
            "operator_id": operator_id,
            "fulfilled": fulfilled,
            "status": _open_status(self.quantity, fulfilled) if to_reservation else self.status,
            "fulfilment_id": fulfilment_id,
            "quantity": quantity,
            "to_reservation": to_reservation,
        })

    def check_can_approve(self, approver: str) -> None:
        if self.status != "proposed":
            raise NotProposedError(f"match {self.id} is {self.status}, not proposed")
        if approver == self.proposed_by:
            raise SelfApprovalError(f"the proposer of match {self.id} cannot approve it")
        if approver in self.approvals:
            raise AlreadyApprovedError(f"{approver} has already approved match {self.id}")

    def approve(self, approver: str) -> None:
        self.check_can_approve(approver)
        approvals = [*self.approvals, approver]
        status = "reserved" if len(approvals) >= self.approvals_required else "proposed"
        self._trigger(self.Approved, {
            "operator_id": approver,
            "fulfilled": self.fulfilled,
            "status": status,
            "approvals": approvals,
        })

    def reject(self, reason_sealed: str | None, contribution: Contribution, request: Request,
               operator_id: str | None = None) -> None:
        """Releases the whole proposal back to both sides."""
        self.check_references(contribution, request)
        if self.status != "proposed":
            raise NotProposedError(f"match {self.id} is {self.status}, not proposed")
        self._trigger(self.Rejected, {
            "operator_id": operator_id,
            "fulfilled": self.fulfilled,
            "status": "rejected",
            "reason_sealed": reason_sealed,
            "released_quantity": self.quantity,
        })
        contribution.release(self.id, self.quantity, operator_id)
        request.release(self.id, self.quantity, operator_id)

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
        self._trigger(self.Cancelled, {
            "operator_id": operator_id,
            "fulfilled": self.fulfilled,
            "status": "cancelled" if released > 0 else "closed",
            "reason_sealed": reason_sealed,
            "released_quantity": released,
        })
        if released > 0:
            contribution.release(self.id, released, operator_id)
            request.release(self.id, released, operator_id)


def _open_status(quantity: int, fulfilled: int) -> str:
    if fulfilled == 0:
        return "reserved"
    if fulfilled == quantity:
        return "fulfilled"
    return "partly_fulfilled"
