"""A need posted for a beneficiary, met by matches and fulfilments."""

from __future__ import annotations

from uuid import UUID

from ledger.domain.base import LedgerAggregate
from ledger.domain.checks import check_iso_date, check_positive, check_resource
from ledger.domain.errors import (
    InvalidUrgencyError,
    ItemNotActiveError,
    OverFulfilmentError,
    OverMatchError,
    OverReleaseError,
    OverReversalError,
)
from ledger.domain.values import Urgency

INACTIVE = frozenset({"withdrawn", "expired"})


class Request(LedgerAggregate):
    """Invariant: reserved + received <= quantity - taken_back (matched <= requested)."""

    class Event(LedgerAggregate.Event):
        pass

    class Posted(Event, LedgerAggregate.Created):
        beneficiary_id: UUID
        resource_kind: str
        unit: str
        quantity: int
        theme: str
        urgency: str
        description_sealed: str | None
        needed_by: str | None
        programme: str | None = None

    class QuantitiesChanged(Event):
        """Never triggered itself: every later event carries the resulting state."""

        reserved: int
        received: int
        taken_back: int
        status: str

        def apply(self, aggregate: Request) -> None:
            aggregate.reserved = self.reserved
            aggregate.received = self.received
            aggregate.taken_back = self.taken_back
            aggregate.status = self.status

    class Reserved(QuantitiesChanged):
        match_id: UUID
        quantity: int

    class Released(QuantitiesChanged):
        match_id: UUID
        quantity: int

    class Received(QuantitiesChanged):
        fulfilment_id: UUID
        match_id: UUID
        quantity: int

    class ReceiptReversed(QuantitiesChanged):
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
        beneficiary_id: UUID,
        resource_kind: str,
        unit: str,
        quantity: int,
        theme: str,
        urgency: str,
        description_sealed: str | None,
        needed_by: str | None,
        programme: str | None = None,
    ) -> None:
        super().__init__(territory)
        self.beneficiary_id = beneficiary_id
        self.resource_kind = resource_kind
        self.unit = unit
        self.quantity = quantity
        self.theme = theme
        self.urgency = urgency
        self.description_sealed = description_sealed
        self.needed_by = needed_by
        self.programme = programme
        self.reserved = 0
        self.received = 0
        self.taken_back = 0
        self.status = "open"

    @classmethod
    def post(
        cls,
        id: UUID,  # noqa: A002
        territory: str,
        beneficiary_id: UUID,
        resource_kind: str,
        unit: str,
        quantity: int,
        theme: str,
        *,
        urgency: str = Urgency.NORMAL.value,
        description_sealed: str | None = None,
        needed_by: str | None = None,
        operator_id: str | None = None,
        programme: str | None = None,
    ) -> Request:
        kind, unit = check_resource(resource_kind, unit)
        check_positive(quantity)
        try:
            urgency = Urgency(urgency).value
        except ValueError:
            allowed = ", ".join(u.value for u in Urgency)
            raise InvalidUrgencyError(f"unknown urgency {urgency!r} (allowed: {allowed})") from None
        return cls._create_from(cls.Posted, id, {
            "territory": territory,
            "operator_id": operator_id,
            "beneficiary_id": beneficiary_id,
            "resource_kind": kind,
            "unit": unit,
            "quantity": quantity,
            "theme": theme,
            "urgency": urgency,
            "description_sealed": description_sealed,
            "needed_by": check_iso_date(needed_by, "needed_by"),
            "programme": programme,
        })

    @property
    def is_active(self) -> bool:
        return self.status not in INACTIVE

    @property
    def requested(self) -> int:
        return self.quantity - self.taken_back

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.taken_back - self.reserved - self.received

    def check_can_reserve(self, quantity: int) -> None:
        """Raises what ``reserve`` would, without changing anything."""
        check_positive(quantity)
        if not self.is_active:
            raise ItemNotActiveError(f"request {self.id} is {self.status}")
        if quantity > self.open_quantity:
            raise OverMatchError(
                f"cannot match {quantity} {self.unit}: only {self.open_quantity} still open on request {self.id}"
            )

    def reserve(self, match_id: UUID, quantity: int, operator_id: str | None = None) -> None:
        self.check_can_reserve(quantity)
        self._change(self.Reserved, operator_id, {
            "match_id": match_id,
            "quantity": quantity,
        }, reserved=self.reserved + quantity)

    def release(self, match_id: UUID, quantity: int, operator_id: str | None = None) -> None:
        check_positive(quantity)
        if quantity > self.reserved:
            raise OverReleaseError(f"cannot release {quantity}: only {self.reserved} reserved")
        # A withdrawn need is not reopened by what a cancelled match gives back.
        taken_back = self.taken_back + (0 if self.is_active else quantity)
        self._change(self.Released, operator_id, {
            "match_id": match_id,
            "quantity": quantity,
        }, reserved=self.reserved - quantity, taken_back=taken_back)

    def check_can_receive(self, quantity: int) -> None:
        check_positive(quantity)
        if quantity > self.reserved:
            raise OverFulfilmentError(f"cannot receive {quantity}: only {self.reserved} reserved")

    def receive(
        self, fulfilment_id: UUID, match_id: UUID, quantity: int, operator_id: str | None = None
    ) -> None:
        self.check_can_receive(quantity)
        self._change(self.Received, operator_id, {
            "fulfilment_id": fulfilment_id,
            "match_id": match_id,
            "quantity": quantity,
        }, reserved=self.reserved - quantity, received=self.received + quantity)

    def check_can_reverse_receipt(self, quantity: int) -> None:
        check_positive(quantity)
        if quantity > self.received:
            raise OverReversalError(f"cannot reverse {quantity}: only {self.received} received")

    def reverse_receipt(
        self,
        fulfilment_id: UUID,
        match_id: UUID,
        quantity: int,
        to_reservation: bool,
        operator_id: str | None = None,
    ) -> None:
        self.check_can_reverse_receipt(quantity)
        reserved, taken_back = self.reserved, self.taken_back
        if to_reservation:
            reserved += quantity
        elif not self.is_active:
            taken_back += quantity
        self._change(self.ReceiptReversed, operator_id, {
            "fulfilment_id": fulfilment_id,
            "match_id": match_id,
            "quantity": quantity,
            "to_reservation": to_reservation,
        }, reserved=reserved, received=self.received - quantity, taken_back=taken_back)

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
            raise ItemNotActiveError(f"request {self.id} is already {self.status}")
        taken = self.open_quantity
        self._trigger(event_class, {
            "operator_id": operator_id,
            "reserved": self.reserved,
            "received": self.received,
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
        received: int | None = None,
        taken_back: int | None = None,
    ) -> None:
        reserved = self.reserved if reserved is None else reserved
        received = self.received if received is None else received
        taken_back = self.taken_back if taken_back is None else taken_back
        status = self.status
        if self.is_active:
            status = _status(self.quantity - taken_back, reserved, received)
        self._trigger(event_class, {
            "operator_id": operator_id,
            "reserved": reserved,
            "received": received,
            "taken_back": taken_back,
            "status": status,
            **fields,
        })


def _status(requested: int, reserved: int, received: int) -> str:
    if reserved + received == 0:
        return "open"
    if received == requested:
        return "met"
    if reserved + received == requested:
        return "fully_matched"
    return "partly_matched"
