"""Commands: what a caller asks the write service to do, as plain values.

HTTP, the CLI and imports build one of these and hand it to ``LedgerApplication.handle``
with the principal who asks and, if any, the idempotency claim it runs under. Who acts is
never part of a command: it is the principal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    territory: str


@dataclass(frozen=True)
class RegisterTerritory(Command):
    name: str


@dataclass(frozen=True)
class DefineTheme(Command):
    code: str
    label: str


@dataclass(frozen=True)
class SetApprovalPolicy(Command):
    required_for: tuple[str, ...]
    approvers: int


@dataclass(frozen=True)
class DefineProgramme(Command):
    code: str
    name: str
    starts_on: str | None = None
    ends_on: str | None = None
    partners: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True)
class RegisterActor(Command):
    kind: str
    display_name: str | None
    personal: dict[str, Any] | None = None
    runts_id: str | None = None
    employer_id: uuid.UUID | None = None
    case_owner_id: uuid.UUID | None = None
    zone: str | None = None
    vat_number: str | None = None


@dataclass(frozen=True)
class EraseActor(Command):
    actor_id: uuid.UUID


@dataclass(frozen=True)
class Pledge(Command):
    contributor_id: uuid.UUID
    resource_kind: str
    unit: str
    quantity: int
    theme: str
    description: str | None = None
    motivation: str | None = None
    paid_time: bool | None = None
    employer_id: uuid.UUID | None = None
    valid_until: str | None = None
    project_ref: str | None = None
    cost_eur_cent: int | None = None
    funding_source: str | None = None
    programme: str | None = None


@dataclass(frozen=True)
class PostRequest(Command):
    beneficiary_id: uuid.UUID
    resource_kind: str
    unit: str
    quantity: int
    theme: str
    urgency: str | None = None
    description: str | None = None
    needed_by: str | None = None
    programme: str | None = None


@dataclass(frozen=True)
class MakeMatch(Command):
    contribution_id: uuid.UUID
    request_id: uuid.UUID
    quantity: int
    programme: str | None = None


@dataclass(frozen=True)
class ApproveMatch(Command):
    match_id: uuid.UUID


@dataclass(frozen=True)
class RejectMatch(Command):
    match_id: uuid.UUID
    reason: str | None = None


@dataclass(frozen=True)
class Fulfil(Command):
    match_id: uuid.UUID
    quantity: int
    fulfilled_on: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class RecordFeedback(Command):
    fulfilment_id: uuid.UUID
    satisfaction: int
    change: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class RecordManagementCost(Command):
    company_id: uuid.UUID
    incurred_on: str
    eur_cent: int
    description: str | None = None


@dataclass(frozen=True)
class CancelMatch(Command):
    match_id: uuid.UUID
    reason: str | None = None


@dataclass(frozen=True)
class ReverseFulfilment(Command):
    fulfilment_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class WithdrawContribution(Command):
    contribution_id: uuid.UUID
    reason: str | None = None


@dataclass(frozen=True)
class WithdrawRequest(Command):
    request_id: uuid.UUID
    reason: str | None = None


@dataclass(frozen=True)
class Expire(Command):
    kind: str  # "contribution" or "request"
    item_id: uuid.UUID
