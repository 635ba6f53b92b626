"""The write service: loads aggregates, calls the domain, saves what changed in one go.

Personal data is sealed here, with the data subject's key, before it reaches an event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

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
from ledger.idempotency import CURRENT_CLAIM
from ledger.privacy import KeyStore, seal

A = TypeVar("A", bound=LedgerAggregate)
T = TypeVar("T")
CONFLICT_RETRIES = 5
EXPIRY_OPERATOR = "system:expiry"


class NotFound(Exception):
    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind


class AlreadyExists(Exception):
    """The aggregate id is taken (e.g. a territory code registered twice)."""


class ConcurrencyConflict(Exception):
    """Another operator changed the same items at the same time, too often to retry."""


@dataclass(frozen=True)
class Written:
    id: uuid.UUID
    position: int
    aggregate: LedgerAggregate


class LedgerApplication(Application[uuid.UUID]):
    name = "ledger"

    def __init__(self, env: dict[str, str], keys: KeyStore | None = None) -> None:
        super().__init__(env=env)
        self._keys = keys

    @property
    def keys(self) -> KeyStore:
        assert self._keys is not None, "this application instance only reads the event store"
        return self._keys

    # -- plumbing ---------------------------------------------------------------------------
    def load(self, cls: type[A], ident: uuid.UUID, territory: str | None = None) -> A:
        try:
            aggregate: LedgerAggregate = self.repository.get(ident)
        except AggregateNotFoundError:
            raise NotFound(cls.__name__.lower(), ident) from None
        if not isinstance(aggregate, cls) or (territory and aggregate.territory != territory):
            raise NotFound(cls.__name__.lower(), ident)
        return aggregate

    def territory(self, code: str) -> Territory:
        return self.load(Territory, Territory.id_for(code), code)

    def _save(self, primary: LedgerAggregate, *others: LedgerAggregate) -> Written:
        claim = CURRENT_CLAIM.get()
        extra = {"idempotency": (*claim, primary.id)} if claim else {}
        recordings = self.save(primary, *others, **extra)
        position = max(r.notification.id for r in recordings)
        return Written(primary.id, position, primary)

    def _create(self, build: Callable[[], A], *others: LedgerAggregate) -> Written:
        aggregate = build()
        try:
            return self._save(aggregate, *others)
        except IntegrityError:
            raise AlreadyExists(str(aggregate.id)) from None

    def _retrying(self, attempt: Callable[[], Written]) -> Written:
        """Optimistic concurrency: reload and re-check the rules, a bounded number of times."""
        for _ in range(CONFLICT_RETRIES):
            try:
                return attempt()
            except IntegrityError:
                continue
        raise ConcurrencyConflict("the items changed concurrently; try again")

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
    def register_territory(self, code: str, name: str, operator_id: str | None = None) -> Written:
        return self._create(lambda: Territory.register(code, name, operator_id=operator_id))

    def define_theme(self, code: str, theme: str, label: str,
                     operator_id: str | None = None) -> Written:
        def attempt() -> Written:
            territory = self.territory(code)
            territory.define_theme(theme, label, operator_id=operator_id)
            return self._save(territory)
        return self._retrying(attempt)

    def register_actor(self, actor_id: uuid.UUID, territory: str, kind: str,
                       display_name: str | None, personal: dict[str, Any] | None,
                       runts_id: str | None = None, employer_id: uuid.UUID | None = None,
                       operator_id: str | None = None) -> Written:
        self.territory(territory)
        if employer_id is not None:
            self._actor(territory, employer_id).check_can_employ()
        key = self.keys.create(actor_id)
        personal_kind = kind in {k.value for k in PERSONAL_KINDS}
        sealed_name = seal(key, actor_id, display_name) if personal_kind and display_name else None
        personal_sealed = seal(key, actor_id, personal) if personal else None
        return self._create(lambda: Actor.register(
            actor_id, territory, kind,
            display_name=None if personal_kind else display_name,
            display_name_sealed=sealed_name, personal_sealed=personal_sealed,
            runts_id=runts_id, employer_id=employer_id, operator_id=operator_id))

    def erase_actor(self, territory: str, actor_id: uuid.UUID,
                    operator_id: str | None = None) -> Written:
        actor = self._actor(territory, actor_id)
        actor.erase(operator_id=operator_id)
        written = self._save(actor)
        self.keys.destroy(actor_id)
        return written

    def pledge(self, contribution_id: uuid.UUID, territory: str, contributor_id: uuid.UUID,
               resource_kind: str, unit: str, quantity: int, theme: str, *,
               description: str | None = None, motivation: str | None = None,
               paid_time: bool | None = None, employer_id: uuid.UUID | None = None,
               valid_until: str | None = None, project_ref: str | None = None,
               operator_id: str | None = None) -> Written:
        self.territory(territory).check_theme(theme)
        contributor = self._actor(territory, contributor_id)
        employer = employer_id or getattr(contributor, "employer_id", None)
        if employer is not None:
            self._actor(territory, employer).check_can_employ()
        return self._create(lambda: Contribution.pledge(
            contribution_id, territory, contributor_id, resource_kind, unit, quantity, theme,
            description_sealed=self._seal_for(contributor_id, description),
            motivation=motivation, paid_time=paid_time, employer_id=employer,
            valid_until=valid_until, project_ref=project_ref, operator_id=operator_id))

    def post_request(self, request_id: uuid.UUID, territory: str, beneficiary_id: uuid.UUID,
                     resource_kind: str, unit: str, quantity: int, theme: str, *,
                     urgency: str | None = None, description: str | None = None,
                     needed_by: str | None = None, operator_id: str | None = None) -> Written:
        self.territory(territory).check_theme(theme)
        self._actor(territory, beneficiary_id)
        extra: dict[str, Any] = {"urgency": urgency} if urgency else {}
        return self._create(lambda: Request.post(
            request_id, territory, beneficiary_id, resource_kind, unit, quantity, theme,
            description_sealed=self._seal_for(beneficiary_id, description),
            needed_by=needed_by, operator_id=operator_id, **extra))

    def match(self, match_id: uuid.UUID, territory: str, contribution_id: uuid.UUID,
              request_id: uuid.UUID, quantity: int, operator_id: str | None = None) -> Written:
        def attempt() -> Written:
            contribution = self.load(Contribution, contribution_id, territory)
            request = self.load(Request, request_id, territory)
            created = Match.reserve(match_id, contribution, request, quantity,
                                    operator_id=operator_id)
            return self._save(created, contribution, request)
        return self._existing_or(Match, match_id, territory, lambda: self._retrying(attempt))

    def fulfil(self, fulfilment_id: uuid.UUID, territory: str, match_id: uuid.UUID,
               quantity: int, fulfilled_on: str | None = None, note: str | None = None,
               operator_id: str | None = None) -> Written:
        def attempt() -> Written:
            match = self.load(Match, match_id, territory)
            contribution = self.load(Contribution, match.contribution_id, territory)
            request = self.load(Request, match.request_id, territory)
            created = Fulfilment.record(
                fulfilment_id, match, contribution, request, quantity,
                fulfilled_on=fulfilled_on,
                note_sealed=self._seal_for(request.beneficiary_id, note), operator_id=operator_id)
            return self._save(created, match, contribution, request)
        return self._existing_or(Fulfilment, fulfilment_id, territory,
                                 lambda: self._retrying(attempt))

    def cancel_match(self, territory: str, match_id: uuid.UUID, reason: str | None = None,
                     operator_id: str | None = None) -> Written:
        def attempt() -> Written:
            match = self.load(Match, match_id, territory)
            contribution = self.load(Contribution, match.contribution_id, territory)
            request = self.load(Request, match.request_id, territory)
            sealed = self._seal_for(request.beneficiary_id, reason)
            match.cancel(sealed, contribution, request, operator_id=operator_id)
            return self._save(match, contribution, request)
        return self._retrying(attempt)

    def reverse_fulfilment(self, territory: str, fulfilment_id: uuid.UUID, reason: str,
                           operator_id: str | None = None) -> Written:
        def attempt() -> Written:
            fulfilment = self.load(Fulfilment, fulfilment_id, territory)
            match = self.load(Match, fulfilment.match_id, territory)
            contribution = self.load(Contribution, match.contribution_id, territory)
            request = self.load(Request, match.request_id, territory)
            sealed = self._seal_for(request.beneficiary_id, reason)
            fulfilment.reverse(sealed, match, contribution, request, operator_id=operator_id)
            return self._save(fulfilment, match, contribution, request)
        return self._retrying(attempt)

    def withdraw_contribution(self, territory: str, contribution_id: uuid.UUID,
                              reason: str | None = None,
                              operator_id: str | None = None) -> Written:
        def attempt() -> Written:
            contribution = self.load(Contribution, contribution_id, territory)
            sealed = self._seal_for(contribution.contributor_id, reason)
            contribution.withdraw(sealed, operator_id=operator_id)
            return self._save(contribution)
        return self._retrying(attempt)

    def withdraw_request(self, territory: str, request_id: uuid.UUID, reason: str | None = None,
                         operator_id: str | None = None) -> Written:
        def attempt() -> Written:
            request = self.load(Request, request_id, territory)
            sealed = self._seal_for(request.beneficiary_id, reason)
            request.withdraw(sealed, operator_id=operator_id)
            return self._save(request)
        return self._retrying(attempt)

    def expire(self, kind: str, territory: str, item_id: uuid.UUID,
               operator_id: str | None = EXPIRY_OPERATOR) -> Written:
        """End an offer past its valid_until or a need past its needed_by."""
        cls: type[Contribution] | type[Request] = Contribution if kind == "contribution" else Request

        def attempt() -> Written:
            item = self.load(cls, item_id, territory)
            item.expire(operator_id=operator_id)
            return self._save(item)
        return self._retrying(attempt)

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

