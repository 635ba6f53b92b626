"""The board: open needs and available offers by theme (and programme), a match form on
each need, and the approval queue of proposed matches with approve and reject."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from api.console import forms, lookups
from api.console.rights import Rights
from api.console.web import BASE, Checked, Console, ConsoleRoute, SignedIn
from api.deps import Fresh
from api.routes.reads import show
from api.schemas import MatchCreate, Reject
from ledger import access
from ledger import commands as cmd
from ledger.access import Action
from ledger.application import NotFound, require

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)
LIMIT = 200
OPEN_NEEDS = ["open", "partly_matched"]
OPEN_OFFERS = ["pledged", "partly_allocated"]
FormKey = Annotated[str | None, Form(max_length=100)]
Code = Annotated[str | None, Form(max_length=64)]


def board_page(c: Console, t: str, theme: str | None = None, programme: str | None = None,
               done: str | None = None, error: str | None = None, status: int = 200) -> Response:
    territory = c.territory(t)
    p, reads = c.principal, c.container.reads
    require(p, Action.READ, t, access.Item("request"))
    cut = {"theme": [theme] if theme else None, "programme": [programme] if programme else None}
    need_rows = reads.listing("requests", t, cut | {"status": OPEN_NEEDS}, 0, LIMIT)
    offer_rows = reads.listing("contributions", t, cut | {"status": OPEN_OFFERS}, 0, LIMIT)
    queue_rows = reads.listing("matches", t, {"status": ["proposed"], "programme": cut["programme"]},
                               0, LIMIT)
    rights = Rights(c.container, p, t, [*need_rows, *offer_rows, *queue_rows])
    needs = show(c.container, p, c.request, "requests", t, need_rows)
    offers = show(c.container, p, c.request, "contributions", t, offer_rows)
    queue = show(c.container, p, c.request, "matches", t, queue_rows)
    offers_by_id = {o["id"]: (o, row) for o, row in zip(offers, offer_rows, strict=True)}
    choices: dict[str, list[dict[str, Any]]] = {}
    for need, need_row in zip(needs, need_rows, strict=True):
        choices[need["id"]] = [
            o for o, o_row in offers_by_id.values()
            if (o["resource_kind"], o["unit"]) == (need["resource_kind"], need["unit"])
            and o["available"] > 0 and rights.may(Action.MATCH, rights.pair(o_row, need_row))]
    by_theme: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: {"needs": [], "offers": []})
    for need in needs:
        by_theme[need["theme"]]["needs"].append(need)
    for offer in offers:
        by_theme[offer["theme"]]["offers"].append(offer)
    approvable = {m["id"] for m, row in zip(queue, queue_rows, strict=True)
                  if rights.may(Action.APPROVE, rights.item("match", row))}
    names = lookups.actors(c, t, [n["beneficiary_id"] for n in needs]
                           + [o["contributor_id"] for o in offers]
                           + [x for m in queue for x in (m["contributor_id"], m.get("beneficiary_id"))])
    return c.render("console/board.html", status=status, t=t, territory=territory, page="board",
                    sections=sorted(by_theme.items()), choices=choices, queue=queue,
                    approvable=approvable, names=names, themes=lookups.themes(c, t),
                    programmes=lookups.programmes(c, t),
                    operators=lookups.operators(c, [m["proposed_by"] for m in queue]),
                    theme=theme or "", programme=programme or "", limit=LIMIT,
                    done=forms.DONE.get(done or ""), error=error, new_key=uuid.uuid4().hex)


@router.get("/t/{t}/board", dependencies=[Fresh])
def board(t: str, c: SignedIn, theme: str | None = None, programme: str | None = None,
          done: str | None = None) -> Response:
    return board_page(c, t, theme or None, programme or None, done)


@router.post("/t/{t}/matches")
def match(t: str, c: Checked, request_id: Annotated[uuid.UUID, Form()],
          contribution_id: Annotated[uuid.UUID, Form()], quantity: Annotated[str, Form(max_length=40)],
          form_key: FormKey = None, theme: Code = None, programme: Code = None) -> Response:
    def run() -> int:
        need = c.container.reads.item("requests", t, request_id)
        if need is None:
            raise NotFound("request", request_id)
        body = MatchCreate(contribution_id=contribution_id, request_id=request_id,
                           quantity=forms.quantity(quantity, need["unit"]))
        return c.write(body, cmd.MakeMatch(t, contribution_id, request_id, body.quantity), form_key)
    return c.act(run, c.url(f"/t/{t}/board", theme=theme, programme=programme), "matched",
                 lambda error, status: board_page(c, t, theme, programme, error=error, status=status))


@router.post("/t/{t}/matches/{match_id}/approve")
def approve(t: str, match_id: uuid.UUID, c: Checked, form_key: FormKey = None) -> Response:
    return c.act(lambda: c.write(None, cmd.ApproveMatch(t, match_id), form_key),
                 c.url(f"/t/{t}/board"), "approved",
                 lambda error, status: board_page(c, t, error=error, status=status))


@router.post("/t/{t}/matches/{match_id}/reject")
def reject(t: str, match_id: uuid.UUID, c: Checked, form_key: FormKey = None,
           reason: Annotated[str | None, Form(max_length=4000)] = None) -> Response:
    def run() -> int:
        body = Reject(reason=reason or None)
        return c.write(body, cmd.RejectMatch(t, match_id, body.reason), form_key)
    return c.act(run, c.url(f"/t/{t}/board"), "rejected",
                 lambda error, status: board_page(c, t, error=error, status=status))
