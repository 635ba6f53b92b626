from __future__ import annotations

import pytest

from ledger.domain import (
    InvalidTerritoryCodeError,
    InvalidThemeCodeError,
    Territory,
    ThemeAlreadyDefinedError,
    UnknownThemeError,
)


def test_register_names_the_territory_by_its_code() -> None:
    territory = Territory.register("018182", "Voghera", operator_id="op-1")
    assert territory.id == Territory.id_for("018182")
    assert (territory.territory, territory.code, territory.name) == ("018182", "018182", "Voghera")
    event = territory.pending_events[0]
    assert isinstance(event, Territory.Registered)
    assert (event.code, event.name, event.territory, event.operator_id) == ("018182", "Voghera", "018182", "op-1")


def test_id_is_deterministic_so_a_second_registration_conflicts() -> None:
    assert Territory.id_for("019035") == Territory.register("019035", "Crema").id
    assert Territory.id_for("019035") != Territory.id_for("018182")


@pytest.mark.parametrize("code", ["18182", "0181820", "01818a", "", "ABCDEF"])
def test_code_must_be_six_digits(code: str) -> None:
    with pytest.raises(InvalidTerritoryCodeError):
        Territory.register(code, "X")


def test_built_in_and_own_themes_are_known() -> None:
    territory = Territory.register("018182", "Voghera")
    territory.define_theme("voghera.orti", "Orti sociali", operator_id="op-2")
    event = territory.pending_events[-1]
    assert isinstance(event, Territory.ThemeDefined)
    assert (event.code, event.label, event.territory, event.operator_id) == (
        "voghera.orti",
        "Orti sociali",
        "018182",
        "op-2",
    )
    assert territory.knows_theme("cts.a") and territory.knows_theme("area.work")
    assert territory.knows_theme("voghera.orti")
    assert territory.theme_codes()[-1] == "voghera.orti"
    assert len(territory.theme_codes()) == 26 + 5 + 1
    assert territory.themes()[-1].source == "territory"
    territory.check_theme("voghera.orti")


def test_unknown_theme_is_refused() -> None:
    territory = Territory.register("018182", "Voghera")
    with pytest.raises(UnknownThemeError):
        territory.check_theme("voghera.orti")


def test_theme_cannot_be_defined_twice_nor_shadow_a_built_in() -> None:
    territory = Territory.register("018182", "Voghera")
    territory.define_theme("voghera.orti", "Orti")
    with pytest.raises(ThemeAlreadyDefinedError):
        territory.define_theme("voghera.orti", "Orti again")
    with pytest.raises(ThemeAlreadyDefinedError):
        territory.define_theme("area.work", "Lavoro")
    with pytest.raises(InvalidThemeCodeError):
        territory.define_theme("cts.a", "interventi")
    assert territory.version == 2
