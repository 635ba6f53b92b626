"""The recorded delivery against a match: the ledger transfer from contributor to beneficiary."""

from __future__ import annotations

from uuid import UUID

from ledger.domain.base import LedgerAggregate
from ledger.domain.checks import check_iso_date
from ledger.domain.contribution import Contribution
from ledger.domain.errors import (
    AggregateMismatchError,
    AlreadyReversedError,
    FeedbackAlreadyRecordedError,
    InvalidFeedbackError,
)
from ledger.domain.match import Match
from ledger.domain.request import Request
from ledger.domain.values import Change


class Fulfilment(LedgerAggregate):
    """Never edited: an error is corrected by a compensating reversal."""

    class Event(LedgerAggregate.Event):
        pass

    class Recorded(Event, LedgerAggregate.Created):
        match_id: UUID
        contribution_id: UUID
        request_id: UUID
        contributor_id: UUID
        beneficiary_id: UUID
        employer_id: UUID | None
        resource_kind: str
        unit: str
        theme: str
        quantity: int
        fulfilled_on: str | None
        note_sealed: str | None
        programme: str | None = None

    class FeedbackRecorded(Event):
        """How the beneficiary judged the help: satisfaction 1..5 and the depth of change."""

        satisfaction: int
        change: str | None
        comment_sealed: str | None

        def apply(self, aggregate: Fulfilment) -> None:
            aggregate.satisfaction = self.satisfaction
            aggregate.change = self.change
            aggregate.comment_sealed = self.comment_sealed

    class Reversed(Event):
        reason_sealed: str | None
        to_reservation: bool
        quantity: int

        def apply(self, aggregate: Fulfilment) -> None:
            aggregate.reversed = True

    def __init__(
        self,
        territory: str,
        match_id: UUID,
        contribution_id: UUID,
        request_id: UUID,
        contributor_id: UUID,
        beneficiary_id: UUID,
        employer_id: UUID | None,
        resource_kind: str,
        unit: str,
        theme: str,
        quantity: int,
        fulfilled_on: str | None,
        note_sealed: str | None,
        programme: str | None = None,
    ) -> None:
        super().__init__(territory)
        self.match_id = match_id
        self.contribution_id = contribution_id
        self.request_id = request_id
        self.contributor_id = contributor_id
        self.beneficiary_id = beneficiary_id
        self.employer_id = employer_id
        self.resource_kind = resource_kind
        self.unit = unit
        self.theme = theme
        self.quantity = quantity
        self.fulfilled_on = fulfilled_on
        self.note_sealed = note_sealed
        self.programme = programme
        self.reversed = False
        self.satisfaction: int | None = None
        self.change: str | None = None
        self.comment_sealed: str | None = None

    @classmethod
    def record(
        cls,
        id: UUID,  # noqa: A002
        match: Match,
        contribution: Contribution,
        request: Request,
        quantity: int,
        fulfilled_on: str | None = None,
        note_sealed: str | None = None,
        operator_id: str | None = None,
    ) -> Fulfilment:
        """Moves the match and both sides; the caller saves all four aggregates together."""
        match.check_references(contribution, request)
        match.check_can_fulfil(quantity)
        contribution.check_can_deliver(quantity)
        request.check_can_receive(quantity)
        fulfilled_on = check_iso_date(fulfilled_on, "fulfilled_on")
        fulfilment = cls._create_from(cls.Recorded, id, {
            "territory": match.territory,
            "operator_id": operator_id,
            "match_id": match.id,
            "contribution_id": contribution.id,
            "request_id": request.id,
            "contributor_id": contribution.contributor_id,
            "beneficiary_id": request.beneficiary_id,
            "employer_id": contribution.employer_id,
            "resource_kind": match.resource_kind,
            "unit": match.unit,
            "theme": match.theme,
            "quantity": quantity,
            "fulfilled_on": fulfilled_on,
            "note_sealed": note_sealed,
            "programme": match.programme,
        })
        match.fulfil(id, quantity, operator_id)
        contribution.deliver(id, match.id, quantity, operator_id)
        request.receive(id, match.id, quantity, operator_id)
        return fulfilment

    def record_feedback(self, satisfaction: int, change: str | None, comment_sealed: str | None,
                        operator_id: str | None = None) -> None:
        """Once per delivery, by (the operator of) the beneficiary."""
        if self.satisfaction is not None:
            raise FeedbackAlreadyRecordedError(f"feedback on fulfilment {self.id} is already recorded")
        if isinstance(satisfaction, bool) or not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5:
            raise InvalidFeedbackError(f"satisfaction is 1 to 5, got {satisfaction!r}")
        if change is not None:
            try:
                change = Change(change).value
            except ValueError:
                allowed = ", ".join(c.value for c in Change)
                raise InvalidFeedbackError(f"unknown change {change!r} (allowed: {allowed})") from None
        self._trigger(self.FeedbackRecorded, {
            "operator_id": operator_id,
            "satisfaction": satisfaction,
            "change": change,
            "comment_sealed": comment_sealed,
        })

    def reverse(
        self,
        reason_sealed: str | None,
        match: Match,
        contribution: Contribution,
        request: Request,
        operator_id: str | None = None,
    ) -> None:
        """Goes back to the match's reservation while it is open, else back to both sides."""
        if self.reversed:
            raise AlreadyReversedError(f"fulfilment {self.id} is already reversed")
        if match.id != self.match_id:
            raise AggregateMismatchError(f"fulfilment {self.id} belongs to match {self.match_id}")
        match.check_references(contribution, request)
        match.check_can_reverse_fulfilment(self.quantity)
        contribution.check_can_reverse_delivery(self.quantity)
        request.check_can_reverse_receipt(self.quantity)
        to_reservation = match.is_open
        self._trigger(self.Reversed, {
            "operator_id": operator_id,
            "reason_sealed": reason_sealed,
            "to_reservation": to_reservation,
            "quantity": self.quantity,
        })
        match.reverse_fulfilment(self.id, self.quantity, operator_id)
        contribution.reverse_delivery(self.id, match.id, self.quantity, to_reservation, operator_id)
        request.reverse_receipt(self.id, match.id, self.quantity, to_reservation, operator_id)
