"""What forms send, read as the ledger's values: quantities in the unit's smallest
denomination (a person types euros, the ledger counts cents), dates as ISO days."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from api.console.i18n import N_
from api.problems import TYPE_BASE, Problem

MAX_QUANTITY = 10**15

DONE = {
    "matched": N_("The match is recorded; if the Comune must approve it, it now waits in the "
                  "approval queue."),
    "approved": N_("Your approval is recorded."),
    "rejected": N_("The proposal is rejected: what it reserved is free again."),
    "delivered": N_("The delivery is recorded."),
    "feedback": N_("The feedback is recorded."),
    "signed-out": N_("You have signed out."),
}


def invalid(rule: str, field: str) -> Problem:
    return Problem(422, "Invalid value", f"{field} is not valid", TYPE_BASE + rule,
                   errors=[{"loc": ["form", field], "msg": "invalid"}])


def quantity(text: str, unit: str) -> int:
    """A positive quantity typed in a form: euros with up to two decimals (comma or point)
    for money, a whole number of the unit otherwise."""
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "")
    try:
        if unit == "eur_cent":
            if "," in cleaned:
                cleaned = cleaned.replace(".", "").replace(",", ".")
            value = Decimal(cleaned) * 100
            if value != value.to_integral_value():
                raise invalid("invalid-quantity", "quantity")
            result = int(value)
        else:
            result = int(cleaned)
    except (InvalidOperation, ValueError):
        raise invalid("invalid-quantity", "quantity") from None
    if not 0 < result <= MAX_QUANTITY:
        raise invalid("invalid-quantity", "quantity")
    return result
