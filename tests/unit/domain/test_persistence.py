from __future__ import annotations

from typing import Any

from eventsourcing.application import Application

from .scenario import every_event_story


def comparable(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_every_aggregate_transcodes_and_replays_to_the_same_state() -> None:
    app: Application = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    aggregates = every_event_story()
    app.save(*aggregates)
    kinds = set()
    for aggregate in aggregates:
        reloaded = app.repository.get(aggregate.id)
        assert type(reloaded) is type(aggregate)
        assert comparable(reloaded) == comparable(aggregate)
        kinds.add(type(aggregate).__name__)
    assert kinds == {"Territory", "Actor", "Contribution", "Request", "Match", "Fulfilment"}


def test_recorded_events_reload_as_equal_objects() -> None:
    app: Application = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    aggregates = every_event_story()
    originals = {a.id: list(a.pending_events) for a in aggregates}
    app.save(*aggregates)
    for aggregate_id, events in originals.items():
        assert list(app.events.get(aggregate_id)) == events
