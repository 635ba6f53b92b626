"""Read endpoints: answers come from the projections, after waiting for min_position."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import StringConstraints

from api import present
from api.deps import ContainerDep, Fresh
from api.problems import TYPE_BASE, Problem
from ledger.application import NotFound
from ledger.domain import BUILT_IN_THEMES

router = APIRouter(prefix="/v1", dependencies=[Fresh])
Limit = Annotated[int, Query(ge=1, le=500)]


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


def _territory(c: Any, t: str) -> dict[str, Any]:
    row = c.reads.territory(t)
    if row is None:
        raise NotFound("territory", t)
    return dict(row)


def _item(c: Any, table: str, t: str, ident: uuid.UUID) -> dict[str, Any]:
    row = c.reads.item(table, t, ident)
    if row is None:
        raise NotFound(table.rstrip("s"), ident)
    return present.present(table, row, c.keys)


@router.get("/territories/{t}")
def get_territory(t: str, c: ContainerDep) -> dict[str, Any]:
    row = _territory(c, t)
    return {"id": str(row["id"]), "code": row["code"], "name": row["name"],
            "registered_at": row["registered_at"].isoformat()}


@router.get("/territories/{t}/themes")
def themes(t: str, c: ContainerDep) -> dict[str, Any]:
    _territory(c, t)
    items = [{"code": th.code, "label": th.label, "source": th.source}
             for th in BUILT_IN_THEMES.values()]
    items += [{"code": r["code"], "label": r["label"], "source": "territory"}
              for r in c.reads.themes(t)]
    return {"items": items, "next": None}


@router.get("/territories/{t}/actors/{actor_id}")
def get_actor(t: str, actor_id: uuid.UUID, c: ContainerDep) -> dict[str, Any]:
    return _item(c, "actors", t, actor_id)


@router.get("/territories/{t}/actors/{actor_id}/balances")
def balances(t: str, actor_id: uuid.UUID, c: ContainerDep) -> dict[str, Any]:
    _item(c, "actors", t, actor_id)
    rows = c.reads.balances(t, actor_id)
    return {"actor_id": str(actor_id), "balances": [
        {k: r[k] for k in ("resource_kind", "unit", "pledged", "reserved", "delivered",
                           "available", "received", "requested_open")} for r in rows]}


@router.get("/territories/{t}/actors/{actor_id}/history")
def history(t: str, actor_id: uuid.UUID, c: ContainerDep, after: str | None = None,
            limit: Limit = 100) -> dict[str, Any]:
    _item(c, "actors", t, actor_id)
    rows = c.reads.history(t, actor_id, _cursor(after), limit)
    items = [{"position": r["position"], "seq": r["seq"], "roles": r["roles"], "type": r["type"],
              "aggregate_id": str(r["aggregate_id"]), "occurred_at": r["occurred_at"].isoformat(),
              "operator_id": r["operator_id"], "data": r["data"]} for r in rows]
    return _page(items, limit, "position")


Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.-]{1,64}$")]
Many = Annotated[list[Code] | None, Query(max_length=20)]


def _listing(c: Any, table: str, t: str, filters: dict[str, Any], after: str | None,
             limit: int) -> dict[str, Any]:
    _territory(c, t)
    rows = c.reads.listing(table, t, filters, _cursor(after), limit)
    items = present.present_many(table, rows, c.keys)
    nxt = str(rows[-1]["created_position"]) if len(rows) == limit else None
    return {"items": items, "next": nxt}


@router.get("/territories/{t}/contributions")
def list_contributions(t: str, c: ContainerDep, status: Many = None, theme: Many = None,
                       resource_kind: Many = None, unit: Many = None,
                       contributor_id: uuid.UUID | None = None, employer_id: uuid.UUID | None = None,
                       after: str | None = None, limit: Limit = 100) -> dict[str, Any]:
    """Offers in the order they were pledged; e.g. `status=pledged&status=partly_allocated`
    lists what can still be matched."""
    return _listing(c, "contributions", t, {
        "status": status, "theme": theme, "resource_kind": resource_kind, "unit": unit,
        "contributor_id": contributor_id, "employer_id": employer_id}, after, limit)


@router.get("/territories/{t}/requests")
def list_requests(t: str, c: ContainerDep, status: Many = None, theme: Many = None,
                  resource_kind: Many = None, unit: Many = None, urgency: Many = None,
                  beneficiary_id: uuid.UUID | None = None, after: str | None = None,
                  limit: Limit = 100) -> dict[str, Any]:
    """Needs in the order they were posted; e.g. `status=open&status=partly_matched` lists
    what still waits for help."""
    return _listing(c, "requests", t, {
        "status": status, "theme": theme, "resource_kind": resource_kind, "unit": unit,
        "urgency": urgency, "beneficiary_id": beneficiary_id}, after, limit)


@router.get("/territories/{t}/matches")
def list_matches(t: str, c: ContainerDep, status: Many = None,
                 contribution_id: uuid.UUID | None = None, request_id: uuid.UUID | None = None,
                 after: str | None = None, limit: Limit = 100) -> dict[str, Any]:
    return _listing(c, "matches", t, {"status": status, "contribution_id": contribution_id,
                                      "request_id": request_id}, after, limit)


@router.get("/territories/{t}/contributions/{item_id}")
def get_contribution(t: str, item_id: uuid.UUID, c: ContainerDep) -> dict[str, Any]:
    return _item(c, "contributions", t, item_id)


@router.get("/territories/{t}/requests/{item_id}")
def get_request(t: str, item_id: uuid.UUID, c: ContainerDep) -> dict[str, Any]:
    return _item(c, "requests", t, item_id)


@router.get("/territories/{t}/matches/{item_id}")
def get_match(t: str, item_id: uuid.UUID, c: ContainerDep) -> dict[str, Any]:
    return _item(c, "matches", t, item_id)


@router.get("/territories/{t}/fulfilments/{item_id}")
def get_fulfilment(t: str, item_id: uuid.UUID, c: ContainerDep) -> dict[str, Any]:
    return _item(c, "fulfilments", t, item_id)


@router.get("/territories/{t}/audit")
def audit(t: str, c: ContainerDep, after: str | None = None, limit: Limit = 100) -> dict[str, Any]:
    _territory(c, t)
    rows = c.reads.audit(t, _cursor(after), limit)
    items = [{"seq": r["seq"], "position": r["position"], "event_id": str(r["event_id"]),
              "type": r["type"], "aggregate_id": str(r["aggregate_id"]),
              "occurred_at": r["occurred_at"].isoformat(), "operator_id": r["operator_id"],
              "hash": r["hash"], "prev_hash": r["prev_hash"]} for r in rows]
    return _page(items, limit, "seq")


@router.get("/territories/{t}/audit/verify")
def verify(t: str, c: ContainerDep) -> dict[str, Any]:
    _territory(c, t)
    return c.reads.verify(t)
