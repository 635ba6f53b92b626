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
class RegisterActor(Command):
    kind: str
    display_name: str | None
    personal: dict[str, Any] | None = None
    runts_id: str | None = None
    employer_id: uuid.UUID | None = None
    case_owner_id: uuid.UUID | None = None


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


@dataclass(frozen=True)
class MakeMatch(Command):
    contribution_id: uuid.UUID
    request_id: uuid.UUID
    quantity: int


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
