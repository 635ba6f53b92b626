"""The tenant: one Comune or ambito territoriale, with its theme catalogue."""

from __future__ import annotations

import re
from uuid import UUID, uuid5

from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import InvalidTerritoryCodeError, ThemeAlreadyDefinedError, UnknownThemeError
from ledger.domain.themes import BUILT_IN_THEMES, Theme, check_territory_theme_code

# Fixed forever: territory ids derive from it, so registering a code twice conflicts.
TERRITORY_NAMESPACE = UUID("6f1c3a52-8d0e-4b7a-9a43-2f5e1c7d9b10")

ISTAT_CODE = re.compile(r"^[0-9]{6}$")


class Territory(LedgerAggregate):
    class Event(LedgerAggregate.Event):
        pass

    class Registered(Event, LedgerAggregate.Created):
        code: str
        name: str

    class ThemeDefined(Event):
        code: str
        label: str

        def apply(self, aggregate: Territory) -> None:
            aggregate.own_themes[self.code] = self.label

    def __init__(self, territory: str, code: str, name: str) -> None:
        super().__init__(territory)
        self.code = code
        self.name = name
        self.own_themes: dict[str, str] = {}

    @staticmethod
    def id_for(code: str) -> UUID:
        return uuid5(TERRITORY_NAMESPACE, code)

    @classmethod
    def register(cls, code: str, name: str, operator_id: str | None = None) -> Territory:
        if not isinstance(code, str) or not ISTAT_CODE.fullmatch(code):
            raise InvalidTerritoryCodeError(f"territory code must be a 6-digit ISTAT code, got {code!r}")
        return cls._create(
            cls.Registered, id=cls.id_for(code), territory=code, operator_id=operator_id, code=code, name=name
        )

    def define_theme(self, code: str, label: str, operator_id: str | None = None) -> None:
        check_territory_theme_code(code)
        if self.knows_theme(code):
            raise ThemeAlreadyDefinedError(f"theme {code!r} is already defined")
        self.trigger_event(self.ThemeDefined, code=code, label=label, operator_id=operator_id)

    def themes(self) -> list[Theme]:
        own = [Theme(code, label, "territory") for code, label in self.own_themes.items()]
        return [*BUILT_IN_THEMES.values(), *own]

    def theme_codes(self) -> list[str]:
        return [theme.code for theme in self.themes()]

    def knows_theme(self, code: str) -> bool:
        return code in BUILT_IN_THEMES or code in self.own_themes

    def check_theme(self, code: str) -> None:
        if not self.knows_theme(code):
            raise UnknownThemeError(f"theme {code!r} is not in the catalogue of territory {self.code}")
