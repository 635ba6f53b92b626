"""The theme catalogue: what the help is about.

Built-ins are the activity letters of art. 5 comma 1 D.Lgs. 117/2017 (Codice del Terzo
Settore) and generic programme areas from Crema's co-progettazione; each territory may
add its own codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ledger.domain.errors import InvalidThemeCodeError

ThemeSource = Literal["cts", "area", "territory"]


@dataclass(frozen=True)
class Theme:
    code: str
    label: str
    source: ThemeSource


_CTS_ART5_LABELS: dict[str, str] = {
    "a": "interventi e servizi sociali",
    "b": "interventi e prestazioni sanitarie",
    "c": "prestazioni socio-sanitarie",
    "d": "educazione, istruzione e formazione professionale",
    "e": "ambiente",
    "f": "patrimonio culturale e paesaggio",
    "g": "formazione universitaria e post-universitaria",
    "h": "ricerca scientifica di particolare interesse sociale",
    "i": "attività culturali, artistiche o ricreative",
    "j": "radiodiffusione sonora a carattere comunitario",
    "k": "organizzazione e gestione di attività turistiche di interesse sociale",
    "l": "formazione extra-scolastica",
    "m": "servizi strumentali ad enti del Terzo settore",
    "n": "cooperazione allo sviluppo",
    "o": "commercio equo e solidale",
    "p": "servizi finalizzati all'inserimento o al reinserimento nel mercato del lavoro",
    "q": "alloggio sociale",
    "r": "accoglienza umanitaria ed integrazione sociale dei migranti",
    "s": "agricoltura sociale",
    "t": "organizzazione e gestione di attività sportive dilettantistiche",
    "u": "beneficenza, sostegno a distanza, cessione gratuita di alimenti o prodotti",
    "v": "promozione della cultura della legalità, della pace tra i popoli, della nonviolenza",
    "w": "promozione e tutela dei diritti umani, civili, sociali e politici",
    "x": "cura di procedure di adozione internazionale",
    "y": "protezione civile",
    "z": "riqualificazione di beni pubblici inutilizzati o confiscati",
}

_AREA_LABELS: dict[str, str] = {
    "families_minors": "famiglie e minori",
    "poverty_frailty": "povertà e fragilità",
    "young_people": "giovani",
    "work": "lavoro",
    "housing": "casa e abitare",
}

BUILT_IN_THEMES: dict[str, Theme] = {
    **{f"cts.{letter}": Theme(f"cts.{letter}", label, "cts") for letter, label in _CTS_ART5_LABELS.items()},
    **{f"area.{key}": Theme(f"area.{key}", label, "area") for key, label in _AREA_LABELS.items()},
}

TERRITORY_THEME_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")


def check_territory_theme_code(code: str) -> None:
    # "cts." is reserved so that a territory can never shadow or extend the law's list.
    if not TERRITORY_THEME_CODE.fullmatch(code) or code.startswith("cts."):
        raise InvalidThemeCodeError(f"invalid theme code {code!r}")
