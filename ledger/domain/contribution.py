"""An offer of a resource by a contributor, consumed by matches and fulfilments."""

from __future__ import annotations

from uuid import UUID

from ledger.domain.base import LedgerAggregate
from ledger.domain.checks import check_iso_date, check_positive, check_resource
from ledger.domain.errors import (
    InvalidCostError,
    InvalidMotivationError,
    ItemNotActiveError,
    OverAllocationError,
    OverFulfilmentError,
    OverReleaseError,
    OverReversalError,
)
from ledger.domain.values import FundingSource, Motivation, ResourceKind

INACTIVE = frozenset({"withdrawn", "expired"})


class Contribution(LedgerAggregate):
    """Invariant: reserved + delivered <= quantity - taken_back (allocated <= pledged)."""

    class Event(LedgerAggregate.Event):
        pass

    class Pledged(Event, LedgerAggregate.Created):
        contributor_id: UUID
        resource_kind: str
        unit: str
        quantity: int
        theme: str
        description_sealed: str | None
        motivation: str | None
        paid_time: bool | None
        employer_id: UUID | None
        valid_until: str | None
        project_ref: str | None
        # Declared cost to the giver (b4si-1): per hour of minute units, per kg, per item.
        cost_eur_cent: int | None = None
        funding_source: str | None = None
        programme: str | None = None

    class QuantitiesChanged(Event):
        """Never triggered itself: every later event carries the resulting state, so a
        projection can store it without re-deriving the rules."""

        reserved: int
        delivered: int
        taken_back: int
        status: str

        def apply(self, aggregate: Contribution) -> None:
            aggregate.reserved = self.reserved
            aggregate.delivered = self.delivered
            aggregate.taken_back = self.taken_back
            aggregate.status = self.status

    class Allocated(QuantitiesChanged):
        match_id: UUID
        quantity: int

    class Released(QuantitiesChanged):
        match_id: UUID
        quantity: int

    class Delivered(QuantitiesChanged):
        fulfilment_id: UUID
        match_id: UUID
        quantity: int

    class DeliveryReversed(QuantitiesChanged):
        fulfilment_id: UUID
        match_id: UUID
        quantity: int
        to_reservation: bool

    class Withdrawn(QuantitiesChanged):
        reason_sealed: str | None
        taken_back_quantity: int

    class Expired(QuantitiesChanged):
        taken_back_quantity: int

    def __init__(
        self,
        territory: str,
        contributor_id: UUID,
        resource_kind: str,
        unit: str,
        quantity: int,
        theme: str,
        description_sealed: str | None,
        motivation: str | None,
        paid_time: bool | None,
        employer_id: UUID | None,
        valid_until: str | None,
        project_ref: str | None,
        cost_eur_cent: int | None = None,
        funding_source: str | None = None,
        programme: str | None = None,
    ) -> None:
        super().__init__(territory)
        self.contributor_id = contributor_id
        self.resource_kind = resource_kind
        self.unit = unit
        self.quantity = quantity
        self.theme = theme
        self.description_sealed = description_sealed
        self.motivation = motivation
        self.paid_time = paid_time
        self.employer_id = employer_id
        self.valid_until = valid_until
        self.project_ref = project_ref
        self.cost_eur_cent = cost_eur_cent
        self.funding_source = funding_source
        self.programme = programme
        self.reserved = 0
        self.delivered = 0
        self.taken_back = 0
        self.status = "pledged"

    @classmethod
    def pledge(
        cls,
        id: UUID,  # noqa: A002
        territory: str,
        contributor_id: UUID,
        resource_kind: str,
        unit: str,
        quantity: int,
        theme: str,
        *,
        description_sealed: str | None = None,
        motivation: str | None = None,
        paid_time: bool | None = None,
        employer_id: UUID | None = None,
        valid_until: str | None = None,
        project_ref: str | None = None,
        operator_id: str | None = None,
        cost_eur_cent: int | None = None,
        funding_source: str | None = None,
        programme: str | None = None,
    ) -> Contribution:
        kind, unit = check_resource(resource_kind, unit)
        check_positive(quantity)
        if cost_eur_cent is not None:
            check_positive(cost_eur_cent)
            if kind == ResourceKind.MONEY.value:
                raise InvalidCostError("money is valued at face value: it takes no cost_eur_cent")
        if funding_source is not None:
            if kind != ResourceKind.MONEY.value:
                raise InvalidCostError("only money has a funding_source")
            try:
                funding_source = FundingSource(funding_source).value
            except ValueError:
                allowed = ", ".join(f.value for f in FundingSource)
                raise InvalidCostError(f"unknown funding_source {funding_source!r} (allowed: {allowed})") from None
        if motivation is not None:
            try:
                motivation = Motivation(motivation).value
            except ValueError:
                allowed = ", ".join(m.value for m in Motivation)
                raise InvalidMotivationError(f"unknown motivation {motivation!r} (allowed: {allowed})") from None
        return cls._create_from(cls.Pledged, id, {
            "territory": territory,
            "operator_id": operator_id,
            "contributor_id": contributor_id,
            "resource_kind": kind,
            "unit": unit,
            "quantity": quantity,
            "theme": theme,
            "description_sealed": description_sealed,
            "motivation": motivation,
            "paid_time": paid_time,
            "employer_id": employer_id,
            "valid_until": check_iso_date(valid_until, "valid_until"),
            "project_ref": project_ref,
            "cost_eur_cent": cost_eur_cent,
            "funding_source": funding_source,
            "programme": programme,
        })

    @property
    def is_active(self) -> bool:
        return self.status not in INACTIVE

    @property
    def pledged(self) -> int:
        return self.quantity - self.taken_back

    @property
    def available(self) -> int:
        return self.quantity - self.taken_back - self.reserved - self.delivered

    def check_can_allocate(self, quantity: int) -> None:
        """Raises what ``allocate`` would, without changing anything."""
        check_positive(quantity)
        if not self.is_active:
            raise ItemNotActiveError(f"contribution {self.id} is {self.status}")
        if quantity > self.available:
            raise OverAllocationError(
                f"cannot allocate {quantity} {self.unit}: only {self.available} available on contribution {self.id}"
            )

    def allocate(self, match_id: UUID, quantity: int, operator_id: str | None = None) -> None:
        self.check_can_allocate(quantity)
        self._change(self.Allocated, operator_id, {
            "match_id": match_id,
            "quantity": quantity,
        }, reserved=self.reserved + quantity)

    def release(self, match_id: UUID, quantity: int, operator_id: str | None = None) -> None:
        check_positive(quantity)
        if quantity > self.reserved:
            raise OverReleaseError(f"cannot release {quantity}: only {self.reserved} reserved")
        # A withdrawn offer cannot be offered again, so what comes back is taken back.
        taken_back = self.taken_back + (0 if self.is_active else quantity)
        self._change(self.Released, operator_id, {
            "match_id": match_id,
            "quantity": quantity,
        }, reserved=self.reserved - quantity, taken_back=taken_back)

    def check_can_deliver(self, quantity: int) -> None:
        check_positive(quantity)
        if quantity > self.reserved:
            raise OverFulfilmentError(f"cannot deliver {quantity}: only {self.reserved} reserved")

    def deliver(
        self, fulfilment_id: UUID, match_id: UUID, quantity: int, operator_id: str | None = None
    ) -> None:
        # No active check: matches made before a withdrawal may still be honoured.
        self.check_can_deliver(quantity)
        self._change(self.Delivered, operator_id, {
            "fulfilment_id": fulfilment_id,
            "match_id": match_id,
            "quantity": quantity,
        }, reserved=self.reserved - quantity, delivered=self.delivered + quantity)

    def check_can_reverse_delivery(self, quantity: int) -> None:
        check_positive(quantity)
        if quantity > self.delivered:
            raise OverReversalError(f"cannot reverse {quantity}: only {self.delivered} delivered")

    def reverse_delivery(
        self,
        fulfilment_id: UUID,
        match_id: UUID,
        quantity: int,
        to_reservation: bool,
        operator_id: str | None = None,
    ) -> None:
        self.check_can_reverse_delivery(quantity)
        reserved, taken_back = self.reserved, self.taken_back
        if to_reservation:
            reserved += quantity
        elif not self.is_active:
            taken_back += quantity
        self._change(self.DeliveryReversed, operator_id, {
            "fulfilment_id": fulfilment_id,
            "match_id": match_id,
            "quantity": quantity,
            "to_reservation": to_reservation,
        }, reserved=reserved, delivered=self.delivered - quantity, taken_back=taken_back)

    def withdraw(self, reason_sealed: str | None = None, operator_id: str | None = None) -> None:
        self._end(self.Withdrawn, "withdrawn", operator_id, {"reason_sealed": reason_sealed})

    def expire(self, operator_id: str | None = None) -> None:
        self._end(self.Expired, "expired", operator_id, {})

    def _end(
        self,
        event_class: type[QuantitiesChanged],
        status: str,
        operator_id: str | None,
        fields: dict[str, object],
    ) -> None:
        if not self.is_active:
            raise ItemNotActiveError(f"contribution {self.id} is already {self.status}")
        taken = self.available
        self._trigger(event_class, {
            "operator_id": operator_id,
            "reserved": self.reserved,
            "delivered": self.delivered,
            "taken_back": self.taken_back + taken,
            "status": status,
            "taken_back_quantity": taken,
            **fields,
        })

    def _change(
        self,
        event_class: type[QuantitiesChanged],
        operator_id: str | None,
        fields: dict[str, object],
        *,
        reserved: int | None = None,
        delivered: int | None = None,
        taken_back: int | None = None,
    ) -> None:
        reserved = self.reserved if reserved is None else reserved
        delivered = self.delivered if delivered is None else delivered
        taken_back = self.taken_back if taken_back is None else taken_back
        status = self.status
        if self.is_active:
            status = _status(self.quantity - taken_back, reserved, delivered)
        self._trigger(event_class, {
            "operator_id": operator_id,
            "reserved": reserved,
            "delivered": delivered,
            "taken_back": taken_back,
            "status": status,
            **fields,
        })


def _status(pledged: int, reserved: int, delivered: int) -> str:
    if reserved + delivered == 0:
        return "pledged"
    if delivered == pledged:
        return "fulfilled"
    if reserved + delivered == pledged:
        return "fully_allocated"
    return "partly_allocated"
