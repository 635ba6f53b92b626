"""Request bodies. Unknown fields are refused; quantities are strict integers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=4000)]
Quantity = Annotated[StrictInt, Field(gt=0, le=10**15)]
Operator = Annotated[str | None, Field(default=None, min_length=1, max_length=100)]
IsoDate = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]


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
    operator_id: Operator = None


class ThemeCreate(Body):
    code: Annotated[str, Field(min_length=2, max_length=64)]
    label: Text
    operator_id: Operator = None


class Personal(Body):
    full_name: Text | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    fiscal_code: Annotated[str, Field(max_length=32)] | None = None


class ActorCreate(Body):
    kind: Annotated[str, Field(max_length=32)]
    display_name: Text
    personal: Personal | None = None
    runts_id: Annotated[str, Field(max_length=64)] | None = None
    employer_id: uuid.UUID | None = None
    operator_id: Operator = None


class ContributionCreate(Body):
    contributor_id: uuid.UUID
    resource_kind: Annotated[str, Field(max_length=32)]
    unit: Annotated[str, Field(max_length=32)]
    quantity: Quantity
    theme: Annotated[str, Field(max_length=64)]
    description: LongText | None = None
    motivation: Annotated[str, Field(max_length=64)] | None = None
    paid_time: StrictBool | None = None
    employer_id: uuid.UUID | None = None
    valid_until: IsoDate | None = None
    project_ref: Annotated[str, Field(max_length=100)] | None = None
    operator_id: Operator = None


class RequestCreate(Body):
    beneficiary_id: uuid.UUID
    resource_kind: Annotated[str, Field(max_length=32)]
    unit: Annotated[str, Field(max_length=32)]
    quantity: Quantity
    theme: Annotated[str, Field(max_length=64)]
    urgency: Annotated[str, Field(max_length=32)] | None = None
    description: LongText | None = None
    needed_by: IsoDate | None = None
    operator_id: Operator = None


class MatchCreate(Body):
    contribution_id: uuid.UUID
    request_id: uuid.UUID
    quantity: Quantity
    operator_id: Operator = None


class FulfilmentCreate(Body):
    quantity: Quantity
    fulfilled_on: IsoDate | None = None
    note: LongText | None = None
    operator_id: Operator = None


class Cancel(Body):
    reason: LongText | None = None
    operator_id: Operator = None


class Reverse(Body):
    reason: LongText
    operator_id: Operator = None


class Withdraw(Body):
    reason: LongText | None = None
    operator_id: Operator = None


class Erase(Body):
    operator_id: Operator = None
