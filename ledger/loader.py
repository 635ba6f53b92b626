"""How the write service loads aggregates: every aggregate a command names in one query, each
brought up to date from an in-memory copy.

A command names its territory and the things it acts on (contributor, match, request, …).
``prefetch`` reads the events of all of them that are newer than the copies kept in memory,
in one query; ``get`` hands out a private copy of each, brought up to date. A kept copy is
never handed out nor changed (a new one replaces it), so threads share them safely, and
what another process recorded is always read before a command decides: the cache saves
decoding and replaying events, never a check against the store.

Loads of concurrent commands share a query: while one thread's query is under way, the
commands that arrive meanwhile wait, and the first of them then reads what all of them name
in one query (as ledger/groupcommit.py writes their events together). A command's query still
starts after the command arrived, so it reads everything committed before it; each command
gets its own private copies, even of an aggregate (its territory) that others of the group
name too.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from copy import deepcopy
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from eventsourcing.application import AggregateNotFoundError, project_aggregate
from eventsourcing.persistence import InterfaceError, Mapper, OperationalError, StoredEvent
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ledger.combine import Job, Turns

IMMUTABLE = (str, int, float, bytes, type(None), uuid.UUID, date, datetime, timedelta, Decimal,
             Enum, frozenset)


def private_copy(aggregate: Any) -> Any:
    """A copy of an aggregate that shares nothing mutable with it: its attributes are
    immutable values or flat lists, dicts and sets of them (what the domain's aggregates
    hold), so copying those containers is enough; anything else is deep-copied. About five
    times faster than `deepcopy`, which walks every value."""
    state = {}
    for name, value in vars(aggregate).items():
        kind = type(value)
        if isinstance(value, IMMUTABLE) or (
                kind is tuple and all(isinstance(v, IMMUTABLE) for v in value)):
            state[name] = value
        elif kind is list or kind is set:
            if not all(isinstance(v, IMMUTABLE) for v in value):
                return deepcopy(aggregate)
            state[name] = kind(value)
        elif kind is dict:
            if not all(isinstance(v, IMMUTABLE) for v in value.values()):
                return deepcopy(aggregate)
            state[name] = dict(value)
        else:
            return deepcopy(aggregate)
    clone = object.__new__(type(aggregate))
    clone.__dict__.update(state)
    return clone


class _Wanted(Job):
    """The aggregates one command names, and what it got."""
    __slots__ = ("found", "ids")

    def __init__(self, ids: list[uuid.UUID]) -> None:
        super().__init__()
        self.ids = ids
        self.found: dict[uuid.UUID, Any] = {}


class _Reads(Turns[_Wanted]):
    """The loads of concurrent commands, one query a turn (ledger/combine.py)."""

    def __init__(self, fetch: Callable[[list[uuid.UUID]], dict[uuid.UUID, Any]]) -> None:
        super().__init__()
        self.fetch = fetch
        self.groups = 0  # queries that loaded for more than one command (for tests)

    def work(self, group: list[_Wanted]) -> None:
        current = self.fetch([i for w in group for i in w.ids])
        if len(group) > 1:
            self.groups += 1
        for w in group:
            w.found = {i: private_copy(current[i]) for i in w.ids if i in current}
            w.done = True


class Loader:
    def __init__(self, recorder: Any, mapper: Mapper[uuid.UUID], maxsize: int,
                 fallback: Callable[[uuid.UUID], Any]) -> None:
        """`fallback`: how to load one aggregate from a store that is not PostgreSQL (the
        in-memory store of the unit tests): no prefetch, no copies kept."""
        self.datastore = getattr(recorder, "datastore", None)
        self.fallback = fallback
        self.mapper = mapper
        self.maxsize = maxsize
        self.kept: OrderedDict[uuid.UUID, Any] = OrderedDict()
        self.lock = threading.Lock()
        self.local = threading.local()
        self.reads = _Reads(lambda ids: self._fetch(ids))
        # As bytes, once: a composed statement is rendered again on every execute.
        self.query = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {} e "
            "JOIN unnest(%s::uuid[], %s::int[]) AS t(id, v) "
            "ON e.originator_id = t.id AND e.originator_version > t.v "
            "ORDER BY e.originator_id, e.originator_version").format(
            Identifier(self.datastore.schema if self.datastore else "",
                       getattr(recorder, "events_table_name", ""))).as_bytes(None)

    def prefetch(self, ids: Iterable[uuid.UUID]) -> None:
        """Load these for the command this thread is about to run (each is handed out once:
        a second ``get`` of the same id, or a retry, reads the store again), in one query
        with the commands that arrive while another's query is under way."""
        self.local.ready = self._together(list(ids)) if self.datastore else {}

    def _together(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
        wanted = _Wanted(ids)
        self.reads.run(wanted)
        if wanted.error is not None:
            raise wanted.error
        return wanted.found

    def clear(self) -> None:
        self.local.ready = {}

    def get(self, ident: uuid.UUID) -> Any:
        if self.datastore is None:
            return self.fallback(ident)
        ready: dict[uuid.UUID, Any] | None = getattr(self.local, "ready", None)
        if ready and ident in ready:
            return ready.pop(ident)
        found = self._fetch([ident])
        if ident not in found:
            raise AggregateNotFoundError(ident)
        return private_copy(found[ident])

    # Like eventsourcing's own reads: a connection lost (PostgreSQL restarted) is retried.
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _fetch(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """The aggregates up to date: the current objects themselves, which may be the kept
        ones, so never to be handed out as they are (`private_copy`)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted or self.datastore is None:
            return {}
        with self.lock:
            kept = {i: self.kept[i] for i in wanted if i in self.kept}
            for i in kept:
                self.kept.move_to_end(i)
        versions = [kept[i].version if i in kept else 0 for i in wanted]
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            # Array literals written here (UUIDs and integers only): psycopg's list adapter
            # costs more than the rest of the statement.
            rows = cur.execute(self.query, ("{" + ",".join(i.hex for i in wanted) + "}",
                                            "{" + ",".join(map(str, versions)) + "}")).fetchall()
        newer: dict[uuid.UUID, list[StoredEvent]] = {}
        for originator_id, version, topic, state in rows:  # tuples: no names to look up
            newer.setdefault(originator_id, []).append(StoredEvent(
                originator_id=originator_id, originator_version=version, topic=topic,
                state=bytes(state)))
        out: dict[uuid.UUID, Any] = {}
        for i in wanted:
            base = kept.get(i)
            if i not in newer:
                if base is not None:
                    out[i] = base
                continue
            events = [self.mapper.to_domain_event(s) for s in newer[i]]
            current = project_aggregate(private_copy(base) if base is not None else None, events)
            if current is None:
                continue
            self._keep(i, current)
            out[i] = current
        return out

    def _keep(self, ident: uuid.UUID, aggregate: Any) -> None:
        if self.maxsize <= 0:
            return
        with self.lock:
            old = self.kept.get(ident)
            if old is None or old.version < aggregate.version:
                self.kept[ident] = aggregate
                self.kept.move_to_end(ident)
            while len(self.kept) > self.maxsize:
                self.kept.popitem(last=False)
