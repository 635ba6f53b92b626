"""Validation of single input values shared by several aggregates."""

from __future__ import annotations

from datetime import date

from ledger.domain.errors import (
    DateInFutureError,
    DateInPastError,
    InvalidDateError,
    NonPositiveQuantityError,
    UnitNotAllowedForKindError,
    UnknownResourceKindError,
)
from ledger.domain.values import UNITS_BY_KIND, ResourceKind, Unit


def check_positive(quantity: int) -> None:
    # bool is an int subclass; True must not slip through as a quantity of 1.
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise NonPositiveQuantityError(f"quantity must be a positive integer, got {quantity!r}")


# Every valid (resource kind, unit) pair as plain strings: most checks end here.
_VALID_PAIRS = frozenset((kind.value, unit.value) for kind, units in UNITS_BY_KIND.items()
                         for unit in units)


def check_resource(resource_kind: str, unit: str) -> tuple[str, str]:
    """Return the plain string values of a valid (resource kind, unit) pair."""
    if type(resource_kind) is str and type(unit) is str and (resource_kind, unit) in _VALID_PAIRS:
        return resource_kind, unit
    try:
        kind = ResourceKind(resource_kind)
    except ValueError:
        kinds = ", ".join(k.value for k in ResourceKind)
        raise UnknownResourceKindError(f"unknown resource kind {resource_kind!r} (allowed: {kinds})") from None
    allowed = UNITS_BY_KIND[kind]
    if unit not in {u.value for u in allowed}:
        names = ", ".join(sorted(u.value for u in allowed))
        raise UnitNotAllowedForKindError(f"unit {unit!r} not allowed for {kind.value} (allowed: {names})")
    return kind.value, Unit(unit).value


def check_iso_date(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise InvalidDateError(f"{field} must be an ISO date (YYYY-MM-DD), got {value!r}") from None


def check_not_future(value: str | None, field: str, today: date) -> None:
    """A delivery recorded after the fact may carry an earlier day, never a later one."""
    day = check_iso_date(value, field)
    if day is not None and date.fromisoformat(day) > today:
        raise DateInFutureError(f"{field} {day} is after today ({today.isoformat()})")


def check_not_past(value: str | None, field: str, today: date) -> None:
    """An offer or a need whose last day is already gone would be born expired."""
    day = check_iso_date(value, field)
    if day is not None and date.fromisoformat(day) < today:
        raise DateInPastError(f"{field} {day} is already past (today is {today.isoformat()})")
