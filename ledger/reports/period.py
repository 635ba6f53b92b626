"""What every report is asked for: a territory's period (inclusive days, Europe/Rome), an
optional programme, and whether to explain figures with the fulfilments behind them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    programme: str | None = None
    explain: bool = False

    def params(self) -> dict[str, Any]:
        return {"from": self.start, "to": self.end, "programme": self.programme}

    # SQL fragments over `deliveries d`: counted = in the period, not reversed, in the programme.
    COUNTED = ("d.fulfilled_on BETWEEN %(from)s AND %(to)s AND NOT d.reversed"
               " AND (%(programme)s::text IS NULL OR d.programme = %(programme)s)")


def ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def days(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)
