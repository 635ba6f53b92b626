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
    # Welfare aziendale (TUIR art. 51) spent on local services: recorded, never a B4SI input.
    CORPORATE_WELFARE = "corporate_welfare"


class FundingSource(StrEnum):
    """Where money comes from, for the funding mix (public vs private, and which private)."""

    PUBLIC = "public"
    PHILANTHROPY = "philanthropy"
    CIVIC_CROWDFUNDING = "civic_crowdfunding"
    FIVE_PER_THOUSAND = "five_per_thousand"
    CORPORATE_WELFARE = "corporate_welfare"
    DONATION = "donation"


class Change(StrEnum):
    """Depth of change for the beneficiary (B4SI): what a delivery did for them."""

    NONE = "none"
    CONNECT = "connect"
    IMPROVE = "improve"
    TRANSFORM = "transform"


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"
