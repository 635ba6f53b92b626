"""Response models: what each route answers, as typed schemas in the OpenAPI document.

Routes declare them with ``response_model=..., response_model_exclude_unset=True`` and return
plain dicts: a field the dict leaves out is left out of the answer (not sent as null). That is
how personal data stays out of answers to roles that may not see it, so every field holding
personal data is optional here, and so are the ids a company may not see on fulfilments and
matches. Errors are documented with ``responses=problem_responses(...)`` as
``application/problem+json`` bodies of ``ProblemDetails``; ``install(app)`` puts that schema
in the document (``api.docs.install`` calls it).
"""

from __future__ import annotations

import datetime
import json
import uuid
from enum import StrEnum
from http import HTTPStatus
from typing import Annotated, Any, Generic, TypeVar

from fastapi import FastAPI
from pydantic import BaseModel, Field, StrictInt, field_validator

from api.schemas import Body
from ledger.access import Role
from ledger.domain.values import (
    ActorKind,
    Change,
    FundingSource,
    Motivation,
    ResourceKind,
    Unit,
    Urgency,
)

__all__ = [
    "AccessLogEntry", "AccessLogPage", "ActorKind", "ActorPage", "ActorPublic", "ApprovalPolicy",
    "ApprovalPolicyPublic", "AuditEntry", "AuditPage", "AuditVerification", "AuthMethod", "complete_openapi",
    "BalanceRow", "Balances", "ContributionPage", "ContributionPublic", "ContributionStatus",
    "FulfilmentPage", "FulfilmentPublic", "HistoryEntry", "HistoryPage", "KeyCreated",
    "KeyPage", "KeyPublic", "MatchPage", "MatchPublic", "MatchStatus", "Me", "Motivation", "Page",
    "PersonalPublic", "PROBLEM_DESCRIPTIONS", "PROBLEM_JSON", "ProblemDetails", "ProblemError", "RequestPage",
    "RequestPublic", "RequestStatus", "ResourceKind", "Role", "TerritoryCreated", "TerritoryPublic",
    "ThemeCreated", "ThemePage", "ThemePublic", "ThemeSource", "Unit", "Urgency", "install", "problem_responses",
]

PROBLEM_JSON = "application/problem+json"
_SCHEMAS = "#/components/schemas/"

T = TypeVar("T")

IstatCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="ISTAT code, 6 digits")]
Position = Annotated[int | None, Field(
    description="Event-store position of the last event the write recorded (write responses "
                "only; also in the Ledger-Position header)")]
Timestamp = Annotated[str, Field(description="ISO 8601 date and time")]


class ContributionStatus(StrEnum):
    PLEDGED = "pledged"
    PARTLY_ALLOCATED = "partly_allocated"
    FULLY_ALLOCATED = "fully_allocated"
    FULFILLED = "fulfilled"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class RequestStatus(StrEnum):
    OPEN = "open"
    PARTLY_MATCHED = "partly_matched"
    FULLY_MATCHED = "fully_matched"
    MET = "met"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class MatchStatus(StrEnum):
    PROPOSED = "proposed"
    RESERVED = "reserved"
    PARTLY_FULFILLED = "partly_fulfilled"
    FULFILLED = "fulfilled"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class ThemeSource(StrEnum):
    """Where a theme comes from (``ledger.domain.themes.ThemeSource``, as a named enum)."""

    CTS = "cts"
    AREA = "area"
    TERRITORY = "territory"


class AuthMethod(StrEnum):
    API_KEY = "api_key"
    OIDC = "oidc"
    DEV_TOKEN = "dev_token"  # noqa: S105 - a name, not a secret


# --- territories and themes -------------------------------------------------------------

class ApprovalPolicy(Body):
    """Regia comunale: matches made by these roles wait for ``approvers`` distinct approvals
    by municipality principals. Also the body of ``PUT .../approval-policy``."""

    required_for: list[Role] = Field(max_length=6, json_schema_extra={"uniqueItems": True})
    approvers: StrictInt = Field(ge=1, le=5)

    @field_validator("required_for")
    @classmethod
    def _unique(cls, roles: list[Role]) -> list[Role]:
        if len(set(roles)) != len(roles):
            raise ValueError("roles must not repeat")
        return roles


class ApprovalPolicyPublic(BaseModel):
    territory: str
    required_for: list[Role]
    approvers: int = Field(ge=0, le=5, description="0 when no policy is in force")
    position: Position = None


class TerritoryPublic(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    registered_at: Timestamp
    approval_policy: ApprovalPolicy | None = None
    position: Position = None


class TerritoryCreated(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    position: int


class ThemePublic(BaseModel):
    code: str
    label: str
    source: ThemeSource


class ThemeCreated(BaseModel):
    id: str = Field(description="the theme's code")
    code: str
    label: str
    source: ThemeSource
    position: int


# --- items --------------------------------------------------------------------------------

class PersonalPublic(BaseModel):
    full_name: str | None = None
    email: str | None = None
    phone: str | None = None
    fiscal_code: str | None = None


class ActorPublic(BaseModel):
    id: uuid.UUID
    territory: str
    kind: ActorKind
    display_name: str | None = Field(
        default=None, description="personal data: absent for roles that may not see it")
    personal: PersonalPublic | None = Field(
        default=None, description="personal data: absent for roles that may not see it")
    runts_id: str | None
    employer_id: uuid.UUID | None
    case_owner_id: uuid.UUID | None = Field(
        default=None, description="the ETS actor that follows this person")
    zone: str | None = None
    vat_number: str | None = None
    erased: bool
    position: Position = None


class ContributionPublic(BaseModel):
    id: uuid.UUID
    territory: str
    contributor_id: uuid.UUID
    employer_id: uuid.UUID | None
    resource_kind: ResourceKind
    unit: Unit
    quantity: int
    pledged: int
    reserved: int
    delivered: int
    available: int
    status: ContributionStatus
    theme: str
    description: str | None = Field(
        default=None, description="personal data: absent for roles that may not see it")
    motivation: Motivation | None
    paid_time: bool | None
    valid_until: datetime.date | None
    project_ref: str | None
    cost_eur_cent: int | None = None
    funding_source: FundingSource | None = None
    programme: str | None = None
    withdrawal_reason: str | None = Field(
        default=None, description="personal data: absent for roles that may not see it")
    position: Position = None


class RequestPublic(BaseModel):
    id: uuid.UUID
    territory: str
    beneficiary_id: uuid.UUID
    resource_kind: ResourceKind
    unit: Unit
    quantity: int
    requested: int
    reserved: int
    received: int
    open: int
    status: RequestStatus
    theme: str
    urgency: Urgency | None
    description: str | None = Field(
        default=None, description="personal data: absent for roles that may not see it")
    needed_by: datetime.date | None
    programme: str | None = None
    withdrawal_reason: str | None = Field(
        default=None, description="personal data: absent for roles that may not see it")
    case_owner_id: uuid.UUID | None = Field(
        default=None, description="the ETS actor that follows this need")
    position: Position = None


class MatchPublic(BaseModel):
    id: uuid.UUID
    territory: str
    contribution_id: uuid.UUID
    request_id: uuid.UUID | None = Field(default=None, description="absent for company principals")
    contributor_id: uuid.UUID
    beneficiary_id: uuid.UUID | None = Field(
        default=None, description="absent for company principals")
    resource_kind: ResourceKind
    unit: Unit
    theme: str | None
    quantity: int
    fulfilled: int
    remaining: int
    status: MatchStatus
    proposed_by: str | None = Field(
        default=None, description="operator id of the principal that proposed it, if proposed")
    approvals: list[str] = Field(default_factory=list, description="operator ids of the approvers")
    approvals_required: int = 0
    programme: str | None = None
    cancel_reason: str | None = Field(
        default=None, description="personal data: absent for roles that may not see it")
    reject_reason: str | None = Field(
        default=None, description="personal data: absent for roles that may not see it")
    position: Position = None


class FulfilmentPublic(BaseModel):
    id: uuid.UUID
    territory: str
    match_id: uuid.UUID
    contribution_id: uuid.UUID
    request_id: uuid.UUID | None = Field(default=None, description="absent for company principals")
    contributor_id: uuid.UUID
    beneficiary_id: uuid.UUID | None = Field(
        default=None, description="absent for company principals")
    resource_kind: ResourceKind
    unit: Unit
    quantity: int
    fulfilled_on: datetime.date | None
    programme: str | None = None
    satisfaction: int | None = None
    change: Change | None = None
    note: str | None = Field(
        default=None, description="personal data: absent for roles that may not see it")
    comment: str | None = Field(
        default=None, description="feedback comment; personal data: absent for roles that "
                                  "may not see it")
    reversed: bool
    reversal_reason: str | None = Field(
        default=None, description="personal data: absent for roles that may not see it")
    position: Position = None


class ProgrammePublic(BaseModel):
    territory: str
    code: str
    name: str
    starts_on: datetime.date | None
    ends_on: datetime.date | None
    partners: list[uuid.UUID]
    position: Position = None


class ManagementCostPublic(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    incurred_on: datetime.date
    eur_cent: int
    position: Position = None


# --- balances, history, audit -----------------------------------------------------------

class BalanceRow(BaseModel):
    resource_kind: ResourceKind
    unit: Unit
    pledged: int
    reserved: int
    delivered: int
    available: int
    received: int
    requested_open: int


class Balances(BaseModel):
    actor_id: uuid.UUID
    balances: list[BalanceRow]


class HistoryEntry(BaseModel):
    position: int
    seq: int
    roles: list[str] = Field(description="the parts the actor played: self, contributor, "
                                         "beneficiary, employer")
    type: str
    aggregate_id: uuid.UUID
    occurred_at: Timestamp
    operator_id: str | None
    data: dict[str, Any]


class AuditEntry(BaseModel):
    seq: int
    position: int
    event_id: uuid.UUID
    type: str
    aggregate_id: uuid.UUID
    occurred_at: Timestamp
    operator_id: str | None
    hash: str
    prev_hash: str


class AuditVerification(BaseModel):
    verified: bool
    count: int
    head_hash: str | None
    broken_at_seq: int | None = None
    reason: str | None = None


# --- keys, principals, access log ---------------------------------------------------------

class KeyPublic(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    territories: list[str]
    actor_id: uuid.UUID | None
    created_at: Timestamp
    created_by: str
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class KeyCreated(KeyPublic):
    token: str = Field(description="the secret; shown only in this answer")


class Me(BaseModel):
    id: str
    name: str
    role: Role
    territories: list[str]
    actor_id: uuid.UUID | None
    auth: AuthMethod


class AccessLogEntry(BaseModel):
    id: int
    at: Timestamp
    principal_id: str
    principal_role: Role
    subject_id: uuid.UUID
    route: str
    method: str


# --- pages --------------------------------------------------------------------------------

class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = Field(description="cursor for ?after= to get the next page; null at the end")


class ActorPage(Page[ActorPublic]):
    pass


class ContributionPage(Page[ContributionPublic]):
    pass


class RequestPage(Page[RequestPublic]):
    pass


class MatchPage(Page[MatchPublic]):
    pass


class FulfilmentPage(Page[FulfilmentPublic]):
    pass


class HistoryPage(Page[HistoryEntry]):
    pass


class AuditPage(Page[AuditEntry]):
    pass


class ThemePage(Page[ThemePublic]):
    pass


class KeyPage(Page[KeyPublic]):
    pass


class AccessLogPage(Page[AccessLogEntry]):
    pass


class ProgrammePage(Page[ProgrammePublic]):
    pass


class TerritoryPage(Page[TerritoryPublic]):
    pass


# --- reports ------------------------------------------------------------------------------

Explained = Field(default=None, description="with explain=true: the fulfilments behind this row")


class AsOf(BaseModel):
    position: int
    territories: dict[str, int] | None = None


class ThemeNeeds(BaseModel):
    theme: str
    posted: int
    met: int


class Needs(BaseModel):
    posted: int
    by_status: dict[str, int]
    by_theme: list[ThemeNeeds]
    by_urgency: dict[str, int]
    by_zone: dict[str, int]


class Delivered(BaseModel):
    resource_kind: ResourceKind
    unit: Unit
    quantity: int
    fulfilments: list[uuid.UUID] | None = Explained


class DeliveredByKind(Delivered):
    contributor_kind: ActorKind | None


class Wait(BaseModel):
    median: float | None
    p90: float | None


class FundingRow(BaseModel):
    source: str = Field(description="the pledge's funding_source, corporate_welfare, or the "
                                    "contributor's kind")
    eur_cent: int
    fulfilments: list[uuid.UUID] | None = Explained


class Reciprocity(BaseModel):
    beneficiaries: int
    also_contributed: int
    index: float | None


class FeedbackSummary(BaseModel):
    responses: int
    satisfaction_mean: float | None
    by_change: dict[str, int]


class ProgrammeCut(BaseModel):
    programme: str
    fulfilments: int
    beneficiaries: int


class Overview(BaseModel):
    territory: str
    from_: datetime.date = Field(alias="from")
    to: datetime.date
    programme: str | None
    needs: Needs
    delivered: list[Delivered]
    delivered_by_contributor_kind: list[DeliveredByKind]
    time_to_match_days: Wait
    time_to_fulfil_days: Wait
    funding_mix: list[FundingRow]
    reciprocity: Reciprocity
    contributors: int
    feedback: FeedbackSummary
    by_programme: list[ProgrammeCut]
    as_of: AsOf


class CsrInput(BaseModel):
    how: str = Field(description="cash, time, in_kind or management_costs")
    why: str = Field(description="the pledge's motivation, or unclassified")
    theme: str | None
    territory: str
    resource_kind: ResourceKind
    unit: Unit
    quantity: int
    eur_cent: int | None = Field(description="null: no declared cost (b4si-1)")
    fulfilments: list[uuid.UUID] | None = Explained


class CsrTotals(BaseModel):
    cash_eur_cent: int
    time_minutes: int
    time_eur_cent: int
    in_kind_eur_cent: int
    management_costs_eur_cent: int
    total_eur_cent: int
    corporate_welfare_eur_cent: int


class Leverage(BaseModel):
    employee_own_time_minutes: int
    employee_donations_eur_cent: int


class Outputs(BaseModel):
    beneficiaries: int | None = Field(description="null when fewer than 5 (suppressed)")
    beneficiaries_suppressed: bool
    activities: int
    employees_involved: int


class Gri2011(BaseModel):
    community_investments_eur_cent: int


class CsrReport(BaseModel):
    company_id: uuid.UUID
    vat_number: str | None = None
    from_: datetime.date = Field(alias="from")
    to: datetime.date
    method: str
    programme: str | None
    inputs: list[CsrInput]
    totals: CsrTotals
    leverage: Leverage
    outputs: Outputs
    gri_201_1: Gri2011
    references: dict[str, Any]
    as_of: AsOf


class EtsThemeHours(BaseModel):
    theme: str | None
    minutes: int
    fulfilments: int
    figurative_eur_cent: int
    fulfilment_ids: list[uuid.UUID] | None = Explained


class EtsReport(BaseModel):
    ets_id: uuid.UUID
    territory: str
    from_: datetime.date = Field(alias="from")
    to: datetime.date
    method: str
    source: dict[str, Any]
    level: str
    hourly_rate_eur_cent: int
    minutes: int
    figurative_eur_cent: int
    by_theme: list[EtsThemeHours]
    as_of: AsOf


class OpenDataRow(BaseModel):
    month: str
    theme: str | None
    resource_kind: ResourceKind
    unit: Unit
    contributor_kind: str
    fulfilments: int
    quantity: int
    beneficiaries: int | None = Field(description="empty when fewer than 5 (suppressed)")


class OpenDataPage(Page[OpenDataRow]):
    pass


# --- problems -----------------------------------------------------------------------------

class ProblemError(BaseModel):
    loc: list[str | int]
    msg: str


class ProblemDetails(BaseModel):
    """An error, as RFC 9457 problem details (media type application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None


PROBLEM_DESCRIPTIONS: dict[int, str] = {
    401: "missing or invalid credentials",
    403: "the role may not do this",
    404: "unknown id or territory outside the principal's",
    409: "rule violated or concurrent change",
    422: "malformed input",
    503: "database unreachable or projection not yet at min_position",
}


def _problem_response(status: int) -> dict[str, Any]:
    description = PROBLEM_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase
    return {"description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": _SCHEMAS + ProblemDetails.__name__}}}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each status as an application/problem+json body.

    No ``"model"`` key on purpose: FastAPI would put the model under the route's own media
    type (application/json) too. ``install(app)`` adds the referenced schema instead.
    """
    return {status: _problem_response(status) for status in statuses}


def _references(document: dict[str, Any], name: str) -> bool:
    return f'"{_SCHEMAS}{name}"' in json.dumps(document)


def complete_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """Put ProblemDetails in the components, and document FastAPI's automatic 422 (which the
    app answers as problem+json) as what it is."""
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            content = responses.get("422", {}).get("content", {})
            if content.get("application/json", {}).get("schema", {}).get("$ref") == (
                    _SCHEMAS + "HTTPValidationError"):
                responses["422"] = _problem_response(422)
    if _references(document, ProblemDetails.__name__):
        schema = ProblemDetails.model_json_schema(ref_template=_SCHEMAS + "{model}",
                                                  mode="serialization")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas.setdefault(ProblemDetails.__name__, schema)
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and not _references(document, unused):
            del schemas[unused]
    return document


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` complete the generated document (see ``complete_openapi``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_openapi(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
