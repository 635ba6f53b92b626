"""A realistic event stream built with the domain and saved in big batches (no HTTP).

Each cycle is a pledge, a request, a match (3 events) and a fulfilment (4 events); one in
ten gets a second fulfilment. Citizens' names and descriptions are sealed as in production.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from consumers.topic import partition_for
from ledger.application import LedgerApplication
from ledger.domain import (
    Actor,
    Contribution,
    Fulfilment,
    LedgerAggregate,
    Match,
    Request,
    Territory,
)
from ledger.privacy import KeyStore, seal

RESOURCES = [("time", "minute"), ("service", "minute"), ("space", "minute"),
             ("money", "eur_cent"), ("goods", "item"), ("goods", "gram")]
THEMES = [f"cts.{c}" for c in "abcdefghij"]
MAX_CYCLE_EVENTS = 13


def territory_codes(count: int, partitions: int) -> list[str]:
    """ISTAT-shaped codes spread evenly over the topic's partitions."""
    per_part: dict[int, list[str]] = {p: [] for p in range(partitions)}
    i = 1001
    while sum(map(len, per_part.values())) < count:
        code = f"{i:06d}"
        p = partition_for(code, partitions)
        if len(per_part[p]) < -(-count // partitions):
            per_part[p].append(code)
        i += 1
    return sorted(c for codes in per_part.values() for c in codes)[:count]


@dataclass
class People:
    contributors: list[uuid.UUID] = field(default_factory=list)
    beneficiaries: list[uuid.UUID] = field(default_factory=list)
    keys: dict[uuid.UUID, bytes] = field(default_factory=dict)


@dataclass
class Generator:
    app: LedgerApplication
    keys: KeyStore
    events: int
    save_batch: int = 300
    partitions: int = 3
    rng: random.Random = field(default_factory=lambda: random.Random(42))  # noqa: S311
    pending: list[LedgerAggregate] = field(default_factory=list)
    pending_events: int = 0
    written: int = 0
    saves: int = 0

    def run(self, progress: Callable[[int], None] = lambda n: None) -> int:
        n_territories = 6 if self.events >= 2000 else 3
        actors_per = max(8, self.events // 300 // n_territories)
        people: dict[str, People] = {}
        for code in territory_codes(n_territories, self.partitions):
            self._add(Territory.register(code, f"Comune {code}", operator_id="bench"))
            people[code] = self._actors(code, actors_per)
        self._flush()
        codes = list(people)
        while self.events - self.written - self.pending_events >= MAX_CYCLE_EVENTS:
            code = self.rng.choice(codes)
            self._cycle(code, people[code])
            if self.pending_events >= self.save_batch:
                self._flush()
                progress(self.written)
        while self.written + self.pending_events < self.events:
            code = self.rng.choice(codes)
            self._add(self._pledge(code, people[code]))
        self._flush()
        progress(self.written)
        return self.written

    def _add(self, *aggregates: LedgerAggregate) -> None:
        for a in aggregates:
            self.pending.append(a)
            self.pending_events += len(a.pending_events)

    def _flush(self) -> None:
        if self.pending:
            self.app.save(*self.pending)
            self.saves += 1
        self.written += self.pending_events
        self.pending, self.pending_events = [], 0

    def _actors(self, code: str, count: int) -> People:
        people = People()
        companies = []
        for i in range(count):
            actor_id = uuid.uuid4()
            kind = ("citizen", "citizen", "household", "company", "ets", "citizen")[i % 6]
            if kind in ("citizen", "household"):
                key = self.keys.create(actor_id)
                people.keys[actor_id] = key
                employer = companies[i % len(companies)] if companies and i % 4 == 0 else None
                actor = Actor.register(
                    actor_id, code, kind, display_name_sealed=seal(key, actor_id, f"P {i}"),
                    personal_sealed=seal(key, actor_id, {"email": f"p{i}@example.it"}),
                    employer_id=employer if kind == "citizen" else None, operator_id="bench")
                people.beneficiaries.append(actor_id)
            else:
                actor = Actor.register(actor_id, code, kind, display_name=f"{kind} {i}",
                                       runts_id=f"R{i}" if kind == "ets" else None,
                                       operator_id="bench")
                if kind == "company":
                    companies.append(actor_id)
            people.contributors.append(actor_id)
            self._add(actor)
            if self.pending_events >= self.save_batch:  # 1,000,000 events: 3,000+ actors
                self._flush()
        return people

    def _pledge(self, code: str, people: People) -> Contribution:
        contributor = self.rng.choice(people.contributors)
        kind, unit = self.rng.choice(RESOURCES)
        key = people.keys.get(contributor)
        return Contribution.pledge(
            uuid.uuid4(), code, contributor, kind, unit, self.rng.randint(60, 600),
            self.rng.choice(THEMES),
            description_sealed=seal(key, contributor, "weekly help") if key else None,
            paid_time=False if kind == "time" else None, operator_id="op-1")

    def _cycle(self, code: str, people: People) -> None:
        contribution = self._pledge(code, people)
        beneficiary = self.rng.choice(people.beneficiaries)
        request = Request.post(
            uuid.uuid4(), code, beneficiary, contribution.resource_kind, contribution.unit,
            self.rng.randint(30, contribution.quantity), contribution.theme, urgency="high",
            description_sealed=seal(people.keys[beneficiary], beneficiary, "needs help"),
            needed_by="2026-06-30", operator_id="op-1")
        quantity = self.rng.randint(2, request.quantity)
        match = Match.reserve(uuid.uuid4(), contribution, request, quantity, operator_id="op-1")
        first = quantity // 2 if self.rng.random() < 0.1 else quantity
        done = [Fulfilment.record(uuid.uuid4(), match, contribution, request, first,
                                  fulfilled_on="2026-01-15", operator_id="op-2")]
        if first < quantity:
            done.append(Fulfilment.record(uuid.uuid4(), match, contribution, request,
                                          quantity - first, operator_id="op-2"))
        self._add(contribution, request, match, *done)
