from __future__ import annotations

from uuid import uuid4

import pytest

from ledger.domain import Actor, ActorErasedError, InvalidActorError

T = "018182"


def test_citizen_arrives_sealed() -> None:
    employer = uuid4()
    actor = Actor.register(
        uuid4(), T, "citizen", display_name_sealed="c1", personal_sealed="c2", employer_id=employer, operator_id="op"
    )
    event = actor.pending_events[0]
    assert isinstance(event, Actor.Registered)
    assert (event.kind, event.display_name, event.display_name_sealed, event.personal_sealed) == (
        "citizen",
        None,
        "c1",
        "c2",
    )
    assert (event.employer_id, event.territory, event.operator_id) == (employer, T, "op")
    assert not actor.erased


@pytest.mark.parametrize("kind", ["citizen", "household"])
def test_personal_kinds_refuse_a_clear_name(kind: str) -> None:
    with pytest.raises(InvalidActorError):
        Actor.register(uuid4(), T, kind, display_name="Mario Rossi", display_name_sealed="c")
    with pytest.raises(InvalidActorError):
        Actor.register(uuid4(), T, kind)


@pytest.mark.parametrize("kind", ["company", "ets", "municipality", "institution"])
def test_organisations_need_a_clear_name(kind: str) -> None:
    actor = Actor.register(uuid4(), T, kind, display_name="Acme S.p.A.", personal_sealed="contact")
    assert actor.display_name == "Acme S.p.A." and actor.personal_sealed == "contact"
    with pytest.raises(InvalidActorError):
        Actor.register(uuid4(), T, kind)
    with pytest.raises(InvalidActorError):
        Actor.register(uuid4(), T, kind, display_name="  ")
    with pytest.raises(InvalidActorError):
        Actor.register(uuid4(), T, kind, display_name="Acme", display_name_sealed="c")


def test_only_an_ets_has_a_runts_id() -> None:
    assert Actor.register(uuid4(), T, "ets", display_name="Auser", runts_id="12345").runts_id == "12345"
    with pytest.raises(InvalidActorError):
        Actor.register(uuid4(), T, "company", display_name="Acme", runts_id="12345")


def test_only_a_citizen_has_an_employer() -> None:
    with pytest.raises(InvalidActorError):
        Actor.register(uuid4(), T, "company", display_name="Acme", employer_id=uuid4())


def test_unknown_kind_is_invalid() -> None:
    with pytest.raises(InvalidActorError):
        Actor.register(uuid4(), T, "robot", display_name="R2")


def test_employer_must_be_a_company() -> None:
    Actor.register(uuid4(), T, "company", display_name="Acme").check_can_employ()
    with pytest.raises(InvalidActorError):
        Actor.register(uuid4(), T, "ets", display_name="Auser").check_can_employ()


def test_erase_once() -> None:
    actor = Actor.register(uuid4(), T, "household", display_name_sealed="c")
    actor.check_not_erased()
    actor.erase(operator_id="dpo")
    event = actor.pending_events[-1]
    assert isinstance(event, Actor.Erased)
    assert (event.territory, event.operator_id) == (T, "dpo")
    assert actor.erased
    with pytest.raises(ActorErasedError):
        actor.erase()
    with pytest.raises(ActorErasedError):
        actor.check_not_erased()
