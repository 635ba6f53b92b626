"""What went wrong, as a sentence for the person at the console.

The same exceptions the API turns into problem+json (api/problems.py) become a status and a
readable message here: a broken domain rule is told by its stable rule id, in the page's
language; anything else by its kind.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from pydantic import ValidationError

from api.console.i18n import N_
from api.problems import TYPE_BASE, Problem
from ledger.application import AlreadyExists, ConcurrencyConflict, Forbidden, NotFound
from ledger.domain import DomainError, InvalidValueError
from ledger.domain.errors import AggregateMismatchError, SelfApprovalError

RULES = {
    "over-allocation": N_("The offer has not that much left to give."),
    "over-match": N_("The need does not ask for that much any more."),
    "over-fulfilment": N_("That is more than the match still has to deliver."),
    "unit-mismatch": N_("The offer and the need are not in the same unit."),
    "item-not-active": N_("The offer, the need or the match is closed."),
    "actor-erased": N_("The person's data has been erased: nothing new can be recorded for them."),
    "match-not-approved": N_("The match waits for the Comune's approval."),
    "match-not-proposed": N_("The match is no longer waiting for approval."),
    "already-approved": N_("You have already approved this match."),
    "self-approval": N_("Whoever proposed a match cannot approve it."),
    "feedback-already-recorded": N_("Feedback on this delivery has already been recorded."),
    "date-in-future": N_("The date cannot be later than today."),
    "date-in-past": N_("The date cannot be earlier than today."),
    "invalid-feedback": N_("Satisfaction must be from 1 to 5."),
    "unknown-programme": N_("There is no such programme in this territory."),
    "unknown-theme": N_("There is no such theme in this territory."),
    "idempotency-key-reused": N_("This form was already sent with other values: reload the page."),
    "idempotency-in-progress": N_("This form is still being recorded: wait a moment."),
    "not-yet-applied": N_("The change is recorded but not shown yet: reload the page in a moment."),
    "not-signed-yet": N_("No signed checkpoint covers this record yet: try again in a second."),
    "invalid-quantity": N_("Enter a quantity greater than zero."),
    "invalid-date": N_("Enter a valid date."),
    "invalid-period": N_("The end of the period comes before its start."),
}
CONFLICT = N_("Someone else changed the same items at the same time: try again.")
NOT_FOUND = N_("There is no such page or item, or it is not yours to see.")
FORBIDDEN = N_("Your role may not do this.")
INVALID = N_("Some values are not valid.")
RULE_BROKEN = N_("The ledger's rules do not allow this now.")
UNAVAILABLE = N_("The ledger is not reachable right now: try again in a moment.")

KNOWN = (Problem, RequestValidationError, NotFound, Forbidden, DomainError, AlreadyExists,
         ConcurrencyConflict, AggregateMismatchError, ValidationError, psycopg.OperationalError,
         PoolTimeout)


def _rule_of(problem_type: str) -> str:
    return problem_type.removeprefix(TYPE_BASE)


def describe(exc: BaseException, gettext: Callable[[str], str]) -> tuple[int, str]:
    """The HTTP status the API would answer, and what to tell the person."""
    if isinstance(exc, Problem):
        rule = _rule_of(exc.type)
        if rule == "conflict":
            return exc.status, gettext(CONFLICT)
        fallback = {404: NOT_FOUND, 403: FORBIDDEN, 422: INVALID, 503: UNAVAILABLE}.get(
            exc.status, RULE_BROKEN)
        return exc.status, gettext(RULES.get(rule, fallback))
    if isinstance(exc, ValidationError):
        fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        return 422, gettext(INVALID) + " (" + ", ".join(fields) + ")"
    if isinstance(exc, RequestValidationError):
        fields = sorted({str(e.get("loc", ("", ""))[-1]) for e in exc.errors()})
        return 422, gettext(INVALID) + " (" + ", ".join(fields) + ")"
    if isinstance(exc, NotFound):
        return 404, gettext(NOT_FOUND)
    if isinstance(exc, Forbidden | SelfApprovalError):
        rule = getattr(exc, "rule", "")
        return 403, gettext(RULES.get(rule, FORBIDDEN))
    if isinstance(exc, InvalidValueError):
        return 422, gettext(RULES.get(exc.rule, INVALID))
    if isinstance(exc, DomainError):
        return 409, gettext(RULES.get(exc.rule, RULE_BROKEN))
    if isinstance(exc, ConcurrencyConflict):
        return 409, gettext(CONFLICT)
    if isinstance(exc, AlreadyExists | AggregateMismatchError):
        return 409, gettext(RULE_BROKEN)
    return 503, gettext(UNAVAILABLE)
