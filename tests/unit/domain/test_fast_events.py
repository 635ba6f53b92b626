"""LedgerAggregate's own _create and trigger_event make exactly what eventsourcing's make."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import eventsourcing.domain
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, BaseAggregate

from ledger.domain import LedgerAggregate, Territory
from ledger.domain import base as fast

from . import scenario


def _generic_trigger_event(self: LedgerAggregate, event_class: type[Any], **kwargs: Any) -> None:
    """What LedgerAggregate.trigger_event was: eventsourcing's, with the two base fields."""
    kwargs.setdefault("territory", self.territory)
    kwargs.setdefault("operator_id", None)
    Aggregate.trigger_event(self, event_class, **kwargs)


def _generic_create(cls: type[LedgerAggregate], event_class: type[Any], **kwargs: Any) -> Any:
    return BaseAggregate._create.__func__(cls, event_class, **kwargs)  # type: ignore[attr-defined]


def _story(monkeypatch: pytest.MonkeyPatch) -> list[LedgerAggregate]:
    """The story with every event, with the same ids and timestamps each time it runs."""
    ids = (uuid.UUID(int=n) for n in itertools.count(1))
    clock: Iterator[datetime] = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=n)
                                 for n in itertools.count())
    monkeypatch.setattr(scenario, "uuid4", lambda: next(ids))
    monkeypatch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", lambda: next(clock))
    return scenario.every_event_story()


def _generic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way of triggering and creating (the aggregates call _trigger and _create_from,
    with the fields as one dict) made eventsourcing's way."""
    monkeypatch.setattr(LedgerAggregate, "trigger_event", _generic_trigger_event)
    monkeypatch.setattr(LedgerAggregate, "_trigger", lambda self, event_class, fields: (
        _generic_trigger_event(self, event_class, **fields)))
    monkeypatch.setattr(LedgerAggregate, "_create", classmethod(_generic_create))
    monkeypatch.setattr(LedgerAggregate, "_create_from", classmethod(
        lambda cls, event_class, id_, fields: _generic_create(cls, event_class, id=id_, **fields)))
    monkeypatch.setattr(LedgerAggregate, "collect_events", BaseAggregate.collect_events)


def _events(aggregates: list[LedgerAggregate]) -> list[Any]:
    return [e for a in aggregates for e in a.collect_events()]


def test_every_event_and_aggregate_is_made_as_eventsourcing_makes_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    scenario.every_event_story()  # the first creation of each class learns its topic
    calls: list[str] = []
    for name in ("_create", "trigger_event"):
        generic = getattr(BaseAggregate, name)
        monkeypatch.setattr(BaseAggregate, name, lambda *a, _g=generic, _n=name, **k: (
            calls.append(_n), _g(*a, **k))[1])
    with monkeypatch.context() as patch:
        fast_story = _story(patch)
    assert calls == [], "the story went through eventsourcing's generic code"
    monkeypatch.undo()
    with monkeypatch.context() as patch:
        _generic(patch)
        generic_story = _story(patch)
        # The aggregates hold the same state, attribute by attribute, in the same order.
        for made, expected in zip(fast_story, generic_story, strict=True):
            assert type(made) is type(expected)
            assert list(vars(made).items()) == list(vars(expected).items())
        generic_events = _events(generic_story)
    fast_events = _events(fast_story)
    assert len(fast_events) == len(generic_events) >= 25
    mapper = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
    for made, expected in zip(fast_events, generic_events, strict=True):
        assert type(made) is type(expected)
        assert list(vars(made).items()) == list(vars(expected).items())
        assert made == expected
        assert mapper.to_stored_event(made) == mapper.to_stored_event(expected)
    assert all(a.pending_events == [] for a in fast_story)


def test_a_wrong_argument_fails_as_eventsourcing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def attempts() -> list[str]:
        territory = Territory.register("018999", "X", operator_id="op")
        failures = []
        for kwargs in ({"code": "a.b", "label": "L", "bogus": 1}, {"code": "a.b"}):
            with pytest.raises(TypeError) as failed:
                territory.trigger_event(Territory.ThemeDefined, **kwargs)
            failures.append(str(failed.value))
        with pytest.raises(TypeError) as failed:
            Territory._create(Territory.Registered, id=uuid.uuid4(), territory="018999", bogus=1)
        failures.append(str(failed.value))
        assert territory.version == 1 and len(territory.pending_events) == 1
        return failures

    Territory.register("018998", "Y")  # learnt
    made = attempts()
    with monkeypatch.context() as patch:
        _generic(patch)
        assert made == attempts()


def test_collect_events_empties_the_same_list() -> None:
    territory = Territory.register("018997", "Z")
    territory.define_theme("z.a", "A")
    pending = territory.pending_events
    collected = territory.collect_events()
    assert [type(e).__name__ for e in collected] == ["Registered", "ThemeDefined"]
    assert pending == [] and territory.pending_events is pending
    assert territory.collect_events() == []


def test_an_event_class_with_its_own_init_is_made_by_it() -> None:
    class Custom(LedgerAggregate):
        class Noted(LedgerAggregate.Event):
            note: str

            def __post_init__(self) -> None:
                super().__post_init__()
                object.__setattr__(self, "note", self.note.upper())

        def note(self, note: str) -> None:
            self.trigger_event(self.Noted, note=note)

    assert fast._event_shape(Custom.Noted) is None  # noqa: SLF001
    custom = Custom._create(Custom.Created, id=uuid.uuid4(), territory="018996", operator_id=None)
    custom.note("quiet")
    assert custom.collect_events()[-1].note == "QUIET"  # type: ignore[attr-defined]


class Shuffled(LedgerAggregate):
    """An __init__ whose parameters are in another order than the event's fields, one with a
    default the event lacks, and one keyword-only: bound by position only where the same."""

    class Opened(LedgerAggregate.Created):
        first: str
        second: int
        third: str | None

    def __init__(self, territory: str, second: int, first: str, extra: int = 7, *,
                 third: str | None = None) -> None:
        super().__init__(territory)
        self.order = [("second", second), ("first", first), ("extra", extra), ("third", third)]


@pytest.mark.parametrize("aggregate", [Shuffled, Territory])
def test_an_init_gets_each_value_under_its_own_name(aggregate: type[LedgerAggregate],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def create() -> LedgerAggregate:
        if aggregate is Territory:
            return Territory._create(Territory.Registered, id=uuid.UUID(int=1),
                                     territory="018995", operator_id="op", code="018995",
                                     name="N")
        return Shuffled._create(Shuffled.Opened, id=uuid.UUID(int=2), territory="018995",
                                operator_id=None, first="f", second=2, third="t")

    create()  # learnt
    creation = fast._CREATIONS[(aggregate, Territory.Registered if aggregate is Territory  # noqa: SLF001
                                else Shuffled.Opened)]
    assert creation is not None and creation.leading is not None
    made = create()
    with monkeypatch.context() as patch:
        _generic(patch)
        expected = create()
    assert list(vars(made))[5:] == list(vars(expected))[5:]  # after the base's own
    for name in list(vars(expected))[5:]:
        assert getattr(made, name) == getattr(expected, name), name
    if aggregate is Shuffled:
        assert made.order == [("second", 2), ("first", "f"), ("extra", 7), ("third", "t")]  # type: ignore[attr-defined]
        assert creation.by_name == ("third",)  # territory, second and first by position
