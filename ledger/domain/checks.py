"""Validation of single input values shared by several aggregates."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

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
    if type(quantity) is int and quantity > 0:  # the usual case, decided at once
        return
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


@lru_cache(maxsize=1 << 12, typed=True)
def _day(value: str) -> tuple[str, date]:
    """The day a value names, as ISO text and as a date; raises TypeError or ValueError for
    anything else (never kept: lru_cache keeps only what is returned). The days of a history
    repeat: each is read once."""
    day = date.fromisoformat(value)
    return day.isoformat(), day


def _read_day(value: str, field: str) -> tuple[str, date]:
    try:
        return _day(value)  # an unhashable value is a TypeError too
    except (TypeError, ValueError):
        raise InvalidDateError(f"{field} must be an ISO date (YYYY-MM-DD), got {value!r}") from None


def check_iso_date(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    return _read_day(value, field)[0]


def check_not_future(value: str | None, field: str, today: date) -> None:
    """A delivery recorded after the fact may carry an earlier day, never a later one."""
    if value is None:
        return
    text, day = _read_day(value, field)
    if day > today:
        raise DateInFutureError(f"{field} {text} is after today ({today.isoformat()})")


def check_not_past(value: str | None, field: str, today: date) -> None:
    """An offer or a need whose last day is already gone would be born expired."""
    if value is None:
        return
    text, day = _read_day(value, field)
    if day < today:
        raise DateInPastError(f"{field} {text} is already past (today is {today.isoformat()})")
