"""Read endpoints: answers come from the projections, after waiting for min_position, and
show each principal what its role may see (ledger/access.py decides)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import StringConstraints

from api import models, present
from api.deps import ContainerDep, Fresh, PrincipalDep
from api.exports import Format, export
from api.problems import TYPE_BASE, Problem
from ledger import access
from ledger.access import Action, Principal, Role
from ledger.application import NotFound, require
from ledger.container import Container
from ledger.domain import BUILT_IN_THEMES

READ_PROBLEMS = models.problem_responses(401, 403, 404, 422, 503)
router = APIRouter(prefix="/v1", responses=READ_PROBLEMS, dependencies=[Fresh])
Limit = Annotated[int, Query(ge=1, le=500)]
FILES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}}


def _cursor(after: str | None) -> int:
    if after is None or after == "":
        return 0
    if not after.isdigit() or len(after) > 18:
        raise Problem(422, "Invalid cursor", "the cursor is not one this API gave out",
                      TYPE_BASE + "validation", errors=[{"loc": ["query", "after"],
                                                         "msg": "invalid cursor"}])
    return int(after)


def _page(items: list[dict[str, Any]], limit: int, key: str) -> dict[str, Any]:
    nxt = str(items[-1][key]) if len(items) == limit else None
    return {"items": items, "next": nxt}


def _territory(c: Container, t: str) -> dict[str, Any]:
    row = c.reads.territory(t)
    if row is None:
        raise NotFound("territory", t)
    return dict(row)


def record_of(c: Container, p: Principal, table: str, row: Mapping[str, Any]) -> access.Item:
    """The record as the rules see it: whose case it is and which company it belongs to
    (worked out only for the roles whose rights depend on it)."""
    kind = table.removesuffix("es") if table == "matches" else table.removesuffix("s")
    if p.role not in access.ACTING_ROLES:
        return access.Item(kind)
    people = {row["id"]} if table == "actors" else {
        row[f] for f in ("contributor_id", "beneficiary_id") if row.get(f)}
    links = c.reads.actor_links(people)
    cases = people | {links[x]["case_owner_id"] for x in people if x in links}
    contributor = links.get(row.get("contributor_id"), {})  # type: ignore[arg-type]
    companies = ({row["id"], row.get("employer_id")} if table == "actors" else
                 {row.get("contributor_id"), row.get("employer_id"), contributor.get("employer_id")})
    return access.item(kind, cases=tuple(cases), companies=tuple(companies))


def show(c: Container, p: Principal, request: Request, table: str, t: str,
         rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Items as the principal may see them; showing anyone's personal data is logged."""
    shown = present.present_for(p, table, rows, c.keys, c.reads.actor_links)
    if shown.opened:
        c.access_log.record(t, p, shown.opened, request.method, request.url.path)
    return shown.items


def _item(c: Container, p: Principal, request: Request, table: str, t: str,
          ident: uuid.UUID, action: Action = Action.READ) -> dict[str, Any]:
    row = c.reads.item(table, t, ident)
    if row is None:
        raise NotFound(table.rstrip("s"), ident)
    require(p, action, t, record_of(c, p, table, row))
    return show(c, p, request, table, t, [row])[0]


@router.get("/territories/{t}", response_model=models.TerritoryPublic,
            response_model_exclude_unset=True)
def get_territory(t: str, c: ContainerDep, p: PrincipalDep) -> dict[str, Any]:
    require(p, Action.READ, t, access.Item("territory"))
    return _territory_view(_territory(c, t))


def _territory_view(row: Mapping[str, Any]) -> dict[str, Any]:
    policy = None
    if row.get("required_for"):
        policy = {"required_for": row["required_for"], "approvers": row["approvers"]}
    return {"id": str(row["id"]), "code": row["code"], "name": row["name"],
            "registered_at": row["registered_at"].isoformat(), "approval_policy": policy}


@router.get("/territories/{t}/themes", response_model=models.ThemePage,
            response_model_exclude_unset=True)
def themes(t: str, c: ContainerDep, p: PrincipalDep) -> dict[str, Any]:
    require(p, Action.READ, t, access.Item("themes"))
    _territory(c, t)
    items = [{"code": th.code, "label": th.label, "source": th.source}
             for th in BUILT_IN_THEMES.values()]
    items += [{"code": r["code"], "label": r["label"], "source": "territory"}
              for r in c.reads.themes(t)]
    return {"items": items, "next": None}


@router.get("/territories/{t}/actors/{actor_id}", response_model=models.ActorPublic,
            response_model_exclude_unset=True)
def get_actor(t: str, actor_id: uuid.UUID, c: ContainerDep, p: PrincipalDep,
              request: Request) -> dict[str, Any]:
    return _item(c, p, request, "actors", t, actor_id)


@router.get("/territories/{t}/actors/{actor_id}/balances", response_model=models.Balances,
            response_model_exclude_unset=True)
def balances(t: str, actor_id: uuid.UUID, c: ContainerDep, p: PrincipalDep) -> dict[str, Any]:
    row = c.reads.item("actors", t, actor_id)
    if row is None:
        raise NotFound("actor", actor_id)
    require(p, Action.READ_REPORT, t, record_of(c, p, "actors", row))
    rows = c.reads.balances(t, actor_id)
    return {"actor_id": str(actor_id), "balances": [
        {k: r[k] for k in ("resource_kind", "unit", "pledged", "reserved", "delivered",
                           "available", "received", "requested_open")} for r in rows]}


@router.get("/territories/{t}/actors/{actor_id}/history", response_model=models.HistoryPage,
            response_model_exclude_unset=True)
def history(t: str, actor_id: uuid.UUID, c: ContainerDep, p: PrincipalDep,
            after: str | None = None, limit: Limit = 100) -> dict[str, Any]:
    """The actor's facts in order, each with the principal who recorded it. Sealed values
    (ciphertext) appear only for roles that may read this person's data."""
    row = c.reads.item("actors", t, actor_id)
    if row is None:
        raise NotFound("actor", actor_id)
    require(p, Action.READ, t, record_of(c, p, "actors", row))
    sealed_ok = bool(present.readable_subjects(p, {actor_id}, c.reads.actor_links))
    rows = c.reads.history(t, actor_id, _cursor(after), limit)
    items = [{"position": r["position"], "seq": r["seq"], "roles": r["roles"], "type": r["type"],
              "aggregate_id": str(r["aggregate_id"]), "occurred_at": r["occurred_at"].isoformat(),
              "operator_id": r["operator_id"],
              "data": r["data"] if sealed_ok else {k: v for k, v in r["data"].items()
                                                   if not k.endswith("_sealed")}} for r in rows]
    return _page(items, limit, "position")


Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.-]{1,64}$")]
Many = Annotated[list[Code] | None, Query(max_length=20)]


@dataclass
class Listing:
    """What every listing takes: a cursor page, inclusive days (Europe/Rome) and a format."""

    after: str | None = None
    limit: Limit = 100
    start: Annotated[date | None, Query(alias="from")] = None
    end: Annotated[date | None, Query(alias="to")] = None
    format: Format = Format.JSON
    table: Annotated[str | None, Query(max_length=64)] = None


ListingDep = Annotated[Listing, Depends()]
COMPANY_LISTS = frozenset({"actors", "contributions", "fulfilments"})
KIND_OF = {"actors": "actor", "contributions": "contribution", "requests": "request",
           "matches": "match", "fulfilments": "fulfilment"}


def _listing(c: Container, p: Principal, request: Request, table: str, t: str,
             filters: dict[str, Any], page: Listing, name_like: str | None = None) -> Any:
    # A company lists only what it and its employees gave (and itself and its employees);
    # needs and matches not at all.
    party = p.actor_id if p.role is Role.COMPANY and table in COMPANY_LISTS else None
    require(p, Action.READ, t, access.item(KIND_OF[table], companies=(party,)))
    _territory(c, t)
    rows = c.reads.listing(table, t, filters, _cursor(page.after), page.limit, party=party,
                           start=page.start, end=page.end, name_like=name_like)
    nxt = str(rows[-1]["created_position"]) if len(rows) == page.limit else None
    items = show(c, p, request, table, t, rows)
    if name_like is not None:  # people match by their name only where it may be read
        needle = name_like.casefold()
        items = [i for i in items if needle in str(i.get("display_name") or "").casefold()]
    return export({"items": items, "next": nxt}, page.format, "items", f"{table}-{t}", page.table)


@router.get("/territories", response_model=models.TerritoryPage, tags=["listings"])
def list_territories(c: ContainerDep, p: PrincipalDep) -> dict[str, Any]:
    """The territories this principal may see."""
    codes = None if p.role is Role.ADMIN else sorted(p.territories)
    return {"items": [_territory_view(r) for r in c.reads.territories(codes)], "next": None}


@router.get("/territories/{t}/programmes", response_model=models.ProgrammePage)
def list_programmes(t: str, c: ContainerDep, p: PrincipalDep) -> dict[str, Any]:
    require(p, Action.READ, t, access.Item("territory"))
    _territory(c, t)
    return {"items": [{"territory": r["territory"], "code": r["code"], "name": r["name"],
                       "starts_on": r["starts_on"], "ends_on": r["ends_on"],
                       "partners": [str(x) for x in r["partners"]]}
                      for r in c.reads.programmes(t)], "next": None}


@router.get("/territories/{t}/actors", response_model=models.ActorPage,
            response_model_exclude_unset=True, responses=FILES)
def list_actors(t: str, c: ContainerDep, p: PrincipalDep, request: Request, page: ListingDep,
                kind: Many = None,
                q: Annotated[str | None, Query(min_length=2, max_length=100,
                                               pattern=r"^[^\x00-\x1f]+$")] = None) -> Any:
    """Actors in the order they were registered. `q` searches names: organisations' for every
    role, people's only for roles that may read them."""
    return _listing(c, p, request, "actors", t, {"kind": kind}, page, name_like=q)


@router.get("/territories/{t}/contributions", response_model=models.ContributionPage,
            response_model_exclude_unset=True, responses=FILES)
def list_contributions(t: str, c: ContainerDep, p: PrincipalDep, request: Request,
                       page: ListingDep, status: Many = None, theme: Many = None,
                       resource_kind: Many = None, unit: Many = None, programme: Many = None,
                       contributor_id: uuid.UUID | None = None, employer_id: uuid.UUID | None = None
                       ) -> Any:
    """Offers in the order they were pledged; e.g. `status=pledged&status=partly_allocated`
    lists what can still be matched. A company key sees its own and its employees' only."""
    return _listing(c, p, request, "contributions", t, {
        "status": status, "theme": theme, "resource_kind": resource_kind, "unit": unit,
        "programme": programme, "contributor_id": contributor_id, "employer_id": employer_id},
        page)


@router.get("/territories/{t}/requests", response_model=models.RequestPage,
            response_model_exclude_unset=True, responses=FILES)
def list_requests(t: str, c: ContainerDep, p: PrincipalDep, request: Request, page: ListingDep,
                  status: Many = None, theme: Many = None,
                  resource_kind: Many = None, unit: Many = None, urgency: Many = None,
                  programme: Many = None, beneficiary_id: uuid.UUID | None = None) -> Any:
    """Needs in the order they were posted; e.g. `status=open&status=partly_matched` lists
    what still waits for help."""
    return _listing(c, p, request, "requests", t, {
        "status": status, "theme": theme, "resource_kind": resource_kind, "unit": unit,
        "urgency": urgency, "programme": programme, "beneficiary_id": beneficiary_id}, page)


@router.get("/territories/{t}/matches", response_model=models.MatchPage,
            response_model_exclude_unset=True, responses=FILES)
def list_matches(t: str, c: ContainerDep, p: PrincipalDep, request: Request, page: ListingDep,
                 status: Many = None, programme: Many = None,
                 contribution_id: uuid.UUID | None = None,
                 request_id: uuid.UUID | None = None) -> Any:
    """Matches in the order they were made; `status=proposed` is the approval queue."""
    return _listing(c, p, request, "matches", t, {
        "status": status, "programme": programme, "contribution_id": contribution_id,
        "request_id": request_id}, page)


@router.get("/territories/{t}/fulfilments", response_model=models.FulfilmentPage,
            response_model_exclude_unset=True, responses=FILES)
def list_fulfilments(t: str, c: ContainerDep, p: PrincipalDep, request: Request,
                     page: ListingDep, theme: Many = None, resource_kind: Many = None,
                     programme: Many = None, contributor_id: uuid.UUID | None = None,
                     beneficiary_id: uuid.UUID | None = None, match_id: uuid.UUID | None = None,
                     reversed: bool | None = None) -> Any:
    """Who gave what to whom: deliveries in the order they were recorded; `from`/`to` look at
    the day of delivery (`fulfilled_on`, else the day recorded)."""
    return _listing(c, p, request, "fulfilments", t, {
        "theme": theme, "resource_kind": resource_kind, "programme": programme,
        "contributor_id": contributor_id, "beneficiary_id": beneficiary_id,
        "match_id": match_id, "reversed": reversed}, page)


@router.get("/territories/{t}/contributions/{item_id}", response_model=models.ContributionPublic,
            response_model_exclude_unset=True)
def get_contribution(t: str, item_id: uuid.UUID, c: ContainerDep, p: PrincipalDep,
                     request: Request) -> dict[str, Any]:
    return _item(c, p, request, "contributions", t, item_id)


@router.get("/territories/{t}/requests/{item_id}", response_model=models.RequestPublic,
            response_model_exclude_unset=True)
def get_request(t: str, item_id: uuid.UUID, c: ContainerDep, p: PrincipalDep,
                request: Request) -> dict[str, Any]:
    return _item(c, p, request, "requests", t, item_id)


@router.get("/territories/{t}/matches/{item_id}", response_model=models.MatchPublic,
            response_model_exclude_unset=True)
def get_match(t: str, item_id: uuid.UUID, c: ContainerDep, p: PrincipalDep,
              request: Request) -> dict[str, Any]:
    return _item(c, p, request, "matches", t, item_id)


@router.get("/territories/{t}/fulfilments/{item_id}", response_model=models.FulfilmentPublic,
            response_model_exclude_unset=True)
def get_fulfilment(t: str, item_id: uuid.UUID, c: ContainerDep, p: PrincipalDep,
                   request: Request) -> dict[str, Any]:
    return _item(c, p, request, "fulfilments", t, item_id)


@router.get("/territories/{t}/audit", response_model=models.AuditPage,
            response_model_exclude_unset=True)
def audit(t: str, c: ContainerDep, p: PrincipalDep, after: str | None = None,
          limit: Limit = 100) -> dict[str, Any]:
    require(p, Action.READ_AUDIT, t)
    _territory(c, t)
    rows = c.reads.audit(t, _cursor(after), limit)
    items = [{"seq": r["seq"], "position": r["position"], "event_id": str(r["event_id"]),
              "type": r["type"], "aggregate_id": str(r["aggregate_id"]),
              "occurred_at": r["occurred_at"].isoformat(), "operator_id": r["operator_id"],
              "hash": r["hash"], "prev_hash": r["prev_hash"]} for r in rows]
    return _page(items, limit, "seq")


@router.get("/territories/{t}/audit/verify", response_model=models.AuditVerification,
            response_model_exclude_unset=True)
def verify(t: str, c: ContainerDep, p: PrincipalDep) -> dict[str, Any]:
    require(p, Action.READ_AUDIT, t)
    _territory(c, t)
    return c.reads.verify(t)


@router.get("/territories/{t}/access-log", response_model=models.AccessLogPage,
            response_model_exclude_unset=True)
def access_log(t: str, c: ContainerDep, p: PrincipalDep, subject_id: uuid.UUID | None = None,
               principal_id: Annotated[str | None, Query(max_length=200,
                                                         pattern=r"^[^\x00-\x1f]+$")] = None,
               after: str | None = None, limit: Limit = 100) -> dict[str, Any]:
    """Every response that showed personal data in clear: when, who, whose, which route."""
    require(p, Action.READ_ACCESS_LOG, t)
    _territory(c, t)
    rows = c.access_log.page(t, _cursor(after), limit, subject_id, principal_id)
    items = [{"id": r["id"], "at": r["at"].isoformat(), "principal_id": r["principal_id"],
              "principal_role": r["principal_role"], "subject_id": str(r["subject_id"]),
              "method": r["method"], "route": r["route"]} for r in rows]
    return _page(items, limit, "id")
