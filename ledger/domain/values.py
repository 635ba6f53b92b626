"""Closed vocabularies of the ledger. Events store their ``.value`` (a plain str)."""

from __future__ import annotations

from enum import StrEnum


class ResourceKind(StrEnum):
    TIME = "time"
    SERVICE = "service"
    SPACE = "space"
    MONEY = "money"
    GOODS = "goods"


class Unit(StrEnum):
    """Smallest denominations: quantities are always integers of these."""

    MINUTE = "minute"
    EUR_CENT = "eur_cent"
    GRAM = "gram"
    ITEM = "item"


# Units are never converted into each other (CTS art. 17: time never turns into money).
UNITS_BY_KIND: dict[ResourceKind, frozenset[Unit]] = {
    ResourceKind.TIME: frozenset({Unit.MINUTE}),
    ResourceKind.SERVICE: frozenset({Unit.MINUTE}),
    ResourceKind.SPACE: frozenset({Unit.MINUTE}),
    ResourceKind.MONEY: frozenset({Unit.EUR_CENT}),
    ResourceKind.GOODS: frozenset({Unit.GRAM, Unit.ITEM}),
}


class ActorKind(StrEnum):
    CITIZEN = "citizen"
    HOUSEHOLD = "household"
    COMPANY = "company"
    ETS = "ets"
    MUNICIPALITY = "municipality"
    INSTITUTION = "institution"


# Whose display name identifies a natural person, so it only ever arrives sealed.
PERSONAL_KINDS: frozenset[ActorKind] = frozenset({ActorKind.CITIZEN, ActorKind.HOUSEHOLD})


class Motivation(StrEnum):
    """B4SI "why" of a company's community input."""

    CHARITABLE_GIFT = "charitable_gift"
    COMMUNITY_INVESTMENT = "community_investment"
    COMMERCIAL_INITIATIVE = "commercial_initiative"


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"
