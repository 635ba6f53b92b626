"""Write endpoints: build the command, hand it to the write service, present the result."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import present
from api.deps import ContainerDep, WritesDep
from api.schemas import (
    ActorCreate,
    Cancel,
    ContributionCreate,
    Erase,
    FulfilmentCreate,
    MatchCreate,
    RequestCreate,
    Reverse,
    TerritoryCreate,
    ThemeCreate,
    Withdraw,
)
from api.writes import Outcome, Writes
from ledger.application import Written
from ledger.container import Container
from ledger.domain import LedgerAggregate
from ledger.privacy import KeyStore

router = APIRouter(prefix="/v1")


def _outcome(table: str, written: Written, keys: KeyStore) -> Outcome:
    row = present.aggregate_row(written.aggregate)
    body = present.present(table, row, keys)
    subject_field = present.SUBJECT_OF[table]
    subject = row.get(subject_field) if subject_field else None
    return Outcome(body, written.position, subject, present.PERSONAL_FIELDS[table])


def _recover(c: Container, table: str) -> Callable[[uuid.UUID, int], Outcome]:
    """Present what a command recorded before the API crashed, from the event store."""
    def recover(resource_id: uuid.UUID, position: int) -> Outcome:
        aggregate: LedgerAggregate = c.app.repository.get(resource_id)
        return _outcome(table, Written(resource_id, position, aggregate), c.keys)
    return recover


def _write(c: Container, w: Writes, table: str, scope: str, body: BaseModel | None,
           command: Callable[[uuid.UUID], Written]) -> JSONResponse:
    """Run command (given the id a new resource gets) and present the item it wrote."""
    return w.run(scope, body, lambda new_id: _outcome(table, command(new_id), c.keys),
                 _recover(c, table))


@router.post("/territories", status_code=201)
def create_territory(body: TerritoryCreate, c: ContainerDep, w: WritesDep) -> JSONResponse:
    def run(_: uuid.UUID) -> Outcome:
        written = c.app.register_territory(body.code, body.name, body.operator_id)
        return Outcome({"id": str(written.id), "code": body.code, "name": body.name},
                       written.position)
    def recover(territory_id: uuid.UUID, position: int) -> Outcome:
        return Outcome({"id": str(territory_id), "code": body.code, "name": body.name}, position)
    return w.run("POST /territories", body, run, recover)


@router.post("/territories/{t}/themes", status_code=201)
def create_theme(t: str, body: ThemeCreate, c: ContainerDep, w: WritesDep) -> JSONResponse:
    def run(_: uuid.UUID) -> Outcome:
        written = c.app.define_theme(t, body.code, body.label, body.operator_id)
        return Outcome({"id": body.code, "code": body.code, "label": body.label,
                        "source": "territory"}, written.position)
    def recover(_: uuid.UUID, position: int) -> Outcome:
        return Outcome({"id": body.code, "code": body.code, "label": body.label,
                        "source": "territory"}, position)
    return w.run(f"POST /territories/{t}/themes", body, run, recover)


@router.post("/territories/{t}/actors", status_code=201)
def create_actor(t: str, body: ActorCreate, c: ContainerDep, w: WritesDep) -> JSONResponse:
    def command(new_id: uuid.UUID) -> Written:
        personal = body.personal.model_dump(exclude_none=True) if body.personal else None
        return c.app.register_actor(new_id, t, body.kind, body.display_name, personal or None,
                                    body.runts_id, body.employer_id, body.operator_id)
    return _write(c, w, "actors", f"POST /territories/{t}/actors", body, command)


@router.post("/territories/{t}/actors/{actor_id}/erase", status_code=201)
def erase_actor(t: str, actor_id: uuid.UUID, c: ContainerDep, w: WritesDep,
                body: Erase | None = None) -> JSONResponse:
    def command(_: uuid.UUID) -> Written:
        return c.app.erase_actor(t, actor_id, body.operator_id if body else None)
    return _write(c, w, "actors", f"POST /territories/{t}/actors/{actor_id}/erase", body, command)


@router.post("/territories/{t}/contributions", status_code=201)
def pledge(t: str, body: ContributionCreate, c: ContainerDep, w: WritesDep) -> JSONResponse:
    def command(new_id: uuid.UUID) -> Written:
        return c.app.pledge(
            new_id, t, body.contributor_id, body.resource_kind, body.unit, body.quantity,
            body.theme, description=body.description, motivation=body.motivation,
            paid_time=body.paid_time, employer_id=body.employer_id,
            valid_until=body.valid_until, project_ref=body.project_ref,
            operator_id=body.operator_id)
    return _write(c, w, "contributions", f"POST /territories/{t}/contributions", body, command)


@router.post("/territories/{t}/requests", status_code=201)
def post_request(t: str, body: RequestCreate, c: ContainerDep, w: WritesDep) -> JSONResponse:
    def command(new_id: uuid.UUID) -> Written:
        return c.app.post_request(
            new_id, t, body.beneficiary_id, body.resource_kind, body.unit, body.quantity,
            body.theme, urgency=body.urgency, description=body.description,
            needed_by=body.needed_by, operator_id=body.operator_id)
    return _write(c, w, "requests", f"POST /territories/{t}/requests", body, command)


@router.post("/territories/{t}/matches", status_code=201)
def create_match(t: str, body: MatchCreate, c: ContainerDep, w: WritesDep) -> JSONResponse:
    def command(new_id: uuid.UUID) -> Written:
        return c.app.match(new_id, t, body.contribution_id, body.request_id, body.quantity,
                           body.operator_id)
    return _write(c, w, "matches", f"POST /territories/{t}/matches", body, command)


@router.post("/territories/{t}/matches/{match_id}/fulfilments", status_code=201)
def fulfil(t: str, match_id: uuid.UUID, body: FulfilmentCreate, c: ContainerDep,
           w: WritesDep) -> JSONResponse:
    def command(new_id: uuid.UUID) -> Written:
        return c.app.fulfil(new_id, t, match_id, body.quantity, body.fulfilled_on, body.note,
                            body.operator_id)
    return _write(c, w, "fulfilments", f"POST /territories/{t}/matches/{match_id}/fulfilments", body, command)


@router.post("/territories/{t}/matches/{match_id}/cancel", status_code=201)
def cancel_match(t: str, match_id: uuid.UUID, c: ContainerDep, w: WritesDep,
                 body: Cancel | None = None) -> JSONResponse:
    def command(_: uuid.UUID) -> Written:
        body_ = body or Cancel()
        return c.app.cancel_match(t, match_id, body_.reason, body_.operator_id)
    return _write(c, w, "matches", f"POST /territories/{t}/matches/{match_id}/cancel", body, command)


@router.post("/territories/{t}/fulfilments/{fulfilment_id}/reverse", status_code=201)
def reverse(t: str, fulfilment_id: uuid.UUID, body: Reverse, c: ContainerDep,
            w: WritesDep) -> JSONResponse:
    def command(_: uuid.UUID) -> Written:
        return c.app.reverse_fulfilment(t, fulfilment_id, body.reason, body.operator_id)
    return _write(c, w, "fulfilments", f"POST /territories/{t}/fulfilments/{fulfilment_id}/reverse", body, command)


@router.post("/territories/{t}/contributions/{item_id}/withdraw", status_code=201)
def withdraw_contribution(t: str, item_id: uuid.UUID, c: ContainerDep, w: WritesDep,
                          body: Withdraw | None = None) -> JSONResponse:
    def command(_: uuid.UUID) -> Written:
        body_ = body or Withdraw()
        return c.app.withdraw_contribution(t, item_id, body_.reason, body_.operator_id)
    return _write(c, w, "contributions", f"POST /territories/{t}/contributions/{item_id}/withdraw", body, command)


@router.post("/territories/{t}/requests/{item_id}/withdraw", status_code=201)
def withdraw_request(t: str, item_id: uuid.UUID, c: ContainerDep, w: WritesDep,
                     body: Withdraw | None = None) -> JSONResponse:
    def command(_: uuid.UUID) -> Written:
        body_ = body or Withdraw()
        return c.app.withdraw_request(t, item_id, body_.reason, body_.operator_id)
    return _write(c, w, "requests", f"POST /territories/{t}/requests/{item_id}/withdraw", body, command)
