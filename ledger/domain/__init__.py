"""The pure domain of the contribution ledger: aggregates, events, rules.

Imports only the standard library and ``eventsourcing.domain``.
"""

from ledger.domain.actor import Actor
from ledger.domain.base import LedgerAggregate
from ledger.domain.checks import check_iso_date, check_positive, check_resource
from ledger.domain.contribution import Contribution
from ledger.domain.errors import (
    ActorErasedError,
    AggregateMismatchError,
    AlreadyReversedError,
    DomainError,
    InvalidActorError,
    InvalidDateError,
    InvalidMotivationError,
    InvalidTerritoryCodeError,
    InvalidThemeCodeError,
    InvalidUrgencyError,
    InvalidValueError,
    ItemNotActiveError,
    NonPositiveQuantityError,
    OverAllocationError,
    OverFulfilmentError,
    OverMatchError,
    OverReleaseError,
    OverReversalError,
    TerritoryMismatchError,
    ThemeAlreadyDefinedError,
    UnitMismatchError,
    UnitNotAllowedForKindError,
    UnknownResourceKindError,
    UnknownThemeError,
)
from ledger.domain.fulfilment import Fulfilment
from ledger.domain.match import Match
from ledger.domain.request import Request
from ledger.domain.territory import TERRITORY_NAMESPACE, Territory
from ledger.domain.themes import BUILT_IN_THEMES, Theme, check_territory_theme_code
from ledger.domain.values import (
    PERSONAL_KINDS,
    UNITS_BY_KIND,
    ActorKind,
    Change,
    FundingSource,
    Motivation,
    ResourceKind,
    Unit,
    Urgency,
)

AGGREGATES: tuple[type[LedgerAggregate], ...] = (Territory, Actor, Contribution, Request, Match, Fulfilment)

__all__ = [
    "AGGREGATES",
    "BUILT_IN_THEMES",
    "PERSONAL_KINDS",
    "TERRITORY_NAMESPACE",
    "UNITS_BY_KIND",
    "Actor",
    "ActorErasedError",
    "ActorKind",
    "Change",
    "FundingSource",
    "AggregateMismatchError",
    "AlreadyReversedError",
    "Contribution",
    "DomainError",
    "Fulfilment",
    "InvalidActorError",
    "InvalidDateError",
    "InvalidMotivationError",
    "InvalidTerritoryCodeError",
    "InvalidThemeCodeError",
    "InvalidUrgencyError",
    "InvalidValueError",
    "ItemNotActiveError",
    "LedgerAggregate",
    "Match",
    "Motivation",
    "NonPositiveQuantityError",
    "OverAllocationError",
    "OverFulfilmentError",
    "OverMatchError",
    "OverReleaseError",
    "OverReversalError",
    "Request",
    "ResourceKind",
    "TerritoryMismatchError",
    "Territory",
    "Theme",
    "ThemeAlreadyDefinedError",
    "Unit",
    "UnitMismatchError",
    "UnitNotAllowedForKindError",
    "UnknownResourceKindError",
    "UnknownThemeError",
    "Urgency",
    "check_iso_date",
    "check_positive",
    "check_resource",
    "check_territory_theme_code",
]
