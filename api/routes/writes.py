"""Write endpoints: build the command, hand it to the write service with the principal,
present what it wrote as the principal may see it."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import models, present
from api.deps import ContainerDep, PrincipalDep, WritesDep
from api.routes.reads import show
from api.schemas import (
    ActorCreate,
    ApprovalPolicyUpdate,
    Cancel,
    ContributionCreate,
    FeedbackCreate,
    FulfilmentCreate,
    ManagementCostCreate,
    MatchCreate,
    ProgrammeCreate,
    Reject,
    RequestCreate,
    Reverse,
    TerritoryCreate,
    ThemeCreate,
    Withdraw,
)
from api.writes import Outcome, route_of
from ledger import commands as cmd
from ledger.access import Principal
from ledger.application import Claim, Written
from ledger.container import Container
from ledger.domain import LedgerAggregate

WRITE_PROBLEMS = models.problem_responses(401, 403, 404, 409, 422, 503)
router = APIRouter(prefix="/v1", responses=WRITE_PROBLEMS)


class Presenter:
    """Presents what a command wrote, for its principal, logging any personal data shown."""

    def __init__(self, c: Container, principal: Principal, request: Request, table: str) -> None:
        self.c, self.principal, self.request, self.table = c, principal, request, table

    def __call__(self, written: Written) -> Outcome:
        row = present.aggregate_row(written.aggregate)
        (item,) = show(self.c, self.principal, self.request, self.table,
                       written.aggregate.territory, [row])
        subject = row.get(present.SUBJECT_OF[self.table])
        return Outcome(item, written.position, subject, present.PERSONAL_FIELDS[self.table])

    def recover(self, resource_id: uuid.UUID, position: int) -> Outcome:
        """Present what a command recorded before the API crashed, from the event store."""
        aggregate: LedgerAggregate = self.c.app.repository.get(resource_id)
        return self(Written(resource_id, position, aggregate))


def _write(c: Container, w: WritesDep, principal: Principal, request: Request, table: str,
           body: BaseModel | None, command: cmd.Command) -> JSONResponse:
    """Run a command once per Idempotency-Key and present the item it wrote."""
    show = Presenter(c, principal, request, table)

    def run(new_id: uuid.UUID, claim: Claim | None) -> Outcome:
        return show(c.app.handle(command, principal, new_id, claim))
    return w.run(route_of(request), body, run, show.recover)


def _plain(c: Container, w: WritesDep, principal: Principal, request: Request,
           body: BaseModel, command: cmd.Command,
           answer: Callable[[uuid.UUID], dict[str, object]]) -> JSONResponse:
    """A write whose answer is built from the request itself and the id of what it made
    (territories, themes, policy, management costs)."""
    def run(new_id: uuid.UUID, claim: Claim | None) -> Outcome:
        written = c.app.handle(command, principal, new_id, claim)
        return Outcome(answer(written.id), written.position)

    def recover(resource_id: uuid.UUID, position: int) -> Outcome:
        return Outcome(answer(resource_id), position)
    return w.run(route_of(request), body, run, recover)


@router.post("/territories", status_code=201, response_model=models.TerritoryCreated)
def create_territory(body: TerritoryCreate, c: ContainerDep, w: WritesDep, p: PrincipalDep,
                     request: Request) -> JSONResponse:
    return _plain(c, w, p, request, body, cmd.RegisterTerritory(body.code, body.name),
                  lambda ident: {"id": str(ident), "code": body.code, "name": body.name})


@router.post("/territories/{t}/themes", status_code=201, response_model=models.ThemeCreated)
def create_theme(t: str, body: ThemeCreate, c: ContainerDep, w: WritesDep, p: PrincipalDep,
                 request: Request) -> JSONResponse:
    return _plain(c, w, p, request, body, cmd.DefineTheme(t, body.code, body.label),
                  lambda _: {"id": body.code, "code": body.code, "label": body.label,
                             "source": "territory"})


@router.put("/territories/{t}/approval-policy", status_code=201, response_model=models.ApprovalPolicyPublic)
def set_approval_policy(t: str, body: ApprovalPolicyUpdate, c: ContainerDep, w: WritesDep,
                        p: PrincipalDep, request: Request) -> JSONResponse:
    """Regia comunale: matches made by keys of the listed roles wait for `approvers`
    approvals by distinct municipal operators (never the proposer)."""
    roles = tuple(sorted({r.value for r in body.required_for}))
    return _plain(c, w, p, request, body, cmd.SetApprovalPolicy(t, roles, body.approvers),
                  lambda _: {"territory": t, "required_for": list(roles),
                             "approvers": body.approvers if roles else 0})


@router.post("/territories/{t}/actors", status_code=201, response_model=models.ActorPublic)
def create_actor(t: str, body: ActorCreate, c: ContainerDep, w: WritesDep, p: PrincipalDep,
                 request: Request) -> JSONResponse:
    personal = body.personal.model_dump(exclude_none=True) if body.personal else None
    command = cmd.RegisterActor(t, body.kind, body.display_name, personal or None,
                                body.runts_id, body.employer_id, body.case_owner_id, body.zone,
                                body.vat_number)
    return _write(c, w, p, request, "actors", body, command)


@router.post("/territories/{t}/actors/{actor_id}/erase", status_code=201, response_model=models.ActorPublic)
def erase_actor(t: str, actor_id: uuid.UUID, c: ContainerDep, w: WritesDep, p: PrincipalDep,
                request: Request) -> JSONResponse:
    """GDPR erasure: the person's key is destroyed, their open offers and needs withdrawn;
    facts and amounts stay and the person reads as erased."""
    return _write(c, w, p, request, "actors", None, cmd.EraseActor(t, actor_id))


@router.post("/territories/{t}/contributions", status_code=201, response_model=models.ContributionPublic)
def pledge(t: str, body: ContributionCreate, c: ContainerDep, w: WritesDep, p: PrincipalDep,
           request: Request) -> JSONResponse:
    command = cmd.Pledge(t, body.contributor_id, body.resource_kind, body.unit, body.quantity,
                         body.theme, body.description, body.motivation, body.paid_time,
                         body.employer_id, body.valid_until, body.project_ref,
                         body.cost_eur_cent, body.funding_source, body.programme)
    return _write(c, w, p, request, "contributions", body, command)


@router.post("/territories/{t}/requests", status_code=201, response_model=models.RequestPublic)
def post_request(t: str, body: RequestCreate, c: ContainerDep, w: WritesDep, p: PrincipalDep,
                 request: Request) -> JSONResponse:
    command = cmd.PostRequest(t, body.beneficiary_id, body.resource_kind, body.unit,
                              body.quantity, body.theme, body.urgency, body.description,
                              body.needed_by, body.programme)
    return _write(c, w, p, request, "requests", body, command)


@router.post("/territories/{t}/matches", status_code=201, response_model=models.MatchPublic)
def create_match(t: str, body: MatchCreate, c: ContainerDep, w: WritesDep, p: PrincipalDep,
                 request: Request) -> JSONResponse:
    """Reserves both sides. Under the territory's approval policy a match made by a listed
    role is `proposed` and cannot be fulfilled until approved."""
    command = cmd.MakeMatch(t, body.contribution_id, body.request_id, body.quantity,
                            body.programme)
    return _write(c, w, p, request, "matches", body, command)


@router.post("/territories/{t}/matches/{match_id}/approve", status_code=201, response_model=models.MatchPublic)
def approve_match(t: str, match_id: uuid.UUID, c: ContainerDep, w: WritesDep, p: PrincipalDep,
                  request: Request) -> JSONResponse:
    """One municipal approval of a proposed match (never by its proposer)."""
    return _write(c, w, p, request, "matches", None, cmd.ApproveMatch(t, match_id))


@router.post("/territories/{t}/matches/{match_id}/reject", status_code=201, response_model=models.MatchPublic)
def reject_match(t: str, match_id: uuid.UUID, c: ContainerDep, w: WritesDep, p: PrincipalDep,
                 request: Request, body: Reject | None = None) -> JSONResponse:
    """Rejects a proposed match: what it reserved goes back to both sides."""
    command = cmd.RejectMatch(t, match_id, body.reason if body else None)
    return _write(c, w, p, request, "matches", body, command)


@router.post("/territories/{t}/matches/{match_id}/fulfilments", status_code=201, response_model=models.FulfilmentPublic)
def fulfil(t: str, match_id: uuid.UUID, body: FulfilmentCreate, c: ContainerDep, w: WritesDep,
           p: PrincipalDep, request: Request) -> JSONResponse:
    command = cmd.Fulfil(t, match_id, body.quantity, body.fulfilled_on, body.note)
    return _write(c, w, p, request, "fulfilments", body, command)


@router.post("/territories/{t}/matches/{match_id}/cancel", status_code=201, response_model=models.MatchPublic)
def cancel_match(t: str, match_id: uuid.UUID, c: ContainerDep, w: WritesDep, p: PrincipalDep,
                 request: Request, body: Cancel | None = None) -> JSONResponse:
    command = cmd.CancelMatch(t, match_id, body.reason if body else None)
    return _write(c, w, p, request, "matches", body, command)


@router.post("/territories/{t}/fulfilments/{fulfilment_id}/reverse", status_code=201,
             response_model=models.FulfilmentPublic)
def reverse(t: str, fulfilment_id: uuid.UUID, body: Reverse, c: ContainerDep, w: WritesDep,
            p: PrincipalDep, request: Request) -> JSONResponse:
    command = cmd.ReverseFulfilment(t, fulfilment_id, body.reason)
    return _write(c, w, p, request, "fulfilments", body, command)


@router.post("/territories/{t}/contributions/{item_id}/withdraw", status_code=201,
             response_model=models.ContributionPublic)
def withdraw_contribution(t: str, item_id: uuid.UUID, c: ContainerDep, w: WritesDep,
                          p: PrincipalDep, request: Request,
                          body: Withdraw | None = None) -> JSONResponse:
    command = cmd.WithdrawContribution(t, item_id, body.reason if body else None)
    return _write(c, w, p, request, "contributions", body, command)


@router.post("/territories/{t}/requests/{item_id}/withdraw", status_code=201, response_model=models.RequestPublic)
def withdraw_request(t: str, item_id: uuid.UUID, c: ContainerDep, w: WritesDep,
                     p: PrincipalDep, request: Request,
                     body: Withdraw | None = None) -> JSONResponse:
    command = cmd.WithdrawRequest(t, item_id, body.reason if body else None)
    return _write(c, w, p, request, "requests", body, command)


@router.post("/territories/{t}/programmes", status_code=201,
             response_model=models.ProgrammePublic)
def define_programme(t: str, body: ProgrammeCreate, c: ContainerDep, w: WritesDep,
                     p: PrincipalDep, request: Request) -> JSONResponse:
    """A co-programming / co-design programme (art. 55 CTS); offers, needs and matches may
    name it, and every report can be cut by it."""
    command = cmd.DefineProgramme(t, body.code, body.name, body.starts_on, body.ends_on,
                                  tuple(body.partners))
    return _plain(c, w, p, request, body, command, lambda _: {
        "territory": t, "code": body.code, "name": body.name, "starts_on": body.starts_on,
        "ends_on": body.ends_on, "partners": [str(x) for x in body.partners]})


@router.post("/territories/{t}/fulfilments/{fulfilment_id}/feedback", status_code=201,
             response_model=models.FulfilmentPublic)
def record_feedback(t: str, fulfilment_id: uuid.UUID, body: FeedbackCreate, c: ContainerDep,
                    w: WritesDep, p: PrincipalDep, request: Request) -> JSONResponse:
    """Once per delivery, by the beneficiary's operator: satisfaction 1..5 and the depth of
    change (none, connect, improve, transform); the comment is sealed like every free text."""
    command = cmd.RecordFeedback(t, fulfilment_id, body.satisfaction, body.change, body.comment)
    return _write(c, w, p, request, "fulfilments", body, command)


@router.post("/territories/{t}/actors/{company_id}/management-costs", status_code=201,
             response_model=models.ManagementCostPublic)
def record_management_cost(t: str, company_id: uuid.UUID, body: ManagementCostCreate,
                           c: ContainerDep, w: WritesDep, p: PrincipalDep,
                           request: Request) -> JSONResponse:
    """A company's cost of running its community programme (B4SI management costs), counted
    by `incurred_on`."""
    command = cmd.RecordManagementCost(t, company_id, body.incurred_on, body.eur_cent,
                                       body.description)
    return _plain(c, w, p, request, body, command, lambda cost_id: {
        "id": str(cost_id), "company_id": str(company_id), "incurred_on": body.incurred_on,
        "eur_cent": body.eur_cent})
