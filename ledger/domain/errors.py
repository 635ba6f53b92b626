"""Domain exceptions, one per rule. ``rule`` is the stable id used in problem+json types.

``InvalidValueError`` subclasses reject input that is wrong on its own (HTTP 422 suits
them); every other ``DomainError`` is a rule about the current state (HTTP 409).
``AggregateMismatchError`` is not a domain error: it means the caller passed the wrong
aggregates, a programming error.
"""

from __future__ import annotations


class DomainError(Exception):
    rule: str = "domain-error"


class InvalidValueError(DomainError):
    rule = "invalid-value"


class NonPositiveQuantityError(InvalidValueError):
    rule = "non-positive-quantity"


class UnknownResourceKindError(InvalidValueError):
    rule = "unknown-resource-kind"


class UnitNotAllowedForKindError(InvalidValueError):
    rule = "unit-not-allowed-for-kind"


class InvalidMotivationError(InvalidValueError):
    rule = "invalid-motivation"


class InvalidUrgencyError(InvalidValueError):
    rule = "invalid-urgency"


class InvalidDateError(InvalidValueError):
    rule = "invalid-date"


class InvalidActorError(InvalidValueError):
    rule = "invalid-actor"


class InvalidTerritoryCodeError(InvalidValueError):
    rule = "invalid-territory-code"


class InvalidThemeCodeError(InvalidValueError):
    rule = "invalid-theme-code"


class UnknownThemeError(DomainError):
    rule = "unknown-theme"


class ThemeAlreadyDefinedError(DomainError):
    rule = "theme-already-defined"


class UnitMismatchError(DomainError):
    rule = "unit-mismatch"


class TerritoryMismatchError(DomainError):
    rule = "territory-mismatch"


class OverAllocationError(DomainError):
    """Allocated would exceed pledged."""

    rule = "over-allocation"


class OverMatchError(DomainError):
    """Matched would exceed requested."""

    rule = "over-match"


class OverFulfilmentError(DomainError):
    """Fulfilled would exceed reserved."""

    rule = "over-fulfilment"


class OverReleaseError(DomainError):
    """Released more than is reserved: only reachable through inconsistent callers."""

    rule = "over-release"


class OverReversalError(DomainError):
    """Reversed more than was delivered: only reachable through inconsistent callers."""

    rule = "over-reversal"


class ItemNotActiveError(DomainError):
    """Action on a withdrawn/expired contribution or request, or a cancelled/closed match."""

    rule = "item-not-active"


class AlreadyReversedError(DomainError):
    rule = "already-reversed"


class ActorErasedError(DomainError):
    rule = "actor-erased"


class InvalidApprovalPolicyError(InvalidValueError):
    rule = "invalid-approval-policy"


class DateInFutureError(InvalidValueError):
    """A delivery cannot be recorded for a day that has not come yet."""

    rule = "date-in-future"


class DateInPastError(InvalidValueError):
    """An offer valid until, or a need needed by, a day already gone would be born expired."""

    rule = "date-in-past"


class MatchNotApprovedError(DomainError):
    """A proposed match waits for the Comune's approval before anything is delivered on it."""

    rule = "match-not-approved"


class NotProposedError(DomainError):
    """Only a proposed match can be approved or rejected."""

    rule = "match-not-proposed"


class AlreadyApprovedError(DomainError):
    rule = "already-approved"


class SelfApprovalError(DomainError):
    """Four eyes: the proposer never approves their own proposal."""

    rule = "self-approval"


class UnknownProgrammeError(DomainError):
    rule = "unknown-programme"


class ProgrammeAlreadyDefinedError(DomainError):
    rule = "programme-already-defined"


class InvalidProgrammeError(InvalidValueError):
    rule = "invalid-programme"


class InvalidCostError(InvalidValueError):
    rule = "invalid-cost"


class InvalidFeedbackError(InvalidValueError):
    rule = "invalid-feedback"


class FeedbackAlreadyRecordedError(DomainError):
    """Feedback on a delivery is given once."""

    rule = "feedback-already-recorded"


class AggregateMismatchError(ValueError):
    """The aggregates passed together do not reference each other."""
