"""The common base of every aggregate of the ledger."""

from __future__ import annotations

import dataclasses
import inspect
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self
from uuid import UUID

import eventsourcing.domain
from eventsourcing.domain import (
    Aggregate,
    BaseAggregate,
    CanCreateTimestamp,
    CanInitAggregate,
    CanMutateAggregate,
    DomainEvent,
)

_MISSING: Any = object()
# Set by _create and trigger_event themselves (a timestamp only unless given).
_FIXED = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
_new = object.__new__
_set = object.__setattr__


@dataclasses.dataclass(frozen=True)
class _EventShape:
    """How to make an event of one class as its dataclass __init__ would: every field, in
    field order, its default where not given (a template to copy, then update)."""

    template: dict[str, Any]
    required: frozenset[str]
    # Its create_timestamp is not eventsourcing's (else datetime_now_with_tzinfo() is called
    # directly, as that one does).
    own_clock: bool


def _event_shape(event_class: type[Any]) -> _EventShape | None:
    """None where the class's own __init__ could do more than set its fields (a field that is
    not an argument or has a default factory, an __init__ or __post_init__ of its own)."""
    names = {f.name for f in dataclasses.fields(event_class)} \
        if dataclasses.is_dataclass(event_class) else set()
    if not names >= _FIXED - {"originator_topic"} or \
            event_class.__post_init__ is not DomainEvent.__post_init__ or \
            event_class.__init__.__qualname__ != f"{event_class.__qualname__}.__init__" or \
            getattr(event_class, "TOPIC", None):
        return None
    template: dict[str, Any] = {}
    required = set()
    for f in dataclasses.fields(event_class):
        if not f.init or f.default_factory is not dataclasses.MISSING:
            return None
        if f.name in _FIXED:
            template[f.name] = None
        elif f.default is dataclasses.MISSING:
            required.add(f.name)
            template[f.name] = _MISSING
        else:
            template[f.name] = f.default
    return _EventShape(template, frozenset(required),
                       event_class.create_timestamp is not CanCreateTimestamp.create_timestamp)


_EVENT_SHAPES: dict[type[Any], _EventShape | None] = {}


def _shape_of(event_class: type[Any]) -> _EventShape | None:
    """`_event_shape`, worked out once per class."""
    try:
        return _EVENT_SHAPES[event_class]
    except KeyError:
        shape = _EVENT_SHAPES[event_class] = _event_shape(event_class)
        return shape


def _make_event(event_class: type[Any], kwargs: dict[str, Any], originator_id: UUID,
                originator_version: int, topic: str | None = None) -> Any:
    """The event `event_class(**kwargs, originator_id=…, originator_version=…, timestamp=…)`
    makes as eventsourcing calls it (same class, same attributes in the same order; a
    timestamp made now unless given; with `topic`, the originator_topic of a creation), or
    None where only its own __init__ may make it (then also for a missing or unknown
    argument, so that the error is the dataclass's)."""
    shape = _shape_of(event_class)
    if shape is None:
        return None
    values = shape.template.copy()
    values.update(kwargs)  # keeps the fields' order; an unknown name is added at the end
    if len(values) != len(shape.template) or not kwargs.keys() >= shape.required:
        return None
    values["originator_id"] = originator_id
    values["originator_version"] = originator_version
    if values["timestamp"] is None:
        values["timestamp"] = event_class.create_timestamp() if shape.own_clock \
            else eventsourcing.domain.datetime_now_with_tzinfo()
    if topic is not None:
        values["originator_topic"] = topic
    event = _new(event_class)
    _set(event, "__dict__", values)
    return event


@dataclasses.dataclass(frozen=True)
class _Creation:
    """What CanInitAggregate.mutate does for one aggregate class, worked out once: the
    aggregate's topic (as its first creation stored it) and the event fields its __init__
    takes."""

    topic: str
    init_names: tuple[str, ...]
    takes_id: bool
    applies: bool  # the event's apply is not the base one, which does nothing
    # The same call with the leading parameters of its __init__ given by position (their
    # values read by one itemgetter) and only the others by name; None: all by name.
    leading: Callable[[dict[str, Any]], tuple[Any, ...]] | None
    by_name: tuple[str, ...]


_CREATIONS: dict[tuple[type[Any], type[Any]], _Creation | None] = {}
# Whether an aggregate class has an explicit TOPIC (then eventsourcing's own steps make its
# events), asked once per class: getattr(cls, "TOPIC", None) costs an AttributeError.
_TOPICS: dict[type[Any], bool] = {}


class LedgerAggregate(Aggregate):
    """Every aggregate belongs to one territory, and so does every one of its events.

    The relay keys Kafka records by ``territory`` and auditors need ``operator_id`` on
    every fact, so both are fields of the base event rather than of each event.

    `_create` and `trigger_event` make the same events and aggregates as eventsourcing's
    (tests/unit/domain/test_fast_events.py compares them, and their stored bytes), without
    its generic steps per event (filtering keyword arguments by signature, a dataclass
    __init__ setting each frozen field): a `ledger import` runs hundreds of thousands.
    Anything unusual (an explicit TOPIC, a custom __init__ or mutate on an event, a missing
    or unknown argument) goes through eventsourcing's own code.
    """

    class Event(Aggregate.Event):
        territory: str
        operator_id: str | None

    class Created(Event, Aggregate.Created):
        pass

    def __init__(self, territory: str) -> None:
        self.territory = territory

    @classmethod
    def _create(cls, event_class: type[CanInitAggregate[UUID]], *, id: UUID | None = None,  # noqa: A002
                **kwargs: Any) -> Self:
        return cls._create_from(event_class, id, kwargs)

    @classmethod
    def _create_from(cls, event_class: type[CanInitAggregate[UUID]], id: UUID | None,  # noqa: A002
                     fields: dict[str, Any]) -> Self:
        """`_create(event_class, id=id, **fields)`, the fields given as one dict: the ledger's
        aggregates call this (a call by keywords into **kwargs makes that dict anew, at a
        cost per name)."""
        key = (cls, event_class)
        creation = _CREATIONS.get(key, _MISSING)
        if creation is _MISSING or creation is None or type(id) is not UUID:
            made = super()._create(event_class, id=id, **fields)
            if creation is _MISSING:  # the first of its class: learn how, from it
                _CREATIONS[key] = _creation(cls, event_class, made)
            return made
        event = _make_event(event_class, fields, id, cls.INITIAL_VERSION, creation.topic)
        if event is None:
            return super()._create(event_class, id=id, **fields)
        # CanInitAggregate.mutate(None), its steps in order: BaseAggregate.__base_init__ (the
        # class's own, see _creation) sets the same attributes in the same order. (Set one by
        # one, not as a new __dict__: the instance keeps Python's compact attribute storage.)
        values = vars(event)
        agg = cls.__new__(cls)
        timestamp = values["timestamp"]
        pending: list[Any] = []
        agg._id = id  # noqa: SLF001
        agg._version = cls.INITIAL_VERSION  # noqa: SLF001
        agg._created_on = timestamp  # noqa: SLF001
        agg._modified_on = timestamp  # noqa: SLF001
        agg._pending_events = pending  # noqa: SLF001
        leading = creation.leading
        if leading is not None:
            if creation.by_name:
                agg.__init__(*leading(values),  # type: ignore[misc]
                             **{name: values[name] for name in creation.by_name})
            else:
                agg.__init__(*leading(values))  # type: ignore[misc]
        else:
            init_kwargs = {name: values[name] for name in creation.init_names}
            if creation.takes_id:
                init_kwargs["id"] = id
            agg.__init__(**init_kwargs)  # type: ignore[misc]
        if creation.applies:
            event.apply(agg)
        pending.append(event)
        return agg

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        self._trigger(event_class, kwargs)

    def _trigger(self, event_class: type[Any], kwargs: dict[str, Any]) -> None:
        """`trigger_event(event_class, **kwargs)`, the fields given as one dict (as the
        ledger's aggregates call it, see _create_from). It adds the base fields' defaults to
        `kwargs`."""
        kwargs.setdefault("territory", self.territory)
        kwargs.setdefault("operator_id", None)
        cls = type(self)
        try:
            topic = _TOPICS[cls]
        except KeyError:
            topic = _TOPICS[cls] = bool(getattr(cls, "TOPIC", None))
        if topic or event_class.mutate is not CanMutateAggregate.mutate:
            super().trigger_event(event_class, **kwargs)
            return
        version = self._version + 1
        event = _make_event(event_class, kwargs, self._id, version)
        if event is None:
            super().trigger_event(event_class, **kwargs)
            return
        # CanMutateAggregate.mutate: the id and version are the aggregate's next by making.
        event.apply(self)
        self._version = version
        self._modified_on = event.timestamp
        self._pending_events.append(event)

    def collect_events(self) -> Sequence[CanMutateAggregate[UUID]]:
        """The pending events, oldest first, and none pending any more (as eventsourcing's,
        without popping them one by one from the front)."""
        pending = self._pending_events
        collected = pending.copy()
        pending.clear()
        return collected


def _creation(cls: type[BaseAggregate[UUID]], event_class: type[Any], made: BaseAggregate[UUID],
              ) -> _Creation | None:
    """How to create the aggregates of `cls` with `event_class`, as eventsourcing created
    `made`; None where only its own code may (e.g. an event that mutates otherwise)."""
    if getattr(cls, "TOPIC", None) or type(made) is not cls or \
            event_class.mutate is not CanInitAggregate.mutate or \
            cls.__base_init__ is not BaseAggregate.__base_init__ or not made.pending_events:
        return None
    shape = _shape_of(event_class)
    if shape is None:
        return None
    event = made.pending_events[-1]
    if type(event) is not event_class:
        return None
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # after self
    names = {p.name for p in parameters}
    init_names = tuple(n for n in shape.template if n in names)
    # The parameters that bind the same by position: the first ones, each given, none
    # keyword-only or variadic (an itemgetter of two or more gives a tuple).
    leading: list[str] = []
    for parameter in parameters:
        if parameter.name not in init_names or parameter.kind is not parameter.POSITIONAL_OR_KEYWORD:
            break
        leading.append(parameter.name)
    positional = len(leading) >= 2 and "id" not in names
    return _Creation(topic=vars(event)["originator_topic"],
                     init_names=init_names,
                     takes_id="id" in names,
                     applies=event_class.apply is not CanMutateAggregate.apply,
                     leading=operator.itemgetter(*leading) if positional else None,
                     by_name=tuple(n for n in init_names if n not in leading))


def collect_into(aggregates: Iterable[LedgerAggregate], kept: dict[int, LedgerAggregate],
                 events: list[Any]) -> None:
    """The pending events of each aggregate, as collect_events gives them, added in turn to
    `events`, and each aggregate kept in `kept` by its id's int (what a batch holds)."""
    for aggregate in aggregates:
        kept[aggregate._id.int] = aggregate  # noqa: SLF001
        pending = aggregate._pending_events  # noqa: SLF001
        events += pending
        pending.clear()
