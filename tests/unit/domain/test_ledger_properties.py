"""Random command sequences never break the ledger's invariants or double entry."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID, uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ledger.domain import Contribution, DomainError, Fulfilment, LedgerAggregate, Match, Request

T = "018182"
RESOURCES = [("time", "minute"), ("goods", "item")]
ACTORS = [uuid4() for _ in range(3)]
quantities = st.integers(min_value=0, max_value=12)
picks = st.integers(min_value=0, max_value=1000)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.contributions: dict[UUID, Contribution] = {}
        self.requests: dict[UUID, Request] = {}
        self.matches: dict[UUID, Match] = {}
        self.fulfilments: dict[UUID, Fulfilment] = {}

    def everything(self) -> list[LedgerAggregate]:
        return [
            *self.contributions.values(),
            *self.requests.values(),
            *self.matches.values(),
            *self.fulfilments.values(),
        ]

    def snapshot(self) -> list[tuple[Any, ...]]:
        return [
            (
                a.id,
                len(a.pending_events),
                {k: v for k, v in vars(a).items() if k != "_pending_events"},
            )
            for a in self.everything()
        ]

    def attempt(self, command: Any) -> None:
        before = self.snapshot()
        try:
            command()
        except DomainError:
            assert self.snapshot() == before, "a refused command changed an aggregate"

    @staticmethod
    def pick(items: dict[UUID, Any], index: int) -> Any:
        return list(items.values())[index % len(items)]

    @rule(resource=st.sampled_from(RESOURCES), actor=st.sampled_from(ACTORS), quantity=quantities)
    def pledge(self, resource: tuple[str, str], actor: UUID, quantity: int) -> None:
        def command() -> None:
            c = Contribution.pledge(uuid4(), T, actor, *resource, quantity, "cts.a")
            self.contributions[c.id] = c

        self.attempt(command)

    @rule(resource=st.sampled_from(RESOURCES), actor=st.sampled_from(ACTORS), quantity=quantities)
    def post(self, resource: tuple[str, str], actor: UUID, quantity: int) -> None:
        def command() -> None:
            r = Request.post(uuid4(), T, actor, *resource, quantity, "area.housing")
            self.requests[r.id] = r

        self.attempt(command)

    @precondition(lambda self: self.contributions and self.requests)
    @rule(ci=picks, ri=picks, quantity=quantities)
    def match(self, ci: int, ri: int, quantity: int) -> None:
        contribution, request = self.pick(self.contributions, ci), self.pick(self.requests, ri)

        def command() -> None:
            m = Match.reserve(uuid4(), contribution, request, quantity)
            self.matches[m.id] = m

        self.attempt(command)

    def sides(self, match: Match) -> tuple[Contribution, Request]:
        return self.contributions[match.contribution_id], self.requests[match.request_id]

    @precondition(lambda self: self.matches)
    @rule(mi=picks, quantity=quantities)
    def fulfil(self, mi: int, quantity: int) -> None:
        match = self.pick(self.matches, mi)

        def command() -> None:
            f = Fulfilment.record(uuid4(), match, *self.sides(match), quantity)
            self.fulfilments[f.id] = f

        self.attempt(command)

    @precondition(lambda self: self.matches)
    @rule(mi=picks)
    def cancel(self, mi: int) -> None:
        match = self.pick(self.matches, mi)
        self.attempt(lambda: match.cancel("test", *self.sides(match)))

    @precondition(lambda self: self.fulfilments)
    @rule(fi=picks)
    def reverse(self, fi: int) -> None:
        fulfilment = self.pick(self.fulfilments, fi)
        match = self.matches[fulfilment.match_id]
        self.attempt(lambda: fulfilment.reverse("test", match, *self.sides(match)))

    @precondition(lambda self: self.contributions)
    @rule(ci=picks, expire=st.booleans())
    def end_contribution(self, ci: int, expire: bool) -> None:
        c = self.pick(self.contributions, ci)
        self.attempt(c.expire if expire else c.withdraw)

    @precondition(lambda self: self.requests)
    @rule(ri=picks, expire=st.booleans())
    def end_request(self, ri: int, expire: bool) -> None:
        r = self.pick(self.requests, ri)
        self.attempt(r.expire if expire else r.withdraw)

    def net(self, **match_on: UUID) -> list[Fulfilment]:
        return [
            f
            for f in self.fulfilments.values()
            if not f.reversed and all(getattr(f, k) == v for k, v in match_on.items())
        ]

    @invariant()
    def contributions_hold(self) -> None:
        for c in self.contributions.values():
            assert c.reserved >= 0 and c.delivered >= 0 and c.taken_back >= 0
            assert c.reserved + c.delivered <= c.quantity - c.taken_back
            # A withdrawn or expired offer can never become available again.
            assert c.is_active or c.available == 0
            open_matches = [
                m for m in self.matches.values() if m.contribution_id == c.id and m.is_open
            ]
            assert sum(m.quantity - m.fulfilled for m in open_matches) == c.reserved
            assert sum(f.quantity for f in self.net(contribution_id=c.id)) == c.delivered

    @invariant()
    def requests_hold(self) -> None:
        for r in self.requests.values():
            assert r.reserved >= 0 and r.received >= 0 and r.taken_back >= 0
            assert r.reserved + r.received <= r.quantity - r.taken_back
            assert r.is_active or r.open_quantity == 0
            open_matches = [m for m in self.matches.values() if m.request_id == r.id and m.is_open]
            assert sum(m.quantity - m.fulfilled for m in open_matches) == r.reserved
            assert sum(f.quantity for f in self.net(request_id=r.id)) == r.received

    @invariant()
    def matches_hold(self) -> None:
        for m in self.matches.values():
            assert 0 <= m.fulfilled <= m.quantity
            assert sum(f.quantity for f in self.net(match_id=m.id)) == m.fulfilled

    @invariant()
    def double_entry_per_unit(self) -> None:
        delivered: dict[str, int] = defaultdict(int)
        received: dict[str, int] = defaultdict(int)
        transferred: dict[str, int] = defaultdict(int)
        for c in self.contributions.values():
            delivered[c.unit] += c.delivered
        for r in self.requests.values():
            received[r.unit] += r.received
        for f in self.net():
            transferred[f.unit] += f.quantity
        for unit in {u for _, u in RESOURCES}:
            assert delivered[unit] == received[unit] == transferred[unit]

    @invariant()
    def every_event_names_territory_and_operator(self) -> None:
        for aggregate in self.everything():
            for event in aggregate.pending_events:
                assert event.territory == T  # type: ignore[attr-defined]
                assert hasattr(event, "operator_id")


LedgerMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
TestLedger = LedgerMachine.TestCase
