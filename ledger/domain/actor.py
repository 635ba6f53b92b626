"""A participant: who contributes, who receives, who operates."""

from __future__ import annotations

from uuid import UUID

from ledger.domain.base import LedgerAggregate
from ledger.domain.checks import check_iso_date, check_positive
from ledger.domain.errors import ActorErasedError, InvalidActorError
from ledger.domain.values import PERSONAL_KINDS, ActorKind


class Actor(LedgerAggregate):
    """Personal data arrives already encrypted (``*_sealed``); erasure shreds the key
    elsewhere, so here it only records that the person now reads as erased."""

    class Event(LedgerAggregate.Event):
        pass

    class Registered(Event, LedgerAggregate.Created):
        kind: str
        display_name: str | None
        display_name_sealed: str | None
        personal_sealed: str | None
        runts_id: str | None
        employer_id: UUID | None
        # The ETS that follows this person (their case worker's organisation), if any.
        case_owner_id: UUID | None = None
        # Where the actor lives or works (a district of the territory), for needs by zone.
        zone: str | None = None
        vat_number: str | None = None

    class ManagementCostRecorded(Event):
        """A company's cost of running its community programme (B4SI management costs)."""

        cost_id: UUID
        incurred_on: str
        eur_cent: int
        description_sealed: str | None

    class Erased(Event):
        def apply(self, aggregate: Actor) -> None:
            aggregate.erased = True

    def __init__(
        self,
        territory: str,
        kind: str,
        display_name: str | None,
        display_name_sealed: str | None,
        personal_sealed: str | None,
        runts_id: str | None,
        employer_id: UUID | None,
        case_owner_id: UUID | None = None,
        zone: str | None = None,
        vat_number: str | None = None,
    ) -> None:
        super().__init__(territory)
        self.kind = kind
        self.display_name = display_name
        self.display_name_sealed = display_name_sealed
        self.personal_sealed = personal_sealed
        self.runts_id = runts_id
        self.employer_id = employer_id
        self.case_owner_id = case_owner_id
        self.zone = zone
        self.vat_number = vat_number
        self.erased = False

    @classmethod
    def register(
        cls,
        id: UUID,  # noqa: A002
        territory: str,
        kind: str,
        display_name: str | None = None,
        display_name_sealed: str | None = None,
        personal_sealed: str | None = None,
        runts_id: str | None = None,
        employer_id: UUID | None = None,
        operator_id: str | None = None,
        case_owner_id: UUID | None = None,
        zone: str | None = None,
        vat_number: str | None = None,
    ) -> Actor:
        actor_kind = _check_kind(kind)
        if actor_kind in PERSONAL_KINDS:
            if display_name is not None or not display_name_sealed:
                raise InvalidActorError(f"a {actor_kind.value}'s display name must arrive sealed, never in clear")
        elif not display_name or not display_name.strip() or display_name_sealed is not None:
            raise InvalidActorError(f"a {actor_kind.value} needs a clear display_name (and no sealed one)")
        if runts_id is not None and actor_kind is not ActorKind.ETS:
            raise InvalidActorError("only an ETS has a RUNTS registration id")
        # Employees are people; the application also checks the employer is a company.
        if employer_id is not None and actor_kind is not ActorKind.CITIZEN:
            raise InvalidActorError("only a citizen can have an employer")
        if vat_number is not None and actor_kind not in (ActorKind.COMPANY, ActorKind.ETS):
            raise InvalidActorError("only a company or an ETS has a VAT number")
        return cls._create_from(cls.Registered, id, {
            "territory": territory,
            "operator_id": operator_id,
            "kind": actor_kind.value,
            "display_name": display_name,
            "display_name_sealed": display_name_sealed,
            "personal_sealed": personal_sealed,
            "runts_id": runts_id,
            "employer_id": employer_id,
            "case_owner_id": case_owner_id,
            "zone": zone,
            "vat_number": vat_number,
        })

    def erase(self, operator_id: str | None = None) -> None:
        self.check_not_erased()
        self._trigger(self.Erased, {"operator_id": operator_id})

    def check_not_erased(self) -> None:
        if self.erased:
            raise ActorErasedError(f"actor {self.id} has been erased")

    def record_management_cost(self, cost_id: UUID, incurred_on: str, eur_cent: int,
                               description_sealed: str | None, operator_id: str | None = None) -> None:
        self.check_not_erased()
        if self.kind != ActorKind.COMPANY.value:
            raise InvalidActorError(f"management costs are a company's; {self.id} is a {self.kind}")
        check_positive(eur_cent)
        day = check_iso_date(incurred_on, "incurred_on")
        self._trigger(self.ManagementCostRecorded, {
            "operator_id": operator_id,
            "cost_id": cost_id,
            "incurred_on": day,
            "eur_cent": eur_cent,
            "description_sealed": description_sealed,
        })

    def check_can_follow_cases(self) -> None:
        """Only an ETS follows people as its cases."""
        if self.kind != ActorKind.ETS.value:
            raise InvalidActorError(f"case owner {self.id} is a {self.kind}, not an ets")

    def check_can_employ(self) -> None:
        """Corporate volunteering: the employer named on a contribution or an actor."""
        if self.kind != ActorKind.COMPANY.value:
            raise InvalidActorError(f"employer {self.id} is a {self.kind}, not a company")


def _check_kind(kind: str) -> ActorKind:
    try:
        return ActorKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in ActorKind)
        raise InvalidActorError(f"unknown actor kind {kind!r} (allowed: {allowed})") from None
