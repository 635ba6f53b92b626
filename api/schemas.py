"""Request bodies. Unknown fields are refused; quantities are strict integers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from ledger.access import Role
from ledger.domain import ActorKind, Change, FundingSource, Motivation, ResourceKind, Unit, Urgency

Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=4000)]
Quantity = Annotated[StrictInt, Field(gt=0, le=10**15)]
IsoDate = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
ProgrammeCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,63}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """PostgreSQL text cannot hold NUL, and events are UTF-8: refuse both at the door."""
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("text must not contain NUL characters")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("text must be valid Unicode (no lone surrogates)") from None
        return value


class TerritoryCreate(Body):
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$", description="ISTAT code, 6 digits")]
    name: Text


class ThemeCreate(Body):
    code: Annotated[str, Field(min_length=2, max_length=64)]
    label: Text


class Personal(Body):
    full_name: Text | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    fiscal_code: Annotated[str, Field(max_length=32)] | None = None


class ActorCreate(Body):
    kind: ActorKind
    display_name: Text
    personal: Personal | None = None
    runts_id: Annotated[str, Field(max_length=64)] | None = None
    employer_id: uuid.UUID | None = None
    case_owner_id: uuid.UUID | None = Field(
        default=None, description="the ETS that follows this person (set by municipal keys; "
                                  "an ETS key always registers its own cases)")
    zone: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="district of the territory, for needs by zone")
    vat_number: Annotated[str, Field(pattern=r"^[A-Z0-9]{8,16}$")] | None = Field(
        default=None, description="a company's or ETS's VAT number (partita IVA)")


class ContributionCreate(Body):
    contributor_id: uuid.UUID
    resource_kind: ResourceKind
    unit: Unit
    quantity: Quantity
    theme: Annotated[str, Field(max_length=64)]
    description: LongText | None = None
    motivation: Motivation | None = None
    paid_time: StrictBool | None = None
    employer_id: uuid.UUID | None = None
    valid_until: IsoDate | None = None
    project_ref: Annotated[str, Field(max_length=100)] | None = None
    cost_eur_cent: Annotated[StrictInt, Field(gt=0, le=10**12)] | None = Field(
        default=None, description="declared cost to the giver (b4si-1): per hour for minute "
                                  "units, per kilogram for grams, per item; money takes none")
    funding_source: FundingSource | None = Field(
        default=None, description="money only: where it comes from, for the funding mix")
    programme: ProgrammeCode | None = None


class RequestCreate(Body):
    beneficiary_id: uuid.UUID
    resource_kind: ResourceKind
    unit: Unit
    quantity: Quantity
    theme: Annotated[str, Field(max_length=64)]
    urgency: Urgency | None = None
    description: LongText | None = None
    needed_by: IsoDate | None = None
    programme: ProgrammeCode | None = None


class MatchCreate(Body):
    contribution_id: uuid.UUID
    request_id: uuid.UUID
    quantity: Quantity
    programme: ProgrammeCode | None = Field(
        default=None, description="default: the need's programme, else the offer's")


class FulfilmentCreate(Body):
    quantity: Quantity
    fulfilled_on: IsoDate | None = None
    note: LongText | None = None


class Cancel(Body):
    reason: LongText | None = None


class Reverse(Body):
    reason: LongText


class Withdraw(Body):
    reason: LongText | None = None


class ProgrammeCreate(Body):
    code: ProgrammeCode
    name: Text
    starts_on: IsoDate | None = None
    ends_on: IsoDate | None = None
    partners: Annotated[list[uuid.UUID], Field(max_length=50)] = Field(
        default_factory=list, description="partner ETS actors (co-design, art. 55 CTS)")


class FeedbackCreate(Body):
    satisfaction: Annotated[StrictInt, Field(ge=1, le=5)]
    change: Change | None = None
    comment: LongText | None = None


class ManagementCostCreate(Body):
    incurred_on: IsoDate
    eur_cent: Quantity
    description: LongText | None = None


class Reject(Body):
    reason: LongText | None = None


class ApprovalPolicyUpdate(Body):
    required_for: Annotated[list[Role], Field(max_length=6)] = Field(
        description="roles whose matches wait for approval, e.g. [\"ets\"]; [] turns it off")
    approvers: Annotated[StrictInt, Field(ge=0, le=5)] = Field(
        description="distinct municipal approvals each such match needs")


class KeyCreate(Body):
    name: Text
    role: Role
    territories: Annotated[list[Annotated[str, Field(pattern=r"^[0-9]{6}$")]],
                           Field(max_length=100)] = Field(default_factory=list)
    actor_id: uuid.UUID | None = Field(
        default=None, description="the actor an ets or company key acts for (required for them)")

