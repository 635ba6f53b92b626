"""Validation of single input values shared by several aggregates."""

from __future__ import annotations

from datetime import date

from ledger.domain.errors import (
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


def check_resource(resource_kind: str, unit: str) -> tuple[str, str]:
    """Return the plain string values of a valid (resource kind, unit) pair."""
    try:
        kind = ResourceKind(resource_kind)
    except ValueError:
        raise UnknownResourceKindError(f"unknown resource kind {resource_kind!r}") from None
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
