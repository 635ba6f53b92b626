"""The write service: loads aggregates, calls the domain, saves what changed in one go.

Personal data is sealed here, with the data subject's key, before it reaches an event.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError

from ledger.access import ACTING_ROLES, FORBID, HIDE, Action, Item, Principal, Role, decide, item
from ledger.commands import (
    ApproveMatch,
    CancelMatch,
    Command,
    DefineProgramme,
    DefineTheme,
    EraseActor,
    Expire,
    Fulfil,
    MakeMatch,
    Pledge,
    PostRequest,
    RecordFeedback,
    RecordManagementCost,
    RegisterActor,
    RegisterTerritory,
    RejectMatch,
    ReverseFulfilment,
    SetApprovalPolicy,
    WithdrawContribution,
    WithdrawRequest,
)
from ledger.domain import (
    PERSONAL_KINDS,
    Actor,
    Contribution,
    Fulfilment,
    LedgerAggregate,
    Match,
    Request,
    Territory,
)
from ledger.domain.base import collect_into
from ledger.domain.checks import check_not_future, check_not_past
from ledger.eventrows import EventRows
from ledger.loader import Loader
from ledger.privacy import KeyStore, seal

A = TypeVar("A", bound=LedgerAggregate)
T = TypeVar("T")
CONFLICT_RETRIES = 5
EXPIRY_OPERATOR = "system:expiry"


# The new id of a command of a batch that makes nothing (Handler.new is False).
NOTHING_NEW = uuid.UUID(int=0)

OpenItems = Callable[[str, uuid.UUID], list[tuple[str, uuid.UUID]]]
SYSTEM_EXPIRY = Principal(EXPIRY_OPERATOR, "expiry", Role.ADMIN)


@dataclass(frozen=True)
class Claim:
    """The Idempotency-Key a command runs under: marked committed with its events."""

    scope: str
    key: str


Decided = tuple[LedgerAggregate, ...]
"""What a command changed, to save together: its primary aggregate first."""
Attempt = Callable[[], Decided]


class Handler(NamedTuple):
    """How a kind of command runs. `prepare(app, command, by, new_id)` makes the checks made
    once per command and returns its attempt, which loads, checks the rules and calls the
    domain. The API saves what the attempt decided; on a concurrency conflict it reloads and
    attempts again (`retried`), or, for a creation that is not retried, the conflict is its
    id taken (AlreadyExists). A batch (decide_each) saves nothing, so nothing conflicts: it
    prepares and attempts each command once and takes its events."""

    prepare: Callable[[LedgerApplication, Any, Principal, uuid.UUID], Attempt]
    retried: bool = True
    # A retried creation: what it creates, to tell "taken" from a conflict (_existing_or).
    creates: type[LedgerAggregate] | None = None
    new: bool = False  # it names what it makes by the new id (else `new_id` is not used)
    resource: bool = False  # it made its new id, no aggregate of its own (a management cost)
    after: Callable[[LedgerApplication, Any], None] | None = None  # once saved


class Forbidden(Exception):
    """The principal's role may not do this (HTTP 403)."""


class NotFound(Exception):
    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind


def require(principal: Principal, action: Action, territory: str | None,
            record: Item | None = None) -> None:
    """access.decide, as the errors every caller answers with: a territory (or record) that is
    none of the principal's business is NotFound (404), an action its role may not do there is
    Forbidden (403). Used by the write service and by every read route."""
    decision = decide(principal, action, territory, record)
    if decision is HIDE:
        raise NotFound("territory", territory)
    if decision is FORBID:
        raise Forbidden(f"a {principal.role.value} key may not "
                        f"{action.value.replace('_', ' ')} here")


class AlreadyExists(Exception):
    """The aggregate id is taken (e.g. a territory code registered twice)."""


class NotInBatch(Exception):
    """A batch that may not read the store named an aggregate it neither created nor had."""


class ConcurrencyConflict(Exception):
    """Another operator changed the same items at the same time, too often to retry."""


class Written(NamedTuple):
    """What a command recorded: the id of what it made, the position of its last event (0
    in a batch, which records nothing itself), and its primary aggregate."""

    id: uuid.UUID
    position: int
    aggregate: LedgerAggregate


def _named(command: Command) -> list[uuid.UUID]:
    """The aggregates a command names: its territory and every id among its fields."""
    ids = [Territory.id_for(command.territory)]
    for f in dataclasses.fields(command):
        value = getattr(command, f.name)
        if isinstance(value, uuid.UUID):
            ids.append(value)
    return ids


class LedgerApplication(Application[uuid.UUID]):
    name = "ledger"

    def __init__(self, env: dict[str, str], keys: KeyStore | None = None,
                 open_items: OpenItems | None = None, timezone: str = "Europe/Rome",
                 cache_size: int = 0) -> None:
        super().__init__(env=env)
        # Loads: one query for all a command names; up-to-date copies kept (ledger/loader.py).
        self._loader = Loader(self.recorder, self.mapper, cache_size, self.repository.get)
        self._stored = EventRows(self.mapper).stored
        self._keys = keys
        self._open_items = open_items
        self.zone = ZoneInfo(timezone)
        self._day: tuple[date, float] = (date.min, 0.0)  # today, until when (see _today)
        # While a batch runs (decide_each), the aggregates it loaded or changed are kept here
        # (by their id's int: a UUID's own hash is a Python call): nothing is saved.
        self._pending: dict[int, LedgerAggregate] | None = None
        self._reads = True  # may a batch read the store?
        # A batch's principal, and what it was allowed without a record (see _allow).
        self._batch_by: Principal | None = None
        self._allowed: set[tuple[int, str | None]] | None = None

    def open_items_of(self, territory: str, actor_id: uuid.UUID) -> list[tuple[str, uuid.UUID]]:
        """The offers and needs of an actor still open, as the read model knows them."""
        return self._open_items(territory, actor_id) if self._open_items else []

    @property
    def keys(self) -> KeyStore:
        assert self._keys is not None, "this application instance only reads the event store"
        return self._keys

    # -- plumbing ---------------------------------------------------------------------------
    def load(self, cls: type[A], ident: uuid.UUID, territory: str | None = None) -> A:
        pending = self._pending
        try:
            found = pending.get(ident.int) if pending is not None else None
            if found is not None:
                aggregate: LedgerAggregate = found
            else:
                if not self._reads:
                    raise NotInBatch(ident)
                aggregate = self._loader.get(ident)
                if pending is not None:
                    pending[ident.int] = aggregate  # loaded once per batch
        except AggregateNotFoundError:
            raise NotFound(cls.__name__.lower(), ident) from None
        if not isinstance(aggregate, cls) or (territory and aggregate.territory != territory):
            raise NotFound(cls.__name__.lower(), ident)
        return aggregate

    def territory(self, code: str) -> Territory:
        try:
            return self.load(Territory, Territory.id_for(code), code)
        except NotFound:
            raise NotFound("territory", code) from None

    def decide_each(self, commands: Iterable[tuple[Command, uuid.UUID | None]], by: Principal,
                    keys: KeyStore | None = None, reads: bool = True,
                    ) -> Iterator[list[DomainEventProtocol[uuid.UUID]]]:
        """Run every command against what the ones before it changed, in memory, yielding the
        new events of each, unsaved, in the order the API would record them. Each aggregate is
        loaded once and kept until the end. A command that breaks a rule raises. `keys`: the
        key store to seal personal data with meanwhile (`ledger import` keeps the keys of the
        people it registers in memory and writes them with the events). `reads=False`: an
        aggregate the batch did not create raises NotInBatch instead of being read (a part of
        an import that runs in a forked process, ledger/importplan.py).

        Each command runs its handler's checks and attempt once, as `handle` would (nothing is
        saved, so nothing conflicts: no retry), and its events are taken from its aggregates
        here. Whether its principal sees a territory is asked once per territory (a principal
        is frozen)."""
        kept: dict[int, LedgerAggregate] = {}
        self._pending, own_keys, self._reads = kept, self._keys, reads
        self._keys = keys or own_keys
        self._batch_by, self._allowed = by, set()
        seen: set[str] = set()
        try:
            for command, new_id in commands:
                if not isinstance(command, RegisterTerritory) and command.territory not in seen:
                    if not by.sees(command.territory):
                        raise NotFound("territory", command.territory)
                    seen.add(command.territory)
                handler = HANDLERS[type(command)]
                if new_id is None:  # (a uuid4 is a system call: only for what is made)
                    new_id = uuid.uuid4() if handler.new else NOTHING_NEW
                events: list[DomainEventProtocol[uuid.UUID]] = []
                collect_into(handler.prepare(self, command, by, new_id)(), kept, events)
                if handler.after is not None:
                    handler.after(self, command)
                yield events
        finally:
            self._pending, self._keys, self._reads = None, own_keys, True
            self._batch_by, self._allowed = None, None

    def _save(self, primary: LedgerAggregate, *others: LedgerAggregate,
              claim: Claim | None = None, resource: uuid.UUID | None = None) -> Written:
        """`resource`: what the command created, when it is no aggregate of its own (a
        management cost is an event of its company); by default the primary aggregate."""
        made = resource or primary.id
        extra = {"idempotency": (claim.scope, claim.key, made)} if claim else {}
        if self.repository.cache is not None or self.snapshots is not None:
            recordings = self.save(primary, *others, **extra)
            return Written(made, max(r.notification.id for r in recordings), primary)
        # What Application.save does when there is no aggregate cache and no snapshotting,
        # and _notify and notify do nothing (the ledger's case), without its generic
        # collection of events (runtime Protocol checks, about 3% of a write's CPU).
        to_stored = self._stored  # the mapper's stored events, written by orjson
        stored = [to_stored(event) for aggregate in (primary, *others)
                  for event in aggregate.collect_events()]
        ids = self.recorder.insert_events(stored, **extra)
        assert ids, "an application recorder returns the notification ids"
        return Written(made, max(ids), primary)

    def _run(self, handler: Handler, command: Command, by: Principal, new_id: uuid.UUID,
             claim: Claim | None) -> Written:
        """A command of the API: checked, decided and saved with its claim."""
        attempt = handler.prepare(self, command, by, new_id)
        resource = new_id if handler.resource else None
        if not handler.retried:  # a creation: a conflict is its id taken
            decided = attempt()
            try:
                written = self._save(*decided, claim=claim, resource=resource)
            except IntegrityError:
                raise AlreadyExists(str(decided[0].id)) from None
        elif handler.creates is not None:
            written = self._existing_or(handler.creates, new_id, command.territory,
                                        lambda: self._retrying(attempt, claim, resource))
        else:
            written = self._retrying(attempt, claim, resource)
        if handler.after is not None:
            handler.after(self, command)
        return written

    def _retrying(self, attempt: Attempt, claim: Claim | None,
                  resource: uuid.UUID | None) -> Written:
        """Optimistic concurrency: reload and re-check the rules, a bounded number of times."""
        for _ in range(CONFLICT_RETRIES):
            try:
                return self._save(*attempt(), claim=claim, resource=resource)
            except IntegrityError:
                continue
        raise ConcurrencyConflict("the items changed concurrently; try again")

    def _existing_or(self, cls: type[A], ident: uuid.UUID, territory: str,
                     create: Callable[[], Written]) -> Written:
        """A creation whose id already exists (a retried command) fails as AlreadyExists."""
        try:
            return create()
        except ConcurrencyConflict as conflict:
            try:
                self.load(cls, ident, territory)
            except NotFound:
                raise conflict from None
            raise AlreadyExists(str(ident)) from None

    def _actor(self, territory: str, actor_id: uuid.UUID) -> Actor:
        actor = self.load(Actor, actor_id, territory)
        actor.check_not_erased()
        return actor

    def _seal_for(self, subject_id: uuid.UUID, value: Any) -> str | None:
        if value is None:
            return None
        key = self.keys.get(subject_id)
        if key is None:
            return None  # an erased subject: nothing personal is recorded any more
        return seal(key, subject_id, value)

    # -- commands ---------------------------------------------------------------------------
    def handle(self, command: Command, by: Principal, new_id: uuid.UUID | None = None,
               claim: Claim | None = None) -> Written:
        """Run one command for a principal. ``new_id`` names what a creation creates (derived
        from an idempotency key, so a retry creates nothing new); ``claim`` is the key, marked
        committed in the same transaction as the events."""
        if not isinstance(command, RegisterTerritory) and not by.sees(command.territory):
            raise NotFound("territory", command.territory)
        handler = HANDLERS[type(command)]
        new_id = new_id or uuid.uuid4()
        self._loader.prefetch(_named(command))
        try:
            return self._run(handler, command, by, new_id, claim)
        finally:
            self._loader.clear()

    def _allow(self, by: Principal, action: Action, territory: str | None,
               record: Callable[[], Item] | None = None) -> None:
        """Ask access.decide; ownership is worked out only for roles whose rights depend on it.
        In a batch, what its principal may do where, without a record, is asked once (a
        principal is frozen and the decision a function of it, the action and territory)."""
        if record is not None and by.role in ACTING_ROLES:
            require(by, action, territory, record())
            return
        allowed = self._allowed
        if allowed is None or by is not self._batch_by:
            require(by, action, territory, None)
            return
        key = (id(action), territory)  # an Action is a singleton; its own hash is Python's
        if key not in allowed:
            require(by, action, territory, None)
            allowed.add(key)

    def _actor_item(self, territory: str, actor_id: uuid.UUID) -> Item:
        actor = self.load(Actor, actor_id, territory)
        return item("actor", cases=(actor.id, actor.case_owner_id),
                    companies=(actor.id, actor.employer_id))

    def _contribution_item(self, c: Contribution) -> Item:
        who = self._actor_item(c.territory, c.contributor_id)
        return Item("contribution", who.cases, who.companies | frozenset(
            x for x in (c.employer_id,) if x is not None))

    def _request_item(self, r: Request) -> Item:
        return Item("request", self._actor_item(r.territory, r.beneficiary_id).cases)

    def _match_item(self, c: Contribution, r: Request) -> Item:
        given, asked = self._contribution_item(c), self._request_item(r)
        return Item("match", given.cases | asked.cases, given.companies)

    def _today(self) -> date:
        """Today in the ledger's time zone: the same day until its next midnight there."""
        today, until = self._day
        if time.time() < until:
            return today
        today = datetime.now(self.zone).date()
        midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), self.zone)
        self._day = (today, midnight.timestamp())
        return today

    # Each handler makes the checks made once and returns the attempt (see Handler).
    def _register_territory(self, cmd: RegisterTerritory, by: Principal,
                            new_id: uuid.UUID) -> Attempt:
        self._allow(by, Action.REGISTER_TERRITORY, None)
        return lambda: (Territory.register(cmd.territory, cmd.name, operator_id=by.id),)

    def _define_theme(self, cmd: DefineTheme, by: Principal, new_id: uuid.UUID) -> Attempt:
        self._allow(by, Action.CONFIGURE, cmd.territory)

        def attempt() -> Decided:
            territory = self.territory(cmd.territory)
            territory.define_theme(cmd.code, cmd.label, operator_id=by.id)
            return (territory,)
        return attempt

    def _set_approval_policy(self, cmd: SetApprovalPolicy, by: Principal,
                             new_id: uuid.UUID) -> Attempt:
        self._allow(by, Action.CONFIGURE, cmd.territory)

        def attempt() -> Decided:
            territory = self.territory(cmd.territory)
            territory.set_approval_policy(list(cmd.required_for), cmd.approvers,
                                          operator_id=by.id)
            return (territory,)
        return attempt

    def _define_programme(self, cmd: DefineProgramme, by: Principal,
                          new_id: uuid.UUID) -> Attempt:
        self._allow(by, Action.CONFIGURE, cmd.territory)
        for partner in cmd.partners:
            self._actor(cmd.territory, partner).check_can_follow_cases()

        def attempt() -> Decided:
            territory = self.territory(cmd.territory)
            territory.define_programme(cmd.code, cmd.name, cmd.starts_on, cmd.ends_on,
                                       list(cmd.partners), operator_id=by.id)
            return (territory,)
        return attempt

    def _record_management_cost(self, cmd: RecordManagementCost, by: Principal,
                                new_id: uuid.UUID) -> Attempt:
        self._allow(by, Action.RECORD_COST, cmd.territory)

        def attempt() -> Decided:
            company = self._actor(cmd.territory, cmd.company_id)
            company.record_management_cost(
                new_id, cmd.incurred_on, cmd.eur_cent,
                self._seal_for(cmd.company_id, cmd.description), operator_id=by.id)
            return (company,)
        return attempt

    def _record_feedback(self, cmd: RecordFeedback, by: Principal, new_id: uuid.UUID) -> Attempt:
        t = cmd.territory

        def attempt() -> Decided:
            fulfilment = self.load(Fulfilment, cmd.fulfilment_id, t)
            self._allow(by, Action.FEEDBACK, t, lambda: Item(
                "request", self._actor_item(t, fulfilment.beneficiary_id).cases))
            fulfilment.record_feedback(
                cmd.satisfaction, cmd.change,
                self._seal_for(fulfilment.beneficiary_id, cmd.comment), operator_id=by.id)
            return (fulfilment,)
        return attempt

    def _register_actor(self, cmd: RegisterActor, by: Principal, new_id: uuid.UUID) -> Attempt:
        t = cmd.territory
        self._allow(by, Action.REGISTER_ACTOR, t, lambda: Item(cmd.kind))
        self.territory(t)
        case_owner = cmd.case_owner_id
        if by.role is Role.ETS:
            case_owner = by.actor_id  # the people an ETS registers are its cases
        elif case_owner is not None:
            self._actor(t, case_owner).check_can_follow_cases()
        if cmd.employer_id is not None:
            self._actor(t, cmd.employer_id).check_can_employ()
        actor_id = new_id
        key = self.keys.create(actor_id)
        personal_kind = cmd.kind in {k.value for k in PERSONAL_KINDS}
        name = cmd.display_name
        sealed_name = seal(key, actor_id, name) if personal_kind and name else None
        personal_sealed = seal(key, actor_id, cmd.personal) if cmd.personal else None
        return lambda: (Actor.register(
            actor_id, t, cmd.kind, display_name=None if personal_kind else name,
            display_name_sealed=sealed_name, personal_sealed=personal_sealed,
            runts_id=cmd.runts_id, employer_id=cmd.employer_id, operator_id=by.id,
            case_owner_id=case_owner, zone=cmd.zone, vat_number=cmd.vat_number),)

    def _erase_actor(self, cmd: EraseActor, by: Principal, new_id: uuid.UUID) -> Attempt:
        """GDPR erasure: the key goes (_erased); the person's open offers and needs end with it."""
        self._allow(by, Action.ERASE, cmd.territory)

        def attempt() -> Decided:
            actor = self._actor(cmd.territory, cmd.actor_id)
            actor.erase(operator_id=by.id)
            ended: list[LedgerAggregate] = []
            for kind, item_id in self.open_items_of(cmd.territory, cmd.actor_id):
                cls: type[Contribution] | type[Request] = (
                    Contribution if kind == "contribution" else Request)
                open_item = self.load(cls, item_id, cmd.territory)
                if open_item.is_active:
                    open_item.withdraw(None, operator_id=by.id)
                    ended.append(open_item)
            return (actor, *ended)
        return attempt

    def _erased(self, cmd: EraseActor) -> None:
        self.keys.destroy(cmd.actor_id)

    def _pledge(self, cmd: Pledge, by: Principal, new_id: uuid.UUID) -> Attempt:
        t = cmd.territory
        territory = self.territory(t)
        territory.check_theme(cmd.theme)
        territory.check_programme(cmd.programme)
        contributor = self._actor(t, cmd.contributor_id)
        employer = cmd.employer_id or contributor.employer_id
        self._allow(by, Action.PLEDGE, t, lambda: Item(
            "contribution", self._actor_item(t, contributor.id).cases))
        if employer is not None:
            self._actor(t, employer).check_can_employ()
        check_not_past(cmd.valid_until, "valid_until", self._today())
        return lambda: (Contribution.pledge(
            new_id, t, cmd.contributor_id, cmd.resource_kind, cmd.unit, cmd.quantity,
            cmd.theme, description_sealed=self._seal_for(cmd.contributor_id, cmd.description),
            motivation=cmd.motivation, paid_time=cmd.paid_time, employer_id=employer,
            valid_until=cmd.valid_until, project_ref=cmd.project_ref, operator_id=by.id,
            cost_eur_cent=cmd.cost_eur_cent, funding_source=cmd.funding_source,
            programme=cmd.programme),)

    def _post_request(self, cmd: PostRequest, by: Principal, new_id: uuid.UUID) -> Attempt:
        t = cmd.territory
        territory = self.territory(t)
        territory.check_theme(cmd.theme)
        territory.check_programme(cmd.programme)
        self._actor(t, cmd.beneficiary_id)
        self._allow(by, Action.POST_REQUEST, t, lambda: Item(
            "request", self._actor_item(t, cmd.beneficiary_id).cases))
        check_not_past(cmd.needed_by, "needed_by", self._today())
        extra: dict[str, Any] = {"urgency": cmd.urgency} if cmd.urgency else {}
        return lambda: (Request.post(
            new_id, t, cmd.beneficiary_id, cmd.resource_kind, cmd.unit, cmd.quantity,
            cmd.theme, description_sealed=self._seal_for(cmd.beneficiary_id, cmd.description),
            needed_by=cmd.needed_by, operator_id=by.id, programme=cmd.programme, **extra),)

    def _match(self, cmd: MakeMatch, by: Principal, new_id: uuid.UUID) -> Attempt:
        t = cmd.territory

        def attempt() -> Decided:
            contribution = self.load(Contribution, cmd.contribution_id, t)
            request = self.load(Request, cmd.request_id, t)
            self._allow(by, Action.MATCH, t, lambda: self._match_item(contribution, request))
            # An erased person's offers and needs are closed: nothing new is matched on them.
            self._actor(t, contribution.contributor_id)
            self._actor(t, request.beneficiary_id)
            territory = self.territory(t)
            territory.check_programme(cmd.programme)
            required = territory.approvals_required(by.role.value)
            created = Match.reserve(new_id, contribution, request, cmd.quantity,
                                    operator_id=by.id, approvals_required=required,
                                    programme=cmd.programme)
            return created, contribution, request
        return attempt

    def _loaded_match(self, t: str, match_id: uuid.UUID) -> tuple[Match, Contribution, Request]:
        match = self.load(Match, match_id, t)
        return (match, self.load(Contribution, match.contribution_id, t),
                self.load(Request, match.request_id, t))

    def _approve(self, cmd: ApproveMatch, by: Principal, new_id: uuid.UUID) -> Attempt:
        self._allow(by, Action.APPROVE, cmd.territory)

        def attempt() -> Decided:
            match = self.load(Match, cmd.match_id, cmd.territory)
            if match.proposed_by == by.id:
                raise Forbidden(f"the proposer of match {match.id} cannot approve it (four eyes)")
            match.approve(by.id)
            return (match,)
        return attempt

    def _reject(self, cmd: RejectMatch, by: Principal, new_id: uuid.UUID) -> Attempt:
        self._allow(by, Action.APPROVE, cmd.territory)

        def attempt() -> Decided:
            match, contribution, request = self._loaded_match(cmd.territory, cmd.match_id)
            sealed = self._seal_for(request.beneficiary_id, cmd.reason)
            match.reject(sealed, contribution, request, operator_id=by.id)
            return match, contribution, request
        return attempt

    def _fulfil(self, cmd: Fulfil, by: Principal, new_id: uuid.UUID) -> Attempt:
        t = cmd.territory
        check_not_future(cmd.fulfilled_on, "fulfilled_on", self._today())

        def attempt() -> Decided:
            match, contribution, request = self._loaded_match(t, cmd.match_id)
            self._allow(by, Action.DELIVER, t, lambda: self._match_item(contribution, request))
            created = Fulfilment.record(
                new_id, match, contribution, request, cmd.quantity,
                fulfilled_on=cmd.fulfilled_on,
                note_sealed=self._seal_for(request.beneficiary_id, cmd.note),
                operator_id=by.id)
            return created, match, contribution, request
        return attempt

    def _cancel_match(self, cmd: CancelMatch, by: Principal, new_id: uuid.UUID) -> Attempt:
        def attempt() -> Decided:
            match, contribution, request = self._loaded_match(cmd.territory, cmd.match_id)
            self._allow(by, Action.DELIVER, cmd.territory,
                        lambda: self._match_item(contribution, request))
            sealed = self._seal_for(request.beneficiary_id, cmd.reason)
            match.cancel(sealed, contribution, request, operator_id=by.id)
            return match, contribution, request
        return attempt

    def _reverse_fulfilment(self, cmd: ReverseFulfilment, by: Principal,
                            new_id: uuid.UUID) -> Attempt:
        t = cmd.territory

        def attempt() -> Decided:
            fulfilment = self.load(Fulfilment, cmd.fulfilment_id, t)
            match, contribution, request = self._loaded_match(t, fulfilment.match_id)
            self._allow(by, Action.DELIVER, t, lambda: self._match_item(contribution, request))
            sealed = self._seal_for(request.beneficiary_id, cmd.reason)
            fulfilment.reverse(sealed, match, contribution, request, operator_id=by.id)
            return fulfilment, match, contribution, request
        return attempt

    def _withdraw_contribution(self, cmd: WithdrawContribution, by: Principal,
                               new_id: uuid.UUID) -> Attempt:
        def attempt() -> Decided:
            contribution = self.load(Contribution, cmd.contribution_id, cmd.territory)
            self._allow(by, Action.WITHDRAW, cmd.territory,
                        lambda: self._contribution_item(contribution))
            sealed = self._seal_for(contribution.contributor_id, cmd.reason)
            contribution.withdraw(sealed, operator_id=by.id)
            return (contribution,)
        return attempt

    def _withdraw_request(self, cmd: WithdrawRequest, by: Principal,
                          new_id: uuid.UUID) -> Attempt:
        def attempt() -> Decided:
            request = self.load(Request, cmd.request_id, cmd.territory)
            self._allow(by, Action.WITHDRAW, cmd.territory, lambda: self._request_item(request))
            sealed = self._seal_for(request.beneficiary_id, cmd.reason)
            request.withdraw(sealed, operator_id=by.id)
            return (request,)
        return attempt

    def _expire(self, cmd: Expire, by: Principal, new_id: uuid.UUID) -> Attempt:
        """End an offer past its valid_until or a need past its needed_by."""
        self._allow(by, Action.WITHDRAW, cmd.territory)
        cls: type[Contribution] | type[Request] = (
            Contribution if cmd.kind == "contribution" else Request)

        def attempt() -> Decided:
            expiring = self.load(cls, cmd.item_id, cmd.territory)
            expiring.expire(operator_id=by.id)
            return (expiring,)
        return attempt


App = LedgerApplication
HANDLERS: dict[type[Command], Handler] = {
    RegisterTerritory: Handler(App._register_territory, retried=False),
    DefineTheme: Handler(App._define_theme),
    SetApprovalPolicy: Handler(App._set_approval_policy),
    DefineProgramme: Handler(App._define_programme),
    RecordManagementCost: Handler(App._record_management_cost, resource=True, new=True),
    RecordFeedback: Handler(App._record_feedback),
    RegisterActor: Handler(App._register_actor, retried=False, new=True),
    EraseActor: Handler(App._erase_actor, after=App._erased),
    Pledge: Handler(App._pledge, retried=False, new=True),
    PostRequest: Handler(App._post_request, retried=False, new=True),
    MakeMatch: Handler(App._match, creates=Match, new=True),
    ApproveMatch: Handler(App._approve),
    RejectMatch: Handler(App._reject),
    Fulfil: Handler(App._fulfil, creates=Fulfilment, new=True),
    CancelMatch: Handler(App._cancel_match),
    ReverseFulfilment: Handler(App._reverse_fulfilment),
    WithdrawContribution: Handler(App._withdraw_contribution),
    WithdrawRequest: Handler(App._withdraw_request),
    Expire: Handler(App._expire),
}
