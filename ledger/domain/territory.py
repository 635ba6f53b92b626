"""The tenant: one Comune or ambito territoriale, with its theme catalogue."""

from __future__ import annotations

import re
from functools import lru_cache
from uuid import UUID, uuid5

from ledger.domain.base import LedgerAggregate
from ledger.domain.checks import check_iso_date
from ledger.domain.errors import (
    InvalidApprovalPolicyError,
    InvalidProgrammeError,
    InvalidTerritoryCodeError,
    ProgrammeAlreadyDefinedError,
    ThemeAlreadyDefinedError,
    UnknownProgrammeError,
    UnknownThemeError,
)
from ledger.domain.themes import BUILT_IN_THEMES, Theme, check_territory_theme_code

# Fixed forever: territory ids derive from it, so registering a code twice conflicts.
TERRITORY_NAMESPACE = UUID("6f1c3a52-8d0e-4b7a-9a43-2f5e1c7d9b10")

ISTAT_CODE = re.compile(r"^[0-9]{6}$")
MAX_APPROVERS = 5
PROGRAMME_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")


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

    class ApprovalPolicySet(Event):
        """Regia comunale: matches made by the listed roles wait for ``approvers`` approvals."""

        required_for: list[str]
        approvers: int

        def apply(self, aggregate: Territory) -> None:
            aggregate.approval_required_for = list(self.required_for)
            aggregate.approvers = self.approvers

    class ProgrammeDefined(Event):
        """A co-programming / co-design programme (art. 55 CTS) with its partner ETS."""

        code: str
        name: str
        starts_on: str | None
        ends_on: str | None
        partners: list[str]

        def apply(self, aggregate: Territory) -> None:
            aggregate.programmes[self.code] = self.name

    def __init__(self, territory: str, code: str, name: str) -> None:
        super().__init__(territory)
        self.code = code
        self.name = name
        self.own_themes: dict[str, str] = {}
        self.programmes: dict[str, str] = {}
        self.approval_required_for: list[str] = []
        self.approvers = 0

    @staticmethod
    @lru_cache(maxsize=4096)  # asked for by nearly every command; a uuid5 is a SHA-1
    def id_for(code: str) -> UUID:
        return uuid5(TERRITORY_NAMESPACE, code)

    @classmethod
    def register(cls, code: str, name: str, operator_id: str | None = None) -> Territory:
        if not isinstance(code, str) or not ISTAT_CODE.fullmatch(code):
            raise InvalidTerritoryCodeError(f"territory code must be a 6-digit ISTAT code, got {code!r}")
        return cls._create_from(cls.Registered, cls.id_for(code), {
            "territory": code,
            "operator_id": operator_id,
            "code": code,
            "name": name,
        })

    def define_theme(self, code: str, label: str, operator_id: str | None = None) -> None:
        check_territory_theme_code(code)
        if self.knows_theme(code):
            raise ThemeAlreadyDefinedError(f"theme {code!r} is already defined")
        self._trigger(self.ThemeDefined, {"code": code, "label": label, "operator_id": operator_id})

    def set_approval_policy(self, required_for: list[str], approvers: int,
                            operator_id: str | None = None) -> None:
        roles = sorted(set(required_for))
        if any(not isinstance(r, str) or not r for r in roles):
            raise InvalidApprovalPolicyError("required_for lists role names")
        if isinstance(approvers, bool) or not isinstance(approvers, int) or not 0 <= approvers <= MAX_APPROVERS:
            raise InvalidApprovalPolicyError(
                f"approvers must be an integer from 0 to {MAX_APPROVERS}, got {approvers!r}"
            )
        if roles and approvers == 0:
            raise InvalidApprovalPolicyError("a policy that requires approval needs at least one approver")
        self._trigger(self.ApprovalPolicySet, {
            "required_for": roles,
            "approvers": approvers if roles else 0,
            "operator_id": operator_id,
        })

    def define_programme(self, code: str, name: str, starts_on: str | None, ends_on: str | None,
                         partners: list[UUID], operator_id: str | None = None) -> None:
        if not PROGRAMME_CODE.fullmatch(code):
            raise InvalidProgrammeError(f"programme code must match {PROGRAMME_CODE.pattern}, got {code!r}")
        if code in self.programmes:
            raise ProgrammeAlreadyDefinedError(f"programme {code!r} is already defined in {self.code}")
        start, end = check_iso_date(starts_on, "starts_on"), check_iso_date(ends_on, "ends_on")
        if start and end and end < start:
            raise InvalidProgrammeError(f"programme {code!r} ends ({end}) before it starts ({start})")
        self._trigger(self.ProgrammeDefined, {
            "code": code,
            "name": name,
            "starts_on": start,
            "ends_on": end,
            "partners": [str(p) for p in partners],
            "operator_id": operator_id,
        })

    def check_programme(self, code: str | None) -> None:
        if code is not None and code not in self.programmes:
            known = ", ".join(sorted(self.programmes)) or "none defined"
            raise UnknownProgrammeError(f"programme {code!r} is not defined in {self.code} (defined: {known})")

    def approvals_required(self, role: str) -> int:
        """How many distinct approvals a match made by ``role`` needs before it can be fulfilled."""
        return self.approvers if role in self.approval_required_for else 0

    def themes(self) -> list[Theme]:
        own = [Theme(code, label, "territory") for code, label in self.own_themes.items()]
        return [*BUILT_IN_THEMES.values(), *own]

    def theme_codes(self) -> list[str]:
        return [theme.code for theme in self.themes()]

    def knows_theme(self, code: str) -> bool:
        return code in BUILT_IN_THEMES or code in self.own_themes

    def check_theme(self, code: str) -> None:
        if not self.knows_theme(code):
            raise UnknownThemeError(
                f"theme {code!r} is not in the catalogue of territory {self.code} "
                f"(allowed: {', '.join(self.theme_codes())})"
            )
