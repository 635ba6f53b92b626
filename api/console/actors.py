"""Actors: a searchable list, and each actor's page with balances and history. Personal data
appears only for the roles that may read it (api/present.py), and is logged when it does."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.console import lookups
from api.console.web import BASE, ConsoleRoute, SignedIn
from api.deps import Fresh
from api.routes.reads import record_of, show
from ledger import access
from ledger.access import Action, Role
from ledger.application import NotFound, require
from ledger.domain import ActorKind

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)
LIMIT = 200


@router.get("/t/{t}/actors", dependencies=[Fresh])
def actors(t: str, c: SignedIn, kind: ActorKind | None = None,
           q: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    territory = c.territory(t)
    p = c.principal
    party = p.actor_id if p.role is Role.COMPANY else None
    require(p, Action.READ, t, access.item("actor", companies=(party,)))
    needle = (q or "").strip() or None
    rows = c.container.reads.listing("actors", t, {"kind": [kind.value] if kind else None}, 0,
                                     LIMIT, party=party, name_like=needle)
    items = show(c.container, p, c.request, "actors", t, rows)
    if needle:  # people match by their name only where it may be read
        items = [i for i in items if needle.casefold() in str(i.get("display_name") or "").casefold()]
    return c.render("console/actors.html", t=t, territory=territory, page="actors", actors=items,
                    kinds=[k.value for k in ActorKind], kind=kind.value if kind else "",
                    q=needle or "", limit=LIMIT)


@router.get("/t/{t}/actors/{actor_id}", dependencies=[Fresh])
def actor(t: str, actor_id: uuid.UUID, c: SignedIn) -> Response:
    territory = c.territory(t)
    p, reads = c.principal, c.container.reads
    row = reads.item("actors", t, actor_id)
    if row is None:
        raise NotFound("actor", actor_id)
    record = record_of(c.container, p, "actors", row)
    require(p, Action.READ, t, record)
    shown = show(c.container, p, c.request, "actors", t, [row])[0]
    balances = reads.balances(t, actor_id) if c.may(Action.READ_REPORT, t, record) else None
    history = reads.history(t, actor_id, 0, LIMIT)
    related = lookups.actors(c, t, [shown.get("employer_id"), shown.get("case_owner_id")])
    return c.render("console/actor.html", t=t, territory=territory, page="actors", actor=shown,
                    balances=balances, history=history, related=related, limit=LIMIT,
                    operators=lookups.operators(c, [h["operator_id"] for h in history]))
