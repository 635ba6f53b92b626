"""The loader's private copies share nothing mutable with the copies it keeps."""

from __future__ import annotations

from ledger.domain.territory import Territory
from ledger.loader import private_copy


def test_a_copy_has_the_same_state_and_its_own_containers() -> None:
    kept = Territory.register("999001", "Comune di Prova")
    kept.collect_events()
    copy = private_copy(kept)
    assert type(copy) is Territory and copy is not kept
    assert vars(copy) == vars(kept)
    for name, value in vars(kept).items():
        if isinstance(value, (list, dict, set)):
            assert getattr(copy, name) is not value, name
    copy.own_themes["cts.x"] = "changed"
    copy.approval_required_for.append("ets")
    copy.name = "Altro"
    assert "cts.x" not in kept.own_themes
    assert kept.approval_required_for == []
    assert kept.name == "Comune di Prova"
    # A copy's events move the copy only.
    copy.define_theme("orti", "Orti")
    assert copy.version == kept.version + 1
    assert "orti" in copy.own_themes and "orti" not in kept.own_themes


def test_what_is_not_flat_is_deep_copied() -> None:
    kept = Territory.register("999001", "Comune di Prova")
    kept.collect_events()
    kept.programmes = {"p1": ["nested", "list"]}  # type: ignore[dict-item]
    copy = private_copy(kept)
    assert copy.programmes == kept.programmes
    copy.programmes["p1"].append("more")
    assert kept.programmes["p1"] == ["nested", "list"]
