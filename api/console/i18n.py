"""The console's languages: Italian by default, English on request.

Messages are in Babel catalogues, `api/console/locale/<lang>/LC_MESSAGES/console.po` (msgids in
English), compiled in memory the first time a language is used: the repository keeps no
binary `.mo`. Dates, numbers, money and quantities are formatted by Babel for the language's
locale. The language of a request is, in order: `?lang=`, the language cookie (which `?lang=`
sets), the browser's `Accept-Language`, Italian.
"""

from __future__ import annotations

import gettext
import io
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent

LANGUAGES = ("it", "en")
DEFAULT = "it"
LOCALES = {"it": "it_IT", "en": "en_GB"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "console"
ZONE = ZoneInfo("Europe/Rome")


def N_(message: str) -> str:  # noqa: N802 - the marker Babel extracts
    """Marks a message for extraction; it is translated where it is shown."""
    return message


@cache
def translations(lang: str) -> gettext.GNUTranslations:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _preferred(accept_language: str) -> list[str]:
    """Language tags of an Accept-Language header, most wanted first."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, index, tag.strip().lower()))
    return [tag for _, _, tag in sorted(weighted)]


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    for asked in (query, cookie):
        if asked in LANGUAGES:
            return str(asked)
    for tag in _preferred(accept_language or ""):
        if tag.split("-")[0] in LANGUAGES:
            return tag.split("-")[0]
    return DEFAULT


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(ZONE).date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


class Formats:
    """Numbers, money, dates and quantities as people of one language write them."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.locale = LOCALES[lang]
        self.gettext = translations(lang).gettext
        self.ngettext = translations(lang).ngettext

    def date(self, value: Any) -> str:
        day = _as_date(value)
        return "" if day is None else format_date(day, "medium", locale=self.locale)

    def datetime(self, value: Any) -> str:
        if value is None:
            return ""
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return format_datetime(moment, "medium", tzinfo=ZONE, locale=self.locale)

    def number(self, value: int | float | Decimal | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)

    def percent(self, value: float | None) -> str:
        return "" if value is None else format_percent(value, "#,##0.#%", locale=self.locale)

    def money(self, eur_cent: int | None) -> str:
        if eur_cent is None:
            return self.gettext("not valued")
        return format_currency(Decimal(eur_cent) / 100, "EUR", locale=self.locale)

    def quantity(self, value: int | None, unit: str) -> str:
        """A quantity in its unit's smallest denomination, as a person reads it."""
        if value is None:
            return ""
        if unit == "eur_cent":
            return self.money(value)
        if unit == "minute":
            hours, minutes = divmod(value, 60)
            if not hours:
                return f"{minutes} min"
            return f"{self.number(hours)} h" + (f" {minutes} min" if minutes else "")
        if unit == "gram":
            if value >= 1000:
                return f"{format_decimal(Decimal(value) / 1000, '#,##0.###', locale=self.locale)} kg"
            return f"{self.number(value)} g"
        return self.ngettext("%(num)s item", "%(num)s items", value) % {"num": self.number(value)}

    def unit_name(self, unit: str) -> str:
        """The unit a form field takes (money in euros)."""
        names = {"eur_cent": "€", "minute": self.gettext("minutes"), "gram": self.gettext("grams"),
                 "item": self.gettext("items")}
        return names.get(unit, unit)

    def input_value(self, value: int, unit: str) -> str:
        """A quantity as a form field shows it: euros for money, else the unit itself."""
        if unit == "eur_cent":
            euros = f"{Decimal(value) / 100:.2f}"
            return euros.replace(".", ",") if self.lang == "it" else euros
        return str(value)
