"""The common base of every aggregate of the ledger."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate


class LedgerAggregate(Aggregate):
    """Every aggregate belongs to one territory, and so does every one of its events.

    The relay keys Kafka records by ``territory`` and auditors need ``operator_id`` on
    every fact, so both are fields of the base event rather than of each event.
    """

    class Event(Aggregate.Event):
        territory: str
        operator_id: str | None

    class Created(Event, Aggregate.Created):
        pass

    def __init__(self, territory: str) -> None:
        self.territory = territory

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        kwargs.setdefault("territory", self.territory)
        kwargs.setdefault("operator_id", None)
        super().trigger_event(event_class, **kwargs)
