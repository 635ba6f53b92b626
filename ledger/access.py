"""Who may do what: every permission is decided here, from the principal and the record.

Pure (no I/O): callers describe the record as an ``Item`` (whose case it is, which company it
belongs to) and ask ``decide``. The answer is ``ALLOW``, ``FORBID`` (403: the role may not do
this) or ``HIDE`` (404: the territory, or the record, is none of the principal's business).

Roles (CONTRACT.md, "Who may do what"):
- ``admin``: everything, in every territory, except reading personal data in clear and
  approving matches (four eyes belong to the Comune's operators).
- ``municipality``: everything in its territories (regia comunale), except creating
  territories and admin keys.
- ``ets``: acts for its ``actor_id``: registers the people it follows (its cases), offers what
  it gives, posts needs of its cases, proposes matches, records deliveries of its cases.
  Reads the territory's offers and needs; personal data only of its own cases.
- ``company``: reads its own actor, its and its employees' contributions and deliveries, and
  its reports; never a beneficiary's identity or need text; writes nothing.
- ``auditor``: reads every fact, the audit trail, the access log and reports; no personal data.
- ``service``: reads projections (items, audit trail, reports); no personal data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import Enum, StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MUNICIPALITY = "municipality"
    ETS = "ets"
    COMPANY = "company"
    AUDITOR = "auditor"
    SERVICE = "service"


# Roles that act for an actor of the ledger, so their keys name one.
ACTING_ROLES = frozenset({Role.ETS, Role.COMPANY})


class Action(StrEnum):
    READ = "read"                      # an item, a listing, a territory, themes
    READ_PERSONAL = "read_personal"    # personal data of the item's data subject, in clear
    READ_REPORT = "read_report"        # balances and reports
    READ_AUDIT = "read_audit"          # the audit trail, chain verification, proofs
    READ_ACCESS_LOG = "read_access_log"
    REGISTER_TERRITORY = "register_territory"
    CONFIGURE = "configure"            # themes, approval policy
    REGISTER_ACTOR = "register_actor"
    ERASE = "erase"
    PLEDGE = "pledge"
    POST_REQUEST = "post_request"
    MATCH = "match"
    DELIVER = "deliver"                # fulfil, cancel a match, reverse a fulfilment
    WITHDRAW = "withdraw"
    APPROVE = "approve"                # approve or reject a proposed match
    FEEDBACK = "feedback"              # the beneficiary's judgement of a delivery
    RECORD_COST = "record_cost"        # a company's management costs
    MANAGE_KEYS = "manage_keys"


class Decision(Enum):
    ALLOW = "allow"
    FORBID = "forbid"
    HIDE = "hide"


ALLOW, FORBID, HIDE = Decision.ALLOW, Decision.FORBID, Decision.HIDE


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key or an OIDC identity. ``id`` is the operator on events."""

    id: str
    name: str
    role: Role
    territories: frozenset[str] = frozenset()
    actor_id: uuid.UUID | None = None
    auth: str = "api_key"

    def sees(self, territory: str) -> bool:
        return self.role is Role.ADMIN or territory in self.territories


@dataclass(frozen=True)
class Item:
    """What the rules need to know of a record.

    ``cases``: the actors for whom it is "their own" as an ETS (the ETS itself, and the ETS
    that follows the person concerned). ``companies``: the actors for whom it is "their own"
    as a company (the company, and the employer of the employee concerned).
    """

    kind: str
    cases: frozenset[uuid.UUID] = field(default_factory=frozenset)
    companies: frozenset[uuid.UUID] = field(default_factory=frozenset)


def item(kind: str, *, cases: tuple[uuid.UUID | None, ...] = (),
         companies: tuple[uuid.UUID | None, ...] = ()) -> Item:
    return Item(kind, frozenset(c for c in cases if c is not None),
                frozenset(c for c in companies if c is not None))


def owns(principal: Principal, record: Item | None) -> bool:
    if record is None or principal.actor_id is None:
        return False
    if principal.role is Role.ETS:
        return principal.actor_id in record.cases
    if principal.role is Role.COMPANY:
        return principal.actor_id in record.companies
    return False


READERS = frozenset({Role.ADMIN, Role.MUNICIPALITY, Role.ETS, Role.AUDITOR, Role.SERVICE})
# What an ETS may do only on its own cases and offers.
ETS_OWN = frozenset({Action.PLEDGE, Action.POST_REQUEST, Action.MATCH, Action.DELIVER,
                     Action.WITHDRAW, Action.READ_REPORT, Action.READ_PERSONAL, Action.FEEDBACK})
COMPANY_OWN = frozenset({Action.READ, Action.READ_REPORT})
# Kinds of record a company may read at all (its own ones).
COMPANY_READS = frozenset({"territory", "actor", "contribution", "fulfilment", "match", "themes"})


def decide(principal: Principal, action: Action, territory: str | None,
           record: Item | None = None) -> Decision:
    """The one answer to "may this principal do this, there, to that"."""
    if territory is not None and not principal.sees(territory):
        return HIDE
    role = principal.role
    if role is Role.ADMIN:
        return FORBID if action in (Action.READ_PERSONAL, Action.APPROVE) else ALLOW
    if action is Action.REGISTER_TERRITORY:
        return FORBID
    if role is Role.MUNICIPALITY:
        return ALLOW
    if action is Action.READ:
        if role is Role.COMPANY:
            if record is None or record.kind not in COMPANY_READS:
                return FORBID
            if record.kind in ("territory", "themes"):
                return ALLOW
            return ALLOW if owns(principal, record) else FORBID
        return ALLOW
    if action in (Action.READ_AUDIT, Action.READ_REPORT) and role in (Role.AUDITOR, Role.SERVICE):
        return ALLOW
    if action is Action.READ_ACCESS_LOG:
        return ALLOW if role is Role.AUDITOR else FORBID
    if role is Role.ETS:
        if action is Action.REGISTER_ACTOR:
            # The people it follows; the write service makes them its cases.
            return ALLOW if record is None or record.kind in ("citizen", "household") else FORBID
        if action in ETS_OWN:
            return ALLOW if owns(principal, record) else FORBID
        return FORBID
    if role is Role.COMPANY and action in COMPANY_OWN:
        return ALLOW if owns(principal, record) else FORBID
    return FORBID


def may_read_personal(principal: Principal, subject_cases: frozenset[uuid.UUID] | None) -> bool:
    """Personal data of one data subject; ``subject_cases`` = {the subject, its case owner}."""
    if principal.role is Role.MUNICIPALITY:
        return True
    return principal.role is Role.ETS and subject_cases is not None and owns(
        principal, Item("actor", cases=subject_cases))


def may_grant(principal: Principal, role: Role, territories: frozenset[str]) -> Decision:
    """Creating, listing or revoking a key of ``role`` for ``territories``."""
    if principal.role is Role.ADMIN:
        return ALLOW
    if principal.role is not Role.MUNICIPALITY:
        return FORBID
    if not territories or not territories <= principal.territories:
        return HIDE
    return FORBID if role is Role.ADMIN else ALLOW
