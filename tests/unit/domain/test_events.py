from __future__ import annotations

import ast
import dataclasses
import sys
from pathlib import Path

from eventsourcing.utils import get_topic

from ledger.domain import AGGREGATES, LedgerAggregate

from .scenario import every_event_story

# Stored topics are the schema: renaming one orphans every stored event of that type.
STABLE_TOPICS = {
    "ledger.domain.territory:Territory.Registered",
    "ledger.domain.territory:Territory.ThemeDefined",
    "ledger.domain.actor:Actor.Registered",
    "ledger.domain.actor:Actor.Erased",
    "ledger.domain.contribution:Contribution.Pledged",
    "ledger.domain.contribution:Contribution.Allocated",
    "ledger.domain.contribution:Contribution.Released",
    "ledger.domain.contribution:Contribution.Delivered",
    "ledger.domain.contribution:Contribution.DeliveryReversed",
    "ledger.domain.contribution:Contribution.Withdrawn",
    "ledger.domain.contribution:Contribution.Expired",
    "ledger.domain.request:Request.Posted",
    "ledger.domain.request:Request.Reserved",
    "ledger.domain.request:Request.Released",
    "ledger.domain.request:Request.Received",
    "ledger.domain.request:Request.ReceiptReversed",
    "ledger.domain.request:Request.Withdrawn",
    "ledger.domain.request:Request.Expired",
    "ledger.domain.match:Match.Reserved",
    "ledger.domain.match:Match.Fulfilled",
    "ledger.domain.match:Match.FulfilmentReversed",
    "ledger.domain.match:Match.Cancelled",
    "ledger.domain.match:Match.Proposed",
    "ledger.domain.match:Match.Approved",
    "ledger.domain.match:Match.Rejected",
    "ledger.domain.territory:Territory.ApprovalPolicySet",
    "ledger.domain.territory:Territory.ProgrammeDefined",
    "ledger.domain.actor:Actor.ManagementCostRecorded",
    "ledger.domain.fulfilment:Fulfilment.FeedbackRecorded",
    "ledger.domain.fulfilment:Fulfilment.Recorded",
    "ledger.domain.fulfilment:Fulfilment.Reversed",
}

ABSTRACT = {"Event", "Created", "QuantitiesChanged"}


def concrete_event_classes() -> list[type[LedgerAggregate.Event]]:
    return [
        value
        for aggregate in AGGREGATES
        for name, value in vars(aggregate).items()
        if isinstance(value, type)
        and issubclass(value, LedgerAggregate.Event)
        and name not in ABSTRACT
    ]


def test_event_topics_are_the_stable_ones() -> None:
    assert {get_topic(cls) for cls in concrete_event_classes()} == STABLE_TOPICS


def test_every_event_class_declares_territory_and_operator() -> None:
    for cls in concrete_event_classes():
        names = {field.name for field in dataclasses.fields(cls)}
        assert {"territory", "operator_id"} <= names, cls


def test_every_event_object_carries_territory_and_operator() -> None:
    seen: set[str] = set()
    for aggregate in every_event_story():
        for event in aggregate.collect_events():
            assert event.territory == "018182", event  # type: ignore[attr-defined]
            assert hasattr(event, "operator_id"), event
            seen.add(get_topic(type(event)))
    assert seen == STABLE_TOPICS


def test_events_after_creation_carry_the_resulting_state() -> None:
    for aggregate in every_event_story():
        for event in aggregate.collect_events()[1:]:
            fields = vars(event)
            if type(aggregate).__name__ == "Contribution":
                assert {"reserved", "delivered", "taken_back", "status"} <= fields.keys()
            if type(aggregate).__name__ == "Request":
                assert {"reserved", "received", "taken_back", "status"} <= fields.keys()
            if type(aggregate).__name__ == "Match":
                assert {"fulfilled", "status"} <= fields.keys()


def test_enum_values_are_stored_as_plain_strings() -> None:
    for aggregate in every_event_story():
        for event in aggregate.collect_events():
            for value in vars(event).values():
                assert not isinstance(value, str) or type(value) is str, event


def test_domain_imports_only_stdlib_and_eventsourcing_domain() -> None:
    domain_dir = Path(__file__).resolve().parents[3] / "ledger" / "domain"
    allowed = set(sys.stdlib_module_names) | {"eventsourcing.domain", "ledger.domain"}
    for path in domain_dir.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                assert (
                    module in allowed
                    or module.split(".")[0] in sys.stdlib_module_names
                    or module.startswith("ledger.domain.")
                ), f"{path.name} imports {module}"
