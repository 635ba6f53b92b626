from __future__ import annotations

import pytest

from ledger.domain import (
    BUILT_IN_THEMES,
    PERSONAL_KINDS,
    UNITS_BY_KIND,
    ActorKind,
    InvalidThemeCodeError,
    ResourceKind,
    Unit,
    UnitNotAllowedForKindError,
    UnknownResourceKindError,
    check_resource,
    check_territory_theme_code,
)


def test_time_never_shares_a_unit_with_money() -> None:
    assert UNITS_BY_KIND[ResourceKind.TIME] == {Unit.MINUTE}
    assert UNITS_BY_KIND[ResourceKind.MONEY] == {Unit.EUR_CENT}
    assert UNITS_BY_KIND[ResourceKind.GOODS] == {Unit.GRAM, Unit.ITEM}
    assert set(UNITS_BY_KIND) == set(ResourceKind)


def test_personal_kinds_are_people() -> None:
    assert {ActorKind.CITIZEN, ActorKind.HOUSEHOLD} == PERSONAL_KINDS


def test_check_resource_returns_plain_strings() -> None:
    kind, unit = check_resource(ResourceKind.GOODS, Unit.ITEM)
    assert (kind, unit) == ("goods", "item")
    assert type(kind) is str and type(unit) is str


@pytest.mark.parametrize(("kind", "unit"), [("time", "eur_cent"), ("money", "minute"), ("goods", "kg")])
def test_check_resource_rejects_units_of_another_kind(kind: str, unit: str) -> None:
    with pytest.raises(UnitNotAllowedForKindError):
        check_resource(kind, unit)


def test_check_resource_rejects_unknown_kind() -> None:
    with pytest.raises(UnknownResourceKindError):
        check_resource("blood", "item")


def test_cts_catalogue_has_letters_a_to_z() -> None:
    cts = [code for code, theme in BUILT_IN_THEMES.items() if theme.source == "cts"]
    assert cts == [f"cts.{chr(c)}" for c in range(ord("a"), ord("z") + 1)]
    assert BUILT_IN_THEMES["cts.a"].label == "interventi e servizi sociali"
    assert BUILT_IN_THEMES["cts.q"].label == "alloggio sociale"
    assert BUILT_IN_THEMES["cts.y"].label == "protezione civile"


def test_programme_areas_are_built_in() -> None:
    areas = {code for code, theme in BUILT_IN_THEMES.items() if theme.source == "area"}
    assert areas == {
        "area.families_minors",
        "area.poverty_frailty",
        "area.young_people",
        "area.work",
        "area.housing",
    }


@pytest.mark.parametrize("code", ["voghera.orti", "x1", "a-b_c.d", "0" * 64])
def test_territory_theme_codes_accepted(code: str) -> None:
    check_territory_theme_code(code)


@pytest.mark.parametrize("code", ["cts.zz", "x", "Upper", "-lead", "has space", "0" * 65, "é.x"])
def test_territory_theme_codes_rejected(code: str) -> None:
    with pytest.raises(InvalidThemeCodeError):
        check_territory_theme_code(code)
